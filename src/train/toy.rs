//! Toy data with known densities, and measures of how well a learned energy matches them.
//!
//! Training tests, examples and benchmarks fit an energy E(y) to samples of a [`Toy`]
//! distribution in the plane, then compare the learned model density exp(-E)/Z with the
//! toy's exact density on a [`Grid`] ([`Grid::boltzmann`], [`Grid::density_of`],
//! [`kl_divergence`], [`total_variation`]), or compare samples drawn from the model (by
//! Langevin dynamics) with the toy's own samples ([`mmd_rbf`], [`Grid::histogram`]).
//! [`sqrt_branches`] is a conditional set, two answers y for each x, for energies E(x, y)
//! that must keep both answers where a regressor would average them.
//!
//! Everything here runs on the host in float64 (inputs and outputs of samples are `f32`,
//! flat row-major `[n, dim]` like the rest of the crate), and all randomness comes from
//! [`HostRng`], so a seed fixes every result.

use crate::refine::rng::HostRng;
use std::f64::consts::PI;

/// The [`HostRng`] stream [`Toy::sample`] draws from.
const TOY_STREAM: u32 = 0x7059_0001;
/// The [`HostRng`] stream [`sqrt_branches`] draws from.
const BRANCH_STREAM: u32 = 0x7059_0002;
/// The shift that centres the two moons on the origin (their mean is exactly (0.5, 0.25)).
const MOON_SHIFT: [f64; 2] = [-0.5, -0.25];

/// A distribution in the plane whose normalised density is known in closed form
/// ([`Toy::Ring`]) or by 1-D quadrature ([`Toy::Moons`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Toy {
    /// An equal mixture of `modes` isotropic Gaussians of standard deviation `std`, centred
    /// evenly on the circle of `radius` about the origin, the first at angle 0 (on the +x
    /// axis), the k-th at angle 2 pi k / modes. `modes = 1, radius = 0` is a single
    /// isotropic Gaussian at the origin.
    Ring {
        /// The number of mixture components (0 is taken as 1).
        modes: usize,
        /// The radius of the circle the centres lie on.
        radius: f64,
        /// The standard deviation of each component, per coordinate (above 0 for
        /// [`Toy::density`]).
        std: f64,
    },
    /// The two-moons set as a continuous distribution: a moon is picked with probability
    /// 1/2 and t ~ U(0, pi); moon 0 gives (cos t, sin t), moon 1 gives (1 - cos t,
    /// 0.5 - sin t) (scikit-learn's `make_moons` layout); the point is then shifted by
    /// (-0.5, -0.25), which puts the mean exactly at the origin, and isotropic Gaussian
    /// noise of standard deviation `noise` is added.
    Moons {
        /// The standard deviation of the Gaussian noise, per coordinate (above 0 for
        /// [`Toy::density`]).
        noise: f64,
    },
}

impl Toy {
    /// Eight Gaussians of std 0.25 on a circle of radius 2: the usual "8 gaussians"
    /// benchmark shape (std / radius = 1/8, as in FFJORD's `8gaussians`), with neighbouring
    /// centres 1.53 apart, about 6 std, so the modes are clearly separate yet a small MLP
    /// energy (two hidden layers of 64) can carve all eight wells.
    pub fn ring8() -> Toy {
        Toy::Ring {
            modes: 8,
            radius: 2.0,
            std: 0.25,
        }
    }

    /// Four Gaussians of std 0.3 on a circle of radius 1.5: an easier ring (neighbours
    /// 2.12 apart, about 7 std) for quick tests.
    pub fn ring4() -> Toy {
        Toy::Ring {
            modes: 4,
            radius: 1.5,
            std: 0.3,
        }
    }

    /// Two moons with noise 0.1: thin enough that the crescents and the gap between them
    /// are visible, thick enough (10 % of the arc radius) for a smooth energy to fit.
    pub fn moons() -> Toy {
        Toy::Moons { noise: 0.1 }
    }

    /// The toy `name` stands for: the presets `"ring8"`, `"ring4"` and `"moons"`, or the
    /// parameterised forms [`Toy::name`] writes, `"ring:MODES,RADIUS,STD"` and
    /// `"moons:NOISE"`. `None` for anything else, including non-finite or negative
    /// parameters and `modes = 0`.
    pub fn parse(name: &str) -> Option<Toy> {
        match name.trim() {
            "ring8" => return Some(Toy::ring8()),
            "ring4" => return Some(Toy::ring4()),
            "moons" => return Some(Toy::moons()),
            _ => {}
        }
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        if let Some(rest) = name.trim().strip_prefix("ring:") {
            let parts: Vec<&str> = rest.split(',').collect();
            if let [modes, radius, std] = parts[..] {
                let modes = modes.trim().parse::<usize>().ok().filter(|&m| m > 0)?;
                return Some(Toy::Ring {
                    modes,
                    radius: number(radius)?,
                    std: number(std)?,
                });
            }
            return None;
        }
        if let Some(rest) = name.trim().strip_prefix("moons:") {
            return Some(Toy::Moons {
                noise: number(rest)?,
            });
        }
        None
    }

    /// A name [`Toy::parse`] turns back into this toy: the preset's name for a preset,
    /// otherwise `"ring:MODES,RADIUS,STD"` or `"moons:NOISE"` (numbers written exactly).
    pub fn name(&self) -> String {
        if *self == Toy::ring8() {
            return "ring8".into();
        }
        if *self == Toy::ring4() {
            return "ring4".into();
        }
        if *self == Toy::moons() {
            return "moons".into();
        }
        match *self {
            Toy::Ring { modes, radius, std } => format!("ring:{modes},{radius},{std}"),
            Toy::Moons { noise } => format!("moons:{noise}"),
        }
    }

