//! The random draws of a training run that the host makes, keyed by (seed, step) through
//! Philox (src/rng.rs) like the kernels' own, so that a run is reproducible and a resumed
//! run draws what the uninterrupted one would: each step's rows of the data, its replay
//! offset, its sampler seed, and the replay buffer's first contents. The kernels draw the
//! negatives' starts (shaders/train.wgsl: counter words 2 and 3).

use crate::refine::rng::{key, normals4, philox4x32_10};

/// Counter words of the host's draws (the kernels use 0 to 3).
const DRAW_ROWS: u32 = 4;
const DRAW_OFFSET: u32 = 5;
const DRAW_SAMPLER: u32 = 6;
const DRAW_REPLAY: u32 = 7;

/// The rows of the data (of `n`) the positives of `step` are, `batch` of them, drawn
/// uniformly with replacement (the modulo's bias is below n / 2^32).
pub fn batch_rows(seed: u64, step: u32, n: usize, batch: usize) -> Vec<usize> {
    (0..batch.div_ceil(4))
        .flat_map(|block| philox4x32_10([block as u32, step, 0, DRAW_ROWS], key(seed)))
        .take(batch)
        .map(|w| (w as usize) % n)
        .collect()
}

/// The first replay slot of `step`'s negatives (of `slots`).
pub fn replay_offset(seed: u64, step: u32, slots: usize) -> u32 {
    if slots == 0 {
        return 0;
    }
    (philox4x32_10([0, step, 0, DRAW_OFFSET], key(seed))[0] as usize % slots) as u32
}

/// The seed of `step`'s sampler noise.
pub fn sampler_seed(seed: u64, step: u32) -> u64 {
    let w = philox4x32_10([0, step, 0, DRAW_SAMPLER], key(seed));
    u64::from(w[0]) | (u64::from(w[1]) << 32)
}

/// The replay buffer's first contents, `[slots, y_dim]`: draws of the noise distribution
/// (`noise`: per coordinate the mean, then the standard deviation).
pub fn first_replay(seed: u64, slots: usize, noise: &[f32]) -> Vec<f32> {
    let d = noise.len() / 2;
    let mut out = Vec::with_capacity(slots * d);
    for s in 0..slots {
        for block in 0..d.div_ceil(4) {
            let z = normals4(philox4x32_10(
                [block as u32, s as u32, 0, DRAW_REPLAY],
                key(seed),
            ));
            for (q, z) in z.iter().enumerate().take(d - 4 * block) {
                let k = 4 * block + q;
                out.push((f64::from(noise[k]) + f64::from(noise[d + k]) * z) as f32);
            }
        }
    }
    out
}

/// The noise distribution of y: per coordinate the data's mean, then its standard
/// deviation (population; at least 1e-3, so a constant coordinate still has a density).
pub fn noise_of(y: &[f32], y_dim: usize) -> Vec<f32> {
    let n = (y.len() / y_dim) as f64;
    let mut mean = vec![0.0f64; y_dim];
    for row in y.chunks(y_dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; y_dim];
    for row in y.chunks(y_dim) {
        for k in 0..y_dim {
            let d = f64::from(row[k]) - mean[k];
            var[k] += d * d;
        }
    }
    let sd = var.iter().map(|v| (v / n).sqrt().max(1e-3));
    mean.iter()
        .map(|&m| m as f32)
        .chain(sd.map(|s| s as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_on_seed_and_step_only() {
        assert_eq!(batch_rows(3, 7, 100, 10), batch_rows(3, 7, 100, 10));
        assert_ne!(batch_rows(3, 7, 100, 10), batch_rows(3, 8, 100, 10));
        assert_ne!(batch_rows(3, 7, 100, 10), batch_rows(4, 7, 100, 10));
        // A longer batch starts with the shorter one's rows.
        assert_eq!(batch_rows(3, 7, 100, 10)[..5], batch_rows(3, 7, 100, 5)[..]);
        assert!(batch_rows(1, 2, 13, 1000).iter().all(|&r| r < 13));
        assert_ne!(sampler_seed(1, 2), sampler_seed(1, 3));
        assert!(replay_offset(1, 2, 50) < 50);
    }

    #[test]
    fn noise_has_the_datas_moments() {
        let y = [1.0f32, 10.0, 3.0, 10.0, 5.0, 10.0];
        let noise = noise_of(&y, 2);
        assert_eq!(noise[0], 3.0);
        assert_eq!(noise[1], 10.0);
        assert!((noise[2] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(noise[3], 1e-3);
        let replay = first_replay(5, 4000, &noise);
        let mean: f64 = replay.chunks(2).map(|r| f64::from(r[0])).sum::<f64>() / 4000.0;
        assert!((mean - 3.0).abs() < 0.1, "{mean}");
        assert!(replay.chunks(2).all(|r| (r[1] - 10.0).abs() < 0.01));
    }
}
