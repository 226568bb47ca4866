//! Best-of-R: R chains per observation x, from R starts (and, by their chain index, R noise
//! streams), keeping the lowest-energy answer of each x.

use super::Engine;
use crate::engine::progress::OnProgress;
use crate::error::{Error, Result};
use crate::refine::config::RefineConfig;
use crate::refine::outputs::Refinement;

/// The best of R chains per x.
#[derive(Clone, Debug, PartialEq)]
pub struct BestOf {
    /// The lowest-energy final y per x, `[m, y_dim]` (with `RefineConfig::decode`: the
    /// rounded y of the chain whose rounded y has the lowest energy).
    pub y: Vec<f32>,
    /// Its energy, `[m]` (with `RefineConfig::decode`: the model's, at the rounded y).
    pub energy: Vec<f32>,
    /// Which of the R chains of each x it is (0..R), `[m]`.
    pub best: Vec<u32>,
    /// Highest minus lowest final (or decoded) energy among each x's R chains, `[m]`.
    pub spread: Vec<f32>,
    /// All m * R chains (chain r of x i is row i * R + r).
    pub all: Refinement,
}

impl Engine {
    /// Refines R chains per row of `x` (`[m, x_dim]`): `y0` is `[m * R, y_dim]`, the R
    /// starts of x row i in rows i * R .. i * R + R (and `fixed`, if any, alike). Each chain
    /// draws its own noise. Returns the lowest-energy chain of each x; ties go to the first.
    pub fn refine_best_of(
        &self,
        x: &[f32],
        y0: &[f32],
        r: usize,
        fixed: Option<&[bool]>,
        config: &RefineConfig,
    ) -> Result<BestOf> {
        self.refine_best_of_with(x, y0, r, fixed, config, None)
    }

    /// As [`Engine::refine_best_of`], with a progress callback (see [`Engine::refine_with`]).
    pub fn refine_best_of_with(
        &self,
        x: &[f32],
        y0: &[f32],
        r: usize,
        fixed: Option<&[bool]>,
        config: &RefineConfig,
        progress: Option<OnProgress<'_>>,
    ) -> Result<BestOf> {
        let model = self.model();
        if r == 0 {
            return Err(Error::config(
                "Engine::refine_best_of(r)",
                "needs at least 1 chain per x",
            ));
        }
        let (x_dim, y_dim) = (model.x_dim, model.y_dim);
        if x_dim > 0 && x.len() % x_dim != 0 {
            return Err(Error::input(
                "x",
                format!("holds {} values, not a multiple of x_dim {x_dim}", x.len()),
            ));
        }
        let m = match x_dim {
            0 => y0.len() / (r * y_dim),
            d => x.len() / d,
        };
        if y0.len() != m * r * y_dim || m == 0 {
            return Err(Error::input(
                "y0",
                format!(
                    "holds {} values; {m} observations x {r} chains of y_dim {y_dim} need {}",
                    y0.len(),
                    (m * r * y_dim).max(r * y_dim)
                ),
            ));
        }
        let xs: Vec<f32> = match x_dim {
            0 => Vec::new(),
            d => x
                .chunks(d)
                .flat_map(|row| std::iter::repeat_n(row, r).flatten().copied())
                .collect(),
        };
        let all = self.refine_with(&xs, y0, fixed, config, progress)?;
        Ok(pick_best(all, r, y_dim))
    }
}

/// The lowest-energy chain of each group of `r` consecutive chains of `all`: by the
/// decoded energy where `all` was decoded (ties by the relaxed energy), whose rounded y and
/// energy it then gives; by the final energy otherwise.
pub fn pick_best(all: Refinement, r: usize, y_dim: usize) -> BestOf {
    let m = all.energy.len() / r;
    let (mut y, mut energy, mut best, mut spread) = (
        Vec::with_capacity(m * y_dim),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
    );
    let (answers, scores) = match &all.decoded {
        Some(d) => (&d.y, &d.energy),
        None => (&all.y, &all.energy),
    };
    for (i, group) in scores.chunks(r).enumerate() {
        let relaxed = &all.energy[i * r..(i + 1) * r];
        let (k, &low) = group
            .iter()
            .enumerate()
            .min_by(|a, b| {
                a.1.total_cmp(b.1)
                    .then(relaxed[a.0].total_cmp(&relaxed[b.0]))
            })
            .expect("r >= 1");
        let high = group.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let row = i * r + k;
        y.extend_from_slice(&answers[row * y_dim..(row + 1) * y_dim]);
        energy.push(low);
        best.push(k as u32);
        spread.push(high - low);
    }
    BestOf {
        y,
        energy,
        best,
        spread,
        all,
    }
}