    /// `n` independent points, `[n, 2]` row-major. One [`HostRng`] stream of `seed` is
    /// read point after point, so the same seed gives the same points, and the first `m`
    /// points of `sample(n, seed)` are `sample(m, seed)`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = HostRng::new(seed, TOY_STREAM);
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let (centre, std) = match *self {
                Toy::Ring { modes, radius, std } => {
                    let modes = modes.max(1);
                    let k = below(&mut rng, modes);
                    (ring_centre(k, modes, radius), std)
                }
                Toy::Moons { noise } => {
                    let moon = rng.next_u32() >> 31;
                    let t = PI * unit(&mut rng);
                    (moon_point(moon as usize, t), noise)
                }
            };
            let dx = rng.normal();
            let dy = rng.normal();
            out.push((centre[0] + std * dx) as f32);
            out.push((centre[1] + std * dy) as f32);
        }
        out
    }

    /// The normalised density at `p`.
    ///
    /// For [`Toy::Ring`] it is the mixture's closed form. For [`Toy::Moons`] it is the
    /// Gaussian convolved with the uniform measure on the two arcs,
    /// (1/2) sum over moons of (1/pi) * integral over (0, pi) of N(p; m(t), noise^2 I) dt,
    /// by composite 8-point Gauss-Legendre quadrature over t with `max(50, ceil(5 / noise))`
    /// equal panels per arc (400 nodes per arc at noise 0.1; a panel spans at most 0.63
    /// noise along the arc). Against the same rule 10 times finer it agrees to 1e-8
    /// relative wherever the density is above 1e-30 of its peak, and to 1e-4 relative in
    /// the far tails of the box (checked in the tests for noise 0.2, 0.1 and 0.05). It
    /// integrates to 1 over the plane up to rounding (the weights sum to the interval).
    ///
    /// # Panics
    ///
    /// If the standard deviation (`std` or `noise`) is not above 0: the density would be
    /// a point mass or a curve.
    pub fn density(&self, p: [f64; 2]) -> f64 {
        match *self {
            Toy::Ring { modes, radius, std } => {
                assert!(std > 0.0, "Toy::density needs std > 0, got {std}");
                let modes = modes.max(1);
                let sum: f64 = (0..modes)
                    .map(|k| gaussian(p, ring_centre(k, modes, radius), std))
                    .sum();
                sum / modes as f64
            }
            Toy::Moons { noise } => moons_density(p, noise, moon_panels(noise)),
        }
    }

    /// `(lo, hi)` of a square box centred on the origin holding essentially all the mass:
    /// every centre (every arc point) plus 4 standard deviations each way, the larger
    /// half-width used for both axes. Less than 1e-4 of the mass lies outside.
    pub fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        let half = match *self {
            Toy::Ring { radius, std, .. } => radius + 4.0 * std,
            // The arcs reach x = +-1.5 and y = +-0.75 once shifted.
            Toy::Moons { noise } => 1.5 + 4.0 * noise,
        };
        ([-half, -half], [half, half])
    }
}

/// A uniform number in [0, 1).
fn unit(rng: &mut HostRng) -> f64 {
    0.5 * (rng.symmetric() + 1.0)
}

/// A uniform integer in 0..n (multiply-shift; its bias is below n / 2^32).
fn below(rng: &mut HostRng, n: usize) -> usize {
    ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize
}

/// The k-th of `modes` centres on the circle of `radius`.
fn ring_centre(k: usize, modes: usize, radius: f64) -> [f64; 2] {
    let angle = 2.0 * PI * k as f64 / modes as f64;
    [radius * angle.cos(), radius * angle.sin()]
}

/// The point at parameter `t` of moon 0 or 1, shifted to centre the pair on the origin.
fn moon_point(moon: usize, t: f64) -> [f64; 2] {
    let (x, y) = if moon == 0 {
        (t.cos(), t.sin())
    } else {
        (1.0 - t.cos(), 0.5 - t.sin())
    };
    [x + MOON_SHIFT[0], y + MOON_SHIFT[1]]
}

/// The isotropic Gaussian density of standard deviation `std` at `p`, centred at `c`.
fn gaussian(p: [f64; 2], c: [f64; 2], std: f64) -> f64 {
    let (dx, dy) = (p[0] - c[0], p[1] - c[1]);
    let var = std * std;
    (-(dx * dx + dy * dy) / (2.0 * var)).exp() / (2.0 * PI * var)
}

/// The 8-point Gauss-Legendre rule on [-1, 1]: the positive nodes and their weights (the
/// rule is symmetric). Exact for polynomials up to degree 15 (checked in the tests).
const GAUSS8: [(f64, f64); 4] = [
    (0.183_434_642_495_649_8, 0.362_683_783_378_362),
    (0.525_532_409_916_329, 0.313_706_645_877_887_3),
    (0.796_666_477_413_626_7, 0.222_381_034_453_374_5),
    (0.960_289_856_497_536_3, 0.101_228_536_290_376_3),
];

/// The Gauss-Legendre panels per arc for the moons' density: `max(50, ceil(5 / noise))`,
/// so a panel spans at most pi / 50 in t and at most 0.63 noise along the arc.
fn moon_panels(noise: f64) -> usize {
    ((5.0 / noise).ceil() as usize).max(50)
}

/// The moons' density by `panels` equal panels of the 8-point Gauss-Legendre rule per
/// arc: the nodes' points on the arcs and their weights, computed once for many points.
struct MoonRule {
    /// The arc points at the nodes.
    points: Vec<[f64; 2]>,
    /// Each node's weight, times (1/2) per moon, (1/pi) for t's density and half a
    /// panel's width per unit Gauss-Legendre weight.
    weights: Vec<f64>,
    /// The noise's standard deviation.
    noise: f64,
}

