//! Minimal PNG plotting for the 2-D training example.
//!
//! The pictures are energy (or density) heatmaps of a square box in data
//! space, with iso-energy contour lines and scatter plots of data or sampled
//! points drawn on top, and several panels placed side by side. Everything is
//! drawn with plain pixel code into an RGB buffer and written with the `png`
//! crate, so no fonts, no display and no system libraries are needed.
//!
//! Orientation: x grows to the right and y grows upwards, so row 0 of a grid
//! (and of the picture) is the top of the box, at `y_hi`.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Grey used for non-finite heatmap values.
const NAN_GREY: [u8; 3] = [128, 128, 128];

/// Viridis colormap sampled at 9 evenly spaced points (dark purple to yellow).
const VIRIDIS: [[u8; 3]; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2d, 0x7b],
    [0x3b, 0x52, 0x8b],
    [0x2c, 0x72, 0x8e],
    [0x21, 0x90, 0x8c],
    [0x27, 0xad, 0x81],
    [0x5d, 0xc8, 0x63],
    [0xaa, 0xdc, 0x32],
    [0xfd, 0xe7, 0x25],
];

/// An 8-bit RGB picture, row-major with row 0 at the top.
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes, RGB per pixel.
    pub rgb: Vec<u8>,
}

impl Image {
    /// A `width` x `height` picture filled with `background`.
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Self {
        Self {
            width,
            height,
            rgb: background.repeat(width * height),
        }
    }

    /// Writes the picture as an 8-bit RGB PNG file at `path`.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let err = |e: &dyn std::fmt::Display| {
            io::Error::other(format!("writing PNG {}: {e}", path.display()))
        };
        let file = File::create(path).map_err(|e| err(&e))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| err(&e))?;
        writer.write_image_data(&self.rgb).map_err(|e| err(&e))?;
        writer.finish().map_err(|e| err(&e))
    }

    /// Blends `colour` into pixel (`x`, `y`) with weight `alpha`; ignores
    /// pixels outside the picture.
    fn blend(&mut self, x: i64, y: i64, colour: [u8; 3], alpha: f64) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        for (dst, &src) in self.rgb[i..i + 3].iter_mut().zip(&colour) {
            *dst = (f64::from(*dst) * (1.0 - alpha) + f64::from(src) * alpha).round() as u8;
        }
    }
}

/// Viridis colour for `t` in `[0, 1]` (clamped), linearly interpolated.
fn viridis(t: f64) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let k = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    std::array::from_fn(|i| (f64::from(a[i]) * (1.0 - f) + f64::from(b[i]) * f).round() as u8)
}

/// Renders an `n` x `n` grid (`values[r * n + c]`, column `c` is x from the
/// left, row `r` is y from the top) as a `size` x `size` viridis heatmap.
///
/// Grid values sit at cell centres and are interpolated bilinearly, so grid
/// point (r, c) should hold the value at
/// `x = x_lo + (c + 0.5) * w / n`, `y = y_hi - (r + 0.5) * w / n`, where
/// `w = x_hi - x_lo` is the side of the box.
/// The finite minimum maps to dark purple, the finite maximum to yellow;
/// non-finite values are drawn grey.
pub fn heatmap(values: &[f64], n: usize, size: usize) -> Image {
    assert!(
        n > 0 && values.len() == n * n,
        "heatmap needs a non-empty n x n grid"
    );
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut image = Image::new(size, size, NAN_GREY);
    // Pixel centre -> continuous grid coordinate, clamped to the grid.
    let to_grid =
        |p: usize| (((p as f64 + 0.5) * n as f64 / size as f64) - 0.5).clamp(0.0, (n - 1) as f64);
    for py in 0..size {
        let gy = to_grid(py);
        let (r0, fy) = (gy.floor() as usize, gy.fract());
        let r1 = (r0 + 1).min(n - 1);
        for px in 0..size {
            let gx = to_grid(px);
            let (c0, fx) = (gx.floor() as usize, gx.fract());
            let c1 = (c0 + 1).min(n - 1);
            let top = values[r0 * n + c0] * (1.0 - fx) + values[r0 * n + c1] * fx;
            let bottom = values[r1 * n + c0] * (1.0 - fx) + values[r1 * n + c1] * fx;
            let v = top * (1.0 - fy) + bottom * fy;
            if v.is_finite() {
                image.blend(px as i64, py as i64, viridis((v - lo) / span), 1.0);
            }
        }
    }
    image
}

