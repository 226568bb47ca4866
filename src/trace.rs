//! The per-step diagnostics of a refinement (`RefineConfig::trace`, `ebm refine --trace`):
//! reduced over the batch on the GPU (shaders/trace.wgsl), combined over chunks here, and
//! written as CSV or JSON.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The batch before one step: a stopped chain counts with the values it stopped with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceRow {
    /// The step (0-based): the values are those of the y the step starts from.
    pub step: u32,
    /// Lowest energy (the prior included) over the batch.
    pub min_energy: f64,
    /// Mean energy over the batch.
    pub mean_energy: f64,
    /// Highest energy over the batch.
    pub max_energy: f64,
    /// Mean over the batch of |dE/dy + lambda y| (over the coordinates that move).
    pub mean_grad_norm: f64,
}

/// Per-step partial sums over the chunks of a refinement, as trace_reduce leaves them:
/// (min, sum, max, sum of gradient norms), and how many chains each step covers.
pub(crate) struct TraceSums {
    sums: Vec<[f64; 4]>,
    chains: Vec<u64>,
    /// Steps every chunk reached (all of them, unless the refinement was cancelled).
    reached: usize,
}

impl TraceSums {
    pub(crate) fn new(steps: u32) -> Self {
        TraceSums {
            sums: vec![[f64::INFINITY, 0.0, f64::NEG_INFINITY, 0.0]; steps as usize],
            chains: vec![0; steps as usize],
            reached: steps as usize,
        }
    }

    /// Adds the summary of a chunk of `m` chains that ran `steps` steps (`[steps][4]`
    /// floats from the GPU).
    pub(crate) fn add(&mut self, chunk: &[f32], steps: u32, m: usize) {
        let steps = steps as usize;
        self.reached = self.reached.min(steps);
        let rows = self.sums.iter_mut().zip(&mut self.chains);
        for ((total, count), part) in rows.zip(chunk.chunks_exact(4)).take(steps) {
            let part: [f64; 4] = std::array::from_fn(|i| f64::from(part[i]));
            total[0] = total[0].min(part[0]);
            total[1] += part[1];
            total[2] = total[2].max(part[2]);
            total[3] += part[3];
            *count += m as u64;
            // min/max drop NaN: keep it visible.
            if part[0].is_nan() || part[2].is_nan() {
                total[0] = f64::NAN;
                total[2] = f64::NAN;
            }
        }
    }

    /// The rows of the steps every chunk reached, means over the batch.
    pub(crate) fn rows(&self) -> Vec<TraceRow> {
        self.sums
            .iter()
            .zip(&self.chains)
            .take(self.reached)
            .enumerate()
            .map(|(s, (t, &n))| {
                let n = n as f64;
                TraceRow {
                    step: s as u32,
                    min_energy: t[0],
                    mean_energy: t[1] / n,
                    max_energy: t[2],
                    mean_grad_norm: t[3] / n,
                }
            })
            .collect()
    }
}


/// The file formats of a trace.
enum Format {
    Csv,
    Json,
}

/// The format `path`'s name asks for.
fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        _ => Err(Error::config(
            "--trace",
            format!(
                "{}: the file name must end in .csv or .json",
                path.display()
            ),
        )),
    }
}

/// Checks that a trace can be written to `path` (a `.csv` or `.json` name), before the run.
pub fn check_trace_path(path: &Path) -> Result<()> {
    format_of(path).map(|_| ())
}

/// Writes a trace to `path`: CSV for a `.csv` file, JSON for a `.json` file.
pub fn write_trace(path: &Path, rows: &[TraceRow]) -> Result<()> {
    let text = match format_of(path)? {
        Format::Csv => {
            let mut text = String::from("step,min_energy,mean_energy,max_energy,mean_grad_norm\n");
            for r in rows {
                text += &format!(
                    "{},{},{},{},{}\n",
                    r.step, r.min_energy, r.mean_energy, r.max_energy, r.mean_grad_norm
                );
            }
            text
        }
        Format::Json => {
            // JSON has no NaN or infinity: they become null.
            let num = |v: f64| {
                if v.is_finite() {
                    format!("{v}")
                } else {
                    "null".into()
                }
            };
            let items: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "  {{\"step\": {}, \"min_energy\": {}, \"mean_energy\": {}, \"max_energy\": {}, \"mean_grad_norm\": {}}}",
                        r.step,
                        num(r.min_energy),
                        num(r.mean_energy),
                        num(r.max_energy),
                        num(r.mean_grad_norm)
                    )
                })
                .collect();
            format!("[\n{}\n]\n", items.join(",\n"))
        }
    };
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}