impl MoonRule {
    fn new(noise: f64, panels: usize) -> MoonRule {
        assert!(noise > 0.0, "Toy::density needs noise > 0, got {noise}");
        let half = 0.5 * PI / panels as f64;
        let scale = 0.5 * half / PI;
        let (mut points, mut weights) = (Vec::new(), Vec::new());
        for moon in 0..2 {
            for k in 0..panels {
                let mid = (2 * k + 1) as f64 * half;
                for &(node, weight) in &GAUSS8 {
                    for t in [mid - half * node, mid + half * node] {
                        points.push(moon_point(moon, t));
                        weights.push(weight * scale);
                    }
                }
            }
        }
        MoonRule {
            points,
            weights,
            noise,
        }
    }

    fn density(&self, p: [f64; 2]) -> f64 {
        self.points
            .iter()
            .zip(&self.weights)
            .map(|(&m, w)| w * gaussian(p, m, self.noise))
            .sum()
    }
}

/// The moons' density at `p` with `panels` panels per arc.
fn moons_density(p: [f64; 2], noise: f64, panels: usize) -> f64 {
    MoonRule::new(noise, panels).density(p)
}

/// An `n` x `n` grid of cells over the box `lo..hi`, for comparing densities by quadrature
/// (the midpoint rule: a density's value at each cell centre times [`Grid::cell_area`]).
///
/// Cells are indexed `r * n + c`, row `r` and column `c`: the centre of cell (r, c) is
/// `x = lo[0] + (c + 0.5) dx`, `y = hi[1] - (r + 0.5) dy`, with `dx = (hi[0] - lo[0]) / n`
/// and `dy = (hi[1] - lo[1]) / n`. So x grows along a row and row 0 is the top of the box
/// (at `hi[1]`): the grid maps onto a picture's rows as they are written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// The lower-left corner of the box.
    pub lo: [f64; 2],
    /// The upper-right corner of the box.
    pub hi: [f64; 2],
    /// Cells per side.
    pub n: usize,
}

impl Grid {
    /// The `n` x `n` grid over the box `toy.bounds()`.
    pub fn covering(toy: &Toy, n: usize) -> Grid {
        let (lo, hi) = toy.bounds();
        Grid { lo, hi, n }
    }

    /// The width and height of one cell.
    fn step(&self) -> (f64, f64) {
        let n = self.n as f64;
        ((self.hi[0] - self.lo[0]) / n, (self.hi[1] - self.lo[1]) / n)
    }

    /// The centre of cell (r, c).
    fn centre(&self, r: usize, c: usize) -> [f64; 2] {
        let (dx, dy) = self.step();
        [
            self.lo[0] + (c as f64 + 0.5) * dx,
            self.hi[1] - (r as f64 + 0.5) * dy,
        ]
    }

