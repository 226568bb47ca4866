//! Reading a job's files: the model, and the batches of x, y and the fixed mask checked
//! against it and against each other. Errors name the flag and file at fault.

use std::path::Path;

use ebm::{Error, Model, Result};

use crate::npy;

/// A model and the batch it is run on.
pub struct Job {
    pub model: Model,
    /// Chains (rows of y).
    pub n: usize,
    /// `[n / per_x, x_dim]`, empty for an unconditional model.
    pub x: Vec<f32>,
    /// `[n, y_dim]`.
    pub y: Vec<f32>,
}

/// Loads the model and reads the batch it is given. `per_x` rows of y go with each row of
/// x (best-of-R; 1 otherwise); `y_flag` names y's flag in messages.
pub fn read_job(
    model: &Path,
    x: Option<&Path>,
    y: &Path,
    y_flag: &str,
    per_x: usize,
) -> Result<Job> {
    let model = Model::load(model)?;
    let (n, ys) = npy::read_batch(y, model.y_dim)?;
    if n % per_x != 0 {
        return Err(Error::input(
            y.display().to_string(),
            format!("has {n} rows, not a multiple of --best-of {per_x}"),
        ));
    }
    let xs = match (x, model.x_dim) {
        (None, 0) => Vec::new(),
        (None, d) => {
            return Err(Error::config(
                "--x",
                format!("is required: the model's x_dim is {d}"),
            ))
        }
        (Some(p), 0) => {
            return Err(Error::input(
                p.display().to_string(),
                "the model is unconditional (x_dim 0): leave out --x",
            ))
        }
        (Some(p), d) => {
            let (nx, xs) = npy::read_batch(p, d)?;
            if nx * per_x != n {
                let per = match per_x {
                    1 => String::new(),
                    r => format!(", {r} per row of --x (--best-of {r})"),
                };
                return Err(Error::input(
                    p.display().to_string(),
                    format!("has {nx} rows but {y_flag} {} has {n}{per}", y.display()),
                ));
            }
            xs
        }
    };
    Ok(Job {
        model,
        n,
        x: xs,
        y: ys,
    })
}

/// Reads the `--fixed` mask: `[n, y_dim]`, true where nonzero.
pub fn read_fixed(path: &Path, job: &Job, y0: &Path) -> Result<Vec<bool>> {
    let (rows, mask) = npy::read_batch(path, job.model.y_dim)?;
    if rows != job.n {
        return Err(Error::input(
            path.display().to_string(),
            format!("has {rows} rows but --y0 {} has {}", y0.display(), job.n),
        ));
    }
    Ok(mask.iter().map(|&v| v != 0.0).collect())
}