/// Draws contour lines of the `n` x `n` grid `values` (same layout as
/// [`heatmap`]) over `image`, using marching squares at `levels` levels placed
/// at evenly spaced quantiles of the finite values.
pub fn contour(image: &mut Image, values: &[f64], n: usize, levels: usize, colour: [u8; 3]) {
    assert_eq!(values.len(), n * n, "contour needs an n x n grid");
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() || n < 2 {
        return;
    }
    sorted.sort_by(f64::total_cmp);
    let (sx, sy) = (
        image.width as f64 / n as f64,
        image.height as f64 / n as f64,
    );
    for k in 1..=levels {
        let level = sorted[k * (sorted.len() - 1) / (levels + 1)];
        for r in 0..n - 1 {
            for c in 0..n - 1 {
                // Corners clockwise from top-left, as (row, col, value).
                let corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)]
                    .map(|(rr, cc)| (rr as f64, cc as f64, values[rr * n + cc]));
                if corners.iter().any(|p| !p.2.is_finite()) {
                    continue;
                }
                // Where the level crosses each cell edge, in pixel space.
                let mut hits = Vec::with_capacity(4);
                for e in 0..4 {
                    let (a, b) = (corners[e], corners[(e + 1) % 4]);
                    if (a.2 < level) != (b.2 < level) {
                        let t = (level - a.2) / (b.2 - a.2);
                        let (gr, gc) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
                        hits.push(((gc + 0.5) * sx, (gr + 0.5) * sy));
                    }
                }
                for pair in hits.chunks_exact(2) {
                    line(image, pair[0], pair[1], colour);
                }
            }
        }
    }
}

/// Draws a 1-pixel line between two pixel-space points by dense sampling.
fn line(image: &mut Image, (x0, y0): (f64, f64), (x1, y1): (f64, f64), colour: [u8; 3]) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        image.blend(x.floor() as i64, y.floor() as i64, colour, 1.0);
    }
}

/// Draws 2-D points (`points` is `[n, 2]` flattened, `x, y` pairs) as discs
/// of `radius` pixels, alpha-blended at 0.5 so overlaps read as density.
///
/// `bounds = ([x_lo, y_lo], [x_hi, y_hi])` is the box the picture shows, with
/// y upwards (`y_hi` at the top row); points outside it are skipped.
pub fn scatter(
    image: &mut Image,
    points: &[f32],
    bounds: ([f64; 2], [f64; 2]),
    colour: [u8; 3],
    radius: usize,
) {
    let ([x_lo, y_lo], [x_hi, y_hi]) = bounds;
    let r = radius as i64;
    for p in points.chunks_exact(2) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        if !(x_lo..=x_hi).contains(&x) || !(y_lo..=y_hi).contains(&y) {
            continue;
        }
        let px = ((x - x_lo) / (x_hi - x_lo) * image.width as f64).floor() as i64;
        let py = ((y_hi - y) / (y_hi - y_lo) * image.height as f64).floor() as i64;
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r * r + r / 2 {
                    image.blend(px + dx, py + dy, colour, 0.5);
                }
            }
        }
    }
}

/// Places `images` left to right, top-aligned, separated and surrounded by
/// `gap` pixels of `background`; when `gap > 0` each panel gets a 1-pixel
/// dark frame drawn just outside it.
pub fn side_by_side(images: &[Image], gap: usize, background: [u8; 3]) -> Image {
    let width = images.iter().map(|im| im.width + gap).sum::<usize>() + gap;
    let height = images.iter().map(|im| im.height).max().unwrap_or(0) + 2 * gap;
    let mut out = Image::new(width, height, background);
    let mut left = gap;
    for im in images {
        for y in 0..im.height {
            let src = &im.rgb[y * im.width * 3..(y + 1) * im.width * 3];
            let dst = ((y + gap) * width + left) * 3;
            out.rgb[dst..dst + src.len()].copy_from_slice(src);
        }
        if gap > 0 {
            let (x0, y0) = (left as i64 - 1, gap as i64 - 1);
            let (x1, y1) = ((left + im.width) as i64, (gap + im.height) as i64);
            for x in x0..=x1 {
                out.blend(x, y0, [40, 40, 40], 1.0);
                out.blend(x, y1, [40, 40, 40], 1.0);
            }
            for y in y0..=y1 {
                out.blend(x0, y, [40, 40, 40], 1.0);
                out.blend(x1, y, [40, 40, 40], 1.0);
            }
        }
        left += im.width + gap;
    }
    out
}