    /// The cell centres, `[n * n, 2]` row-major in cell order (row 0, the top, first): the
    /// points to evaluate an energy at for [`Grid::boltzmann`].
    pub fn points(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * self.n * self.n);
        for r in 0..self.n {
            for c in 0..self.n {
                let p = self.centre(r, c);
                out.push(p[0] as f32);
                out.push(p[1] as f32);
            }
        }
        out
    }

    /// The area of one cell, dx * dy.
    pub fn cell_area(&self) -> f64 {
        let (dx, dy) = self.step();
        dx * dy
    }

    /// `toy`'s density at each cell centre, in cell order (not renormalised).
    pub fn density_of(&self, toy: &Toy) -> Vec<f64> {
        // The moons' quadrature nodes are laid out once for the whole grid.
        let rule = match *toy {
            Toy::Moons { noise } => Some(MoonRule::new(noise, moon_panels(noise))),
            Toy::Ring { .. } => None,
        };
        let mut out = Vec::with_capacity(self.n * self.n);
        for r in 0..self.n {
            for c in 0..self.n {
                let p = self.centre(r, c);
                out.push(match &rule {
                    Some(rule) => rule.density(p),
                    None => toy.density(p),
                });
            }
        }
        out
    }

    /// The model density exp(-E) / Z at each cell, from the energies at the cell centres
    /// (in the order of [`Grid::points`]), with Z = sum of exp(-E) * cell area, so the
    /// result integrates to 1 on the grid. The smallest finite energy is subtracted
    /// before exponentiating, so any energy scale is safe.
    ///
    /// A non-finite energy (NaN or +-infinity) gives density 0 at its cell; if no energy
    /// is finite every cell is 0 (and [`kl_divergence`] against it is large but finite).
    ///
    /// # Panics
    ///
    /// If `energies.len()` is not `n * n`.
    pub fn boltzmann(&self, energies: &[f32]) -> Vec<f64> {
        assert_eq!(
            energies.len(),
            self.n * self.n,
            "Grid::boltzmann: {} energies for a {n} x {n} grid",
            energies.len(),
            n = self.n
        );
        let min = energies
            .iter()
            .filter(|e| e.is_finite())
            .map(|&e| f64::from(e))
            .fold(f64::INFINITY, f64::min);
        let mut out: Vec<f64> = energies
            .iter()
            .map(|&e| {
                if e.is_finite() {
                    (min - f64::from(e)).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let z = out.iter().sum::<f64>() * self.cell_area();
        if z > 0.0 {
            out.iter_mut().for_each(|v| *v /= z);
        }
        out
    }

    /// The empirical density of `samples` (`[m, 2]`) on the grid: the count in each cell
    /// divided by m * cell area. Points outside the box (or non-finite) are counted in m
    /// but in no cell, so the result integrates to the share of points inside.
    pub fn histogram(&self, samples: &[f32]) -> Vec<f64> {
        let m = samples.len() / 2;
        let mut out = vec![0.0; self.n * self.n];
        if m == 0 {
            return out;
        }
        let (dx, dy) = self.step();
        let weight = 1.0 / (m as f64 * self.cell_area());
        for p in samples.chunks_exact(2) {
            let c = (f64::from(p[0]) - self.lo[0]) / dx;
            let r = (self.hi[1] - f64::from(p[1])) / dy;
            let n = self.n as f64;
            if (0.0..n).contains(&c) && (0.0..n).contains(&r) {
                out[r as usize * self.n + c as usize] += weight;
            }
        }
        out
    }
}

/// `v` divided by its integral on the grid (left as it is where that integral is 0).
fn normalised(v: &[f64], cell_area: f64) -> Vec<f64> {
    let mass = v.iter().sum::<f64>() * cell_area;
    if mass > 0.0 {
        v.iter().map(|x| x / mass).collect()
    } else {
        v.to_vec()
    }
}

/// KL(p || q) = sum over cells with p > 0 of p log(p / q) * cell area: how many nats a
/// model density `q` loses describing data of density `p`.
///
/// `p` and `q` are non-negative densities at the cells of one grid (e.g.
/// [`Grid::density_of`] and [`Grid::boltzmann`]); each is first renormalised to integrate
/// to 1 on the grid, so only their shapes inside the box count. q is clamped below at
/// 1e-300, so a model that puts no mass where the data has some gives a large but finite
/// value.
///
/// # Panics
///
/// If `p` and `q` differ in length.
pub fn kl_divergence(p: &[f64], q: &[f64], cell_area: f64) -> f64 {
    assert_eq!(p.len(), q.len(), "kl_divergence: p and q differ in length");
    let (p, q) = (normalised(p, cell_area), normalised(q, cell_area));
    p.iter()
        .zip(&q)
        .filter(|(pi, _)| **pi > 0.0)
        .map(|(pi, qi)| pi * (pi / qi.max(1e-300)).ln())
        .sum::<f64>()
        * cell_area
}

/// The total variation distance 0.5 * sum |p - q| * cell area, in [0, 1], after the same
/// renormalisation as [`kl_divergence`].
///
/// # Panics
///
/// If `p` and `q` differ in length.
pub fn total_variation(p: &[f64], q: &[f64], cell_area: f64) -> f64 {
    assert_eq!(
        p.len(),
        q.len(),
        "total_variation: p and q differ in length"
    );
    let (p, q) = (normalised(p, cell_area), normalised(q, cell_area));
    0.5 * p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>() * cell_area
}

/// The squared distance between rows `i` of `a` and `j` of `b`.
fn dist2(a: &[f32], i: usize, b: &[f32], j: usize, dim: usize) -> f64 {
    a[i * dim..(i + 1) * dim]
        .iter()
        .zip(&b[j * dim..(j + 1) * dim])
        .map(|(&u, &v)| {
            let d = f64::from(u) - f64::from(v);
            d * d
        })
        .sum()
}

/// The squared maximum mean discrepancy between the samples `a` (`[m, dim]`) and `b`
/// (`[n, dim]`) with the Gaussian kernel k(u, v) = exp(-|u - v|^2 / (2 h^2)), h =
/// `bandwidth`: the unbiased estimator
///
/// ```text
/// sum_{i != j} k(a_i, a_j) / (m (m - 1)) + sum_{i != j} k(b_i, b_j) / (n (n - 1))
///     - 2 sum_{i, j} k(a_i, b_j) / (m n)
/// ```
///
/// Its expectation is 0 exactly when both samples come from one distribution, so it can
/// be slightly negative; its spread under that null is of order 1 / min(m, n). O((m + n)^2)
/// time, fine for a few thousand points each. [`median_bandwidth`] picks a usual h.
///
/// # Panics
///
/// If `dim` is 0, a length is not a multiple of `dim`, either set has fewer than 2 points,
/// or `bandwidth` is not above 0.
pub fn mmd_rbf(a: &[f32], b: &[f32], dim: usize, bandwidth: f64) -> f64 {
    assert!(dim > 0, "mmd_rbf: dim is 0");
    assert!(
        a.len() % dim == 0 && b.len() % dim == 0,
        "mmd_rbf: lengths {} and {} are not multiples of dim {dim}",
        a.len(),
        b.len()
    );
    let (m, n) = (a.len() / dim, b.len() / dim);
    assert!(
        m >= 2 && n >= 2,
        "mmd_rbf: needs 2 points per set, got {m} and {n}"
    );
    assert!(
        bandwidth > 0.0,
        "mmd_rbf: bandwidth {bandwidth} is not above 0"
    );
    let scale = -1.0 / (2.0 * bandwidth * bandwidth);
    let within = |s: &[f32], count: usize| {
        let mut sum = 0.0;
        for i in 0..count {
            for j in i + 1..count {
                sum += (scale * dist2(s, i, s, j, dim)).exp();
            }
        }
        2.0 * sum / (count as f64 * (count - 1) as f64)
    };
    let mut cross = 0.0;
    for i in 0..m {
        for j in 0..n {
            cross += (scale * dist2(a, i, b, j, dim)).exp();
        }
    }
    within(a, m) + within(b, n) - 2.0 * cross / (m as f64 * n as f64)
}

/// The median distance between pairs of distinct points among the first 1000 of `a`
/// (`[m, dim]`): the usual bandwidth heuristic for [`mmd_rbf`]. An even number of pairs
/// takes the mean of the two middle distances.
///
/// On multi-modal data it is of the size of the whole set (about 2.8 for [`Toy::ring8`]),
/// which makes the MMD sensitive to where the mass is overall but blunt about the shape
/// of each mode; a bandwidth near the modes' width (0.5 for `ring8`) tells mode shapes
/// apart better.
///
/// # Panics
///
/// If `dim` is 0, `a.len()` is not a multiple of `dim`, or `a` has fewer than 2 points.
pub fn median_bandwidth(a: &[f32], dim: usize) -> f64 {
    assert!(dim > 0, "median_bandwidth: dim is 0");
    assert!(
        a.len() % dim == 0,
        "median_bandwidth: length {} is not a multiple of dim {dim}",
        a.len()
    );
    let m = (a.len() / dim).min(1000);
    assert!(m >= 2, "median_bandwidth: needs 2 points, got {m}");
    let mut d: Vec<f64> = Vec::with_capacity(m * (m - 1) / 2);
    for i in 0..m {
        for j in i + 1..m {
            d.push(dist2(a, i, a, j, dim).sqrt());
        }
    }
    d.sort_unstable_by(f64::total_cmp);
    let k = d.len();
    if k % 2 == 1 {
        d[k / 2]
    } else {
        0.5 * (d[k / 2 - 1] + d[k / 2])
    }
}

/// A conditional set with two answers per x, which a mean-squared-error regressor
/// averages to 0: x ~ U(0.25, 1), a branch s = +1 or -1 with probability 1/2 each, and
/// y = s sqrt(x) + `noise` * N(0, 1). Returns `(x, y)`, each `[n, 1]`; deterministic for
/// `seed`. The branches are at least 1 apart (2 sqrt(0.25)), so an energy E(x, y) that
/// learned the set has two wells at every x, and refinement from different starts lands
/// in both ([`branch_shares`] counts them).
pub fn sqrt_branches(n: usize, noise: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = HostRng::new(seed, BRANCH_STREAM);
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let x = 0.25 + 0.75 * unit(&mut rng);
        let s = if rng.next_u32() >> 31 == 0 { 1.0 } else { -1.0 };
        let y = s * x.sqrt() + noise * rng.normal();
        xs.push(x as f32);
        ys.push(y as f32);
    }
    (xs, ys)
}

/// The shares of points (x_i, y_i) with y within `tol` of +sqrt(x), within `tol` of
/// -sqrt(x), and of neither; they sum to 1. A point within `tol` of both (only possible
/// when `tol` >= sqrt(x)) counts for the nearer branch (+ on a tie); a point with x < 0
/// or non-finite values counts as neither. All 0 when there are no points.
///
/// # Panics
///
/// If `x` and `y` differ in length.
pub fn branch_shares(x: &[f32], y: &[f32], tol: f64) -> (f64, f64, f64) {
    assert_eq!(x.len(), y.len(), "branch_shares: x and y differ in length");
    if x.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let (mut plus, mut minus, mut neither) = (0usize, 0usize, 0usize);
    for (&xi, &yi) in x.iter().zip(y) {
        let root = f64::from(xi).sqrt();
        let y = f64::from(yi);
        let (dp, dm) = ((y - root).abs(), (y + root).abs());
        if dp <= tol && dp <= dm {
            plus += 1;
        } else if dm <= tol {
            minus += 1;
        } else {
            neither += 1;
        }
    }
    let n = x.len() as f64;
    (plus as f64 / n, minus as f64 / n, neither as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toys() -> Vec<Toy> {
        vec![
            Toy::ring8(),
            Toy::ring4(),
            Toy::moons(),
            Toy::Moons { noise: 0.05 },
        ]
    }

    /// The mean and covariance [xx, xy, yy] of a density on a grid, by the midpoint rule.
    fn grid_moments(grid: &Grid, density: &[f64]) -> ([f64; 2], [f64; 3]) {
        let pts = grid.points();
        let a = grid.cell_area();
        let (mut m0, mut m1) = (0.0, 0.0);
        for (p, d) in pts.chunks_exact(2).zip(density) {
            m0 += f64::from(p[0]) * d * a;
            m1 += f64::from(p[1]) * d * a;
        }
        let mut c = [0.0; 3];
        for (p, d) in pts.chunks_exact(2).zip(density) {
            let (u, v) = (f64::from(p[0]) - m0, f64::from(p[1]) - m1);
            c[0] += u * u * d * a;
            c[1] += u * v * d * a;
            c[2] += v * v * d * a;
        }
        ([m0, m1], c)
    }

    fn sample_moments(s: &[f32]) -> ([f64; 2], [f64; 3]) {
        let n = (s.len() / 2) as f64;
        let (mut m0, mut m1) = (0.0, 0.0);
        for p in s.chunks_exact(2) {
            m0 += f64::from(p[0]) / n;
            m1 += f64::from(p[1]) / n;
        }
        let mut c = [0.0; 3];
        for p in s.chunks_exact(2) {
            let (u, v) = (f64::from(p[0]) - m0, f64::from(p[1]) - m1);
            c[0] += u * u / n;
            c[1] += u * v / n;
            c[2] += v * v / n;
        }
        ([m0, m1], c)
    }

    #[test]
    fn densities_integrate_to_one() {
        for toy in toys() {
            let grid = Grid::covering(&toy, 250);
            let d = grid.density_of(&toy);
            let mass: f64 = d.iter().sum::<f64>() * grid.cell_area();
            assert!((mass - 1.0).abs() < 1e-4, "{}: mass {mass}", toy.name());
            // density_of (the moons' nodes laid out once) is density at the cell centres.
            for k in [0, 31_337, 40_000, 62_499] {
                let direct = toy.density(grid.centre(k / 250, k % 250));
                assert!(
                    (d[k] - direct).abs() <= 1e-12 * direct,
                    "{}: cell {k}",
                    toy.name()
                );
            }
        }
    }

    /// The ring's density against its formula written out by hand at a centre, and the
    /// single-Gaussian case against the bivariate normal.
    #[test]
    fn ring_density_closed_form() {
        let g = Toy::Ring {
            modes: 1,
            radius: 0.0,
            std: 0.5,
        };
        let expect = (-(0.3f64 * 0.3 + 0.4 * 0.4) / (2.0 * 0.25)).exp() / (2.0 * PI * 0.25);
        assert!((g.density([0.3, 0.4]) - expect).abs() < 1e-15);
        // At ring8's first centre (2, 0): its own mode's peak plus the two neighbours
        // (1.53 away) and the rest.
        let toy = Toy::ring8();
        let peak = 1.0 / (2.0 * PI * 0.0625);
        let d = toy.density([2.0, 0.0]);
        assert!(
            d > peak / 8.0 && d < peak / 8.0 * 1.001,
            "{d} vs {}",
            peak / 8.0
        );
    }

    /// The Gauss-Legendre constants integrate x^k over [-1, 1] exactly for k <= 15.
    #[test]
    fn gauss_legendre_is_exact_to_degree_15() {
        for k in 0..=15 {
            let rule: f64 = GAUSS8
                .iter()
                .map(|&(x, w)| w * (x.powi(k) + (-x).powi(k)))
                .sum();
            let exact = if k % 2 == 0 {
                2.0 / (k + 1) as f64
            } else {
                0.0
            };
            assert!((rule - exact).abs() < 1e-15, "x^{k}: {rule} vs {exact}");
        }
    }

    /// The moons' quadrature against the same rule 10 times finer at every centre of a
    /// 60 x 60 grid over the box: within 1e-8 relative wherever the density is above
    /// 1e-30 of the peak 1 / (2 pi noise^2), within 1e-4 relative everywhere else.
    #[test]
    fn moons_quadrature_is_accurate() {
        for noise in [0.2, 0.1, 0.05] {
            let toy = Toy::Moons { noise };
            let peak = 1.0 / (2.0 * PI * noise * noise);
            let panels = moon_panels(noise);
            for p in Grid::covering(&toy, 60).points().chunks_exact(2) {
                let p = [f64::from(p[0]), f64::from(p[1])];
                let coarse = moons_density(p, noise, panels);
                let fine = moons_density(p, noise, 10 * panels);
                assert!(fine > 0.0, "noise {noise} at {p:?}: density 0");
                let rel = (coarse - fine).abs() / fine;
                let limit = if fine > 1e-30 * peak { 1e-8 } else { 1e-4 };
                assert!(rel < limit, "noise {noise} at {p:?}: {coarse} vs {fine}");
            }
        }
    }

    /// Sample moments of 20000 points against the density's moments by quadrature on a
    /// 300 x 300 grid: means within 0.05 (at least 4 standard errors: the coordinates'
    /// std is at most 1.44, so the standard error is at most 0.010), covariances within
    /// 0.1 (the spread of a sample variance here is below 0.025).
    #[test]
    fn samples_match_density_moments() {
        for (i, toy) in toys().into_iter().enumerate() {
            let grid = Grid::covering(&toy, 300);
            let (gm, gc) = grid_moments(&grid, &grid.density_of(&toy));
            let (sm, sc) = sample_moments(&toy.sample(20_000, 40 + i as u64));
            for k in 0..2 {
                assert!(
                    (gm[k] - sm[k]).abs() < 0.05,
                    "{}: mean {gm:?} vs {sm:?}",
                    toy.name()
                );
            }
            for k in 0..3 {
                assert!(
                    (gc[k] - sc[k]).abs() < 0.1,
                    "{}: cov {gc:?} vs {sc:?}",
                    toy.name()
                );
            }
        }
        // Known moments: ring8 has mean 0 and covariance (R^2 / 2 + std^2) I = 2.0625 I;
        // the moons' mean is exactly 0.
        let grid = Grid::covering(&Toy::ring8(), 300);
        let (gm, gc) = grid_moments(&grid, &grid.density_of(&Toy::ring8()));
        assert!(gm[0].abs() < 1e-6 && gm[1].abs() < 1e-6, "{gm:?}");
        assert!(
            (gc[0] - 2.0625).abs() < 2e-3 && (gc[2] - 2.0625).abs() < 2e-3,
            "{gc:?}"
        );
        assert!(gc[1].abs() < 1e-6, "{gc:?}");
        let grid = Grid::covering(&Toy::moons(), 300);
        let (gm, _) = grid_moments(&grid, &grid.density_of(&Toy::moons()));
        assert!(gm[0].abs() < 1e-4 && gm[1].abs() < 1e-4, "{gm:?}");
    }

    /// A chi-square test of 20000 samples' counts in a 16 x 16 grid against the cell
    /// probabilities (the density integrated over each cell by an 8 x 8 midpoint rule);
    /// cells expecting fewer than 5 points are pooled into one bin. The threshold, df +
    /// 6 sqrt(2 df), is far in the tail (p < 1e-5) for a correct sampler; a sampler with
    /// the wrong centre, spread or moon orientation gives thousands.
    #[test]
    fn samples_match_density_chi_square() {
        let n = 20_000usize;
        for (i, toy) in toys().into_iter().enumerate() {
            let coarse = Grid::covering(&toy, 16);
            let fine = Grid::covering(&toy, 128);
            let fine_d = fine.density_of(&toy);
            let mut prob = vec![0.0; 256];
            for r in 0..128 {
                for c in 0..128 {
                    prob[(r / 8) * 16 + c / 8] += fine_d[r * 128 + c] * fine.cell_area();
                }
            }
            let counts: Vec<f64> = coarse
                .histogram(&toy.sample(n, 7 + i as u64))
                .iter()
                .map(|h| h * n as f64 * coarse.cell_area())
                .collect();
            let (mut stat, mut bins) = (0.0, 0usize);
            let (mut rest_o, mut rest_e) = (n as f64 - counts.iter().sum::<f64>(), 0.0);
            rest_e += n as f64 * (1.0 - prob.iter().sum::<f64>());
            for (o, p) in counts.iter().zip(&prob) {
                let e = p * n as f64;
                if e >= 5.0 {
                    stat += (o - e) * (o - e) / e;
                    bins += 1;
                } else {
                    rest_o += o;
                    rest_e += e;
                }
            }
            if rest_e > 0.0 {
                stat += (rest_o - rest_e) * (rest_o - rest_e) / rest_e.max(1.0);
                bins += 1;
            }
            let df = (bins - 1) as f64;
            let limit = df + 6.0 * (2.0 * df).sqrt();
            assert!(
                stat < limit,
                "{}: chi-square {stat} over {limit} (df {df})",
                toy.name()
            );
        }
    }

    #[test]
    fn sample_is_deterministic_and_seeded() {
        for toy in toys() {
            let a = toy.sample(500, 3);
            assert_eq!(a.len(), 1000);
            assert_eq!(a, toy.sample(500, 3));
            assert_eq!(&a[..200], &toy.sample(100, 3)[..]);
            let b = toy.sample(500, 4);
            let same = a.iter().zip(&b).filter(|(u, v)| u == v).count();
            assert!(
                same < 10,
                "{}: seeds 3 and 4 share {same} values",
                toy.name()
            );
            assert!(a.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn names_round_trip() {
        for name in ["ring8", "ring4", "moons"] {
            assert_eq!(Toy::parse(name).unwrap().name(), name);
        }
        assert_eq!(Toy::parse("ring8"), Some(Toy::ring8()));
        assert_eq!(Toy::parse("moons"), Some(Toy::Moons { noise: 0.1 }));
        let custom = Toy::Ring {
            modes: 6,
            radius: 1.25,
            std: 0.2,
        };
        assert_eq!(custom.name(), "ring:6,1.25,0.2");
        assert_eq!(Toy::parse(&custom.name()), Some(custom));
        let moons = Toy::Moons { noise: 0.07 };
        assert_eq!(Toy::parse(&moons.name()), Some(moons));
        for bad in [
            "",
            "ring",
            "ring3",
            "ring:0,1,0.1",
            "ring:4,1",
            "moons:-1",
            "moons:nan",
        ] {
            assert_eq!(Toy::parse(bad), None, "{bad:?}");
        }
    }

    /// Row 0 is the top of the box and x grows along a row: a Gaussian at (1.2, 0) peaks
    /// in row 6 and column 6 of a grid over [-2, 2] x [-0.8, 3.2].
    #[test]
    fn grid_orientation() {
        let grid = Grid {
            lo: [-2.0, -0.8],
            hi: [2.0, 3.2],
            n: 8,
        };
        let pts = grid.points();
        assert_eq!(pts.len(), 128);
        let close = |i: usize, x: f32, y: f32| {
            assert!(
                (pts[2 * i] - x).abs() < 1e-6 && (pts[2 * i + 1] - y).abs() < 1e-6,
                "point {i}: {:?}",
                &pts[2 * i..2 * i + 2]
            );
        };
        close(0, -1.75, 2.95);
        close(1, -1.25, 2.95);
        close(8, -1.75, 2.45);
        close(63, 1.75, -0.55);
        assert_eq!(grid.cell_area(), 0.25);
        let one = Toy::Ring {
            modes: 1,
            radius: 1.2,
            std: 0.3,
        };
        let d = grid.density_of(&one);
        let best = (0..64).max_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap();
        assert_eq!(
            (best / 8, best % 8),
            (6, 6),
            "peak of a Gaussian at (1.2, 0)"
        );
        // The histogram puts a point in the cell holding it: y 0.69 is in row 5 (y from
        // 0.2 to 0.7), x 1.3 in column 6 (x from 1.0 to 1.5). A point outside the box
        // counts in m only.
        let h = grid.histogram(&[1.3, 0.69, 9.0, 9.0]);
        assert!((h[5 * 8 + 6] - 0.5 / 0.25).abs() < 1e-12, "{h:?}");
        assert!((h.iter().sum::<f64>() * 0.25 - 0.5).abs() < 1e-12);
    }

    /// KL and TV between two Gaussians of std 0.5 whose centres are 0.5 apart: KL =
    /// |mu|^2 / (2 s^2) = 0.5 and TV = 2 Phi(|mu| / (2 s)) - 1 = 0.382925.
    #[test]
    fn kl_and_tv_match_gaussian_closed_forms() {
        let p = Toy::Ring {
            modes: 1,
            radius: 0.0,
            std: 0.5,
        };
        let q = Toy::Ring {
            modes: 1,
            radius: 0.5,
            std: 0.5,
        };
        let grid = Grid::covering(&q, 300);
        let (dp, dq) = (grid.density_of(&p), grid.density_of(&q));
        let a = grid.cell_area();
        assert!(kl_divergence(&dp, &dp, a).abs() < 1e-12);
        assert!(total_variation(&dp, &dp, a).abs() < 1e-12);
        let kl = kl_divergence(&dp, &dq, a);
        assert!((kl - 0.5).abs() < 2e-3, "KL {kl}");
        let tv = total_variation(&dp, &dq, a);
        assert!((tv - 0.382_924_9).abs() < 2e-3, "TV {tv}");
        // Renormalisation: scaling either density changes nothing.
        let scaled: Vec<f64> = dq.iter().map(|v| 3.0 * v).collect();
        assert!((kl_divergence(&dp, &scaled, a) - kl).abs() < 1e-12);
        // A shifted ring is clearly worse than the ring itself.
        let ring = Toy::ring8();
        let tilted = Toy::Ring {
            modes: 8,
            radius: 2.3,
            std: 0.25,
        };
        let grid = Grid::covering(&tilted, 200);
        let kl = kl_divergence(
            &grid.density_of(&ring),
            &grid.density_of(&tilted),
            grid.cell_area(),
        );
        // Each mode moves 0.3 = 1.2 std: KL about 1.2^2 / 2 = 0.72.
        assert!(kl > 0.6 && kl < 0.8, "KL {kl}");
        // A model with no mass at all is far off but finite.
        let zero = vec![0.0; dp.len()];
        let kl = kl_divergence(&dp, &zero, a);
        assert!(kl.is_finite() && kl > 600.0, "KL {kl}");
    }

    /// Energies -log p + c through boltzmann give back p; a non-finite energy gives 0.
    #[test]
    fn boltzmann_recovers_the_density() {
        let toy = Toy::moons();
        let grid = Grid::covering(&toy, 120);
        let p = grid.density_of(&toy);
        let mut energies: Vec<f32> = p.iter().map(|v| (50.0 - v.ln()) as f32).collect();
        let q = grid.boltzmann(&energies);
        let mass = q.iter().sum::<f64>() * grid.cell_area();
        assert!((mass - 1.0).abs() < 1e-9, "mass {mass}");
        assert!(kl_divergence(&p, &q, grid.cell_area()) < 1e-6);
        assert!(total_variation(&p, &q, grid.cell_area()) < 1e-4);
        energies[0] = f32::NAN;
        energies[1] = f32::INFINITY;
        energies[2] = f32::NEG_INFINITY;
        let q = grid.boltzmann(&energies);
        assert_eq!(&q[..3], &[0.0, 0.0, 0.0]);
        assert!(q.iter().all(|v| v.is_finite()));
        let all_bad = vec![f32::NAN; 120 * 120];
        assert!(grid.boltzmann(&all_bad).iter().all(|v| *v == 0.0));
    }

    /// The histogram of 50000 samples is close to the density on a 30 x 30 grid (TV below
    /// 0.05; the sampling noise alone gives about 0.03), and far from another toy's.
    #[test]
    fn histogram_matches_density() {
        let toy = Toy::ring8();
        let grid = Grid::covering(&toy, 30);
        let h = grid.histogram(&toy.sample(50_000, 11));
        let a = grid.cell_area();
        let tv = total_variation(&grid.density_of(&toy), &h, a);
        assert!(tv < 0.05, "TV {tv}");
        let other = total_variation(&grid.density_of(&Toy::ring4()), &h, a);
        assert!(other > 0.5, "TV to ring4 {other}");
    }

    /// MMD^2 of independent samples of one toy (1000 points each; five seed pairs per toy,
    /// at the median bandwidth and at h = 0.5) stays within 0.003 of 0: over 20 such pairs
    /// the largest seen was 0.0014. Ring8 against moons is above 0.03 at the median
    /// bandwidth (0.048 seen), and ring8 against ring4 above 0.03 at h = 0.5 (0.097 seen;
    /// the median bandwidth, 2.8, blurs the rings to 0.012).
    #[test]
    fn mmd_separates_toys() {
        let n = 1000;
        let ring = Toy::ring8().sample(n, 1);
        let h = median_bandwidth(&ring, 2);
        // Ring8's mean squared pairwise distance is 4 * 2.0625, so the median is near 2.8.
        assert!(h > 2.5 && h < 3.1, "bandwidth {h}");
        for toy in [Toy::ring8(), Toy::moons()] {
            for s in 0..5 {
                let (a, b) = (toy.sample(n, 100 + s), toy.sample(n, 200 + s));
                for bw in [median_bandwidth(&a, 2), 0.5] {
                    let same = mmd_rbf(&a, &b, 2, bw);
                    assert!(
                        same.abs() < 0.003,
                        "{} seeds {s}, h {bw}: {same}",
                        toy.name()
                    );
                }
            }
        }
        let moons = Toy::moons().sample(n, 3);
        let diff = mmd_rbf(&ring, &moons, 2, h);
        assert!(diff > 0.03, "ring vs moons: {diff}");
        let diff = mmd_rbf(&ring, &Toy::ring4().sample(n, 5), 2, 0.5);
        assert!(diff > 0.03, "ring8 vs ring4: {diff}");
        // Identical sets: the unbiased estimate is slightly negative (the cross term counts
        // the diagonal, k = 1, which the within terms leave out), not 0.
        let selfish = mmd_rbf(&ring, &ring, 2, h);
        assert!(
            selfish < 0.0 && selfish > -2.0 / n as f64 - 1e-12,
            "{selfish}"
        );
    }

    #[test]
    fn median_bandwidth_small_case() {
        // Points 0, 1, 3 on a line: distances 1, 2, 3, median 2; add 6: 1,2,3,3,5,6 -> 3.
        assert_eq!(median_bandwidth(&[0.0, 1.0, 3.0], 1), 2.0);
        assert_eq!(median_bandwidth(&[0.0, 1.0, 3.0, 6.0], 1), 3.0);
    }

    #[test]
    fn sqrt_branches_has_two_answers() {
        let (x, y) = sqrt_branches(20_000, 0.05, 9);
        assert_eq!((x.len(), y.len()), (20_000, 20_000));
        assert!(x.iter().all(|&v| (0.25..1.0).contains(&v)));
        let mean_x = x.iter().map(|&v| f64::from(v)).sum::<f64>() / 20_000.0;
        assert!((mean_x - 0.625).abs() < 0.01, "mean x {mean_x}");
        // The least-squares answer, the mean of y, is near 0, where no data is.
        let mean_y = y.iter().map(|&v| f64::from(v)).sum::<f64>() / 20_000.0;
        assert!(mean_y.abs() < 0.02, "mean y {mean_y}");
        // tol = 3 noise: 0.27 % of points miss; each branch holds half (std error 0.0035).
        let (plus, minus, neither) = branch_shares(&x, &y, 0.15);
        assert!(
            (plus - 0.5).abs() < 0.02 && (minus - 0.5).abs() < 0.02,
            "{plus} {minus}"
        );
        assert!(neither < 0.01, "neither {neither}");
        assert!((plus + minus + neither - 1.0).abs() < 1e-12);
        // A regressor's answer, y = 0, is on neither branch.
        let zeros = vec![0.0; x.len()];
        assert_eq!(branch_shares(&x, &zeros, 0.15), (0.0, 0.0, 1.0));
        assert_eq!(sqrt_branches(100, 0.05, 9).0, x[..100].to_vec());
        assert_ne!(sqrt_branches(100, 0.05, 10).1, y[..100].to_vec());
    }
}
