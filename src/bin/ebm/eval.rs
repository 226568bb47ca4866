//! `ebm eval`: energies and dE/dy of a batch, written as `energy` [B] and `grad`
//! [B, y_dim] (float32).

use std::time::Instant;

use ebm::{Context, Engine, Error, Result};

use crate::args::EvalArgs;
use crate::files::{check_not_input, check_writable};
use crate::inputs::read_job;
use crate::out_file::{self, Tensor, Values};
use crate::summary::{eval_line, Energies};

pub fn eval(args: &EvalArgs, quiet: bool) -> Result<()> {
    let EvalArgs {
        model,
        x,
        y,
        landscape,
        out,
        keep_non_finite,
    } = args;
    check_writable("--out", out)?;
    let mut inputs = vec![model.as_path(), y.as_path()];
    inputs.extend(x.as_deref());
    check_not_input("--out", out, &inputs)?;
    let job = read_job(model, x.as_deref(), y, "--y", 1)?;
    let engine = Engine::new(&Context::new()?, &job.model)?;
    let start = Instant::now();
    let result = engine.eval_at(&job.x, &job.y, landscape.unwrap_or(0.0))?;
    let time = start.elapsed();
    let (n, y_dim) = (job.n, job.model.y_dim);
    let bad: Vec<usize> = (0..n)
        .filter(|&c| {
            !(result.energy[c].is_finite()
                && result.grad[c * y_dim..(c + 1) * y_dim]
                    .iter()
                    .all(|g| g.is_finite()))
        })
        .collect();
    if !keep_non_finite && !bad.is_empty() {
        let first: Vec<String> = bad.iter().take(5).map(|c| format!("chain {c}")).collect();
        return Err(Error::NonFinite {
            count: bad.len(),
            total: n,
            first: first.join(", "),
        });
    }
    out_file::write(
        out,
        &[
            Tensor::new("energy", vec![n], Values::F32(&result.energy)),
            Tensor::new("grad", vec![n, y_dim], Values::F32(&result.grad)),
        ],
        None,
    )?;
    if !quiet {
        let energies = Energies::of(&result.energy);
        eprintln!("{}", eval_line(n, engine.eval_path(), time, &energies));
    }
    Ok(())
}
