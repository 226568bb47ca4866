//! A training checkpoint: one safetensors file that is also a model file (`ebm refine
//! --model` reads it; `Model::load` skips the `train.*` tensors), holding beside the
//! weights what a resumed run needs to go on exactly as the uninterrupted one would: the
//! optimiser's moments, the replay buffer, the noise distribution, the step and the seed.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;

use crate::energy::tensors::to_f32;
use crate::energy::Model;
use crate::error::{Error, Result};

const KEY_STEP: &str = "train.step";
const KEY_SEED: &str = "train.seed";
const KEY_OBJECTIVE: &str = "train.objective";
const KEY_OPTIMIZER: &str = "train.optimizer";
const MOMENTS: &str = "train.moments";
const REPLAY: &str = "train.replay";
const NOISE: &str = "train.noise";

/// The state of a training run between two steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The weights.
    pub model: Model,
    /// Adam's first moments then second moments, per parameter (zeros for SGD).
    pub moments: Vec<f32>,
    /// The replay buffer, `[slots, y_dim]` (empty without one).
    pub replay: Vec<f32>,
    /// The noise distribution: per coordinate of y the mean, then the standard deviation.
    pub noise: Vec<f32>,
    /// Steps taken.
    pub step: u64,
    /// The run's seed.
    pub seed: u64,
    /// The objective's name (`cd`, `nce`).
    pub objective: String,
    /// The optimiser's name (`adam`, `sgd`).
    pub optimizer: String,
}

impl Checkpoint {
    /// Writes the checkpoint to `path` (through a file beside it, so a good checkpoint is
    /// never replaced by a partial one).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let d = self.model.y_dim;
        let params = self.moments.len() / 2;
        let mut tensors: Vec<(&str, Vec<usize>, &[f32])> = vec![
            (MOMENTS, vec![2, params], &self.moments[..]),
            (NOISE, vec![2, d], &self.noise[..]),
        ];
        if !self.replay.is_empty() {
            tensors.push((REPLAY, vec![self.replay.len() / d, d], &self.replay[..]));
        }
        let metadata = HashMap::from([
            (KEY_STEP.to_string(), self.step.to_string()),
            (KEY_SEED.to_string(), self.seed.to_string()),
            (KEY_OBJECTIVE.to_string(), self.objective.clone()),
            (KEY_OPTIMIZER.to_string(), self.optimizer.clone()),
        ]);
        self.model.save_with(path.as_ref(), &tensors, metadata)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`]; an error names the file and
    /// what is missing or wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |message: String| Error::ModelFile {
            path: path.to_path_buf(),
            message,
        };
        let model = Model::from_bytes(&bytes).map_err(bad)?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let get = |key: &str| {
            meta.get(key).cloned().ok_or_else(|| {
                bad(format!(
                    "metadata key {key:?} is missing: not a training checkpoint (ebm train --checkpoint-every writes them)"
                ))
            })
        };
        let number = |key: &str| -> Result<u64> {
            let v = get(key)?;
            v.trim()
                .parse()
                .map_err(|_| bad(format!("metadata {key:?} = {v:?} is not a whole number")))
        };
        let tensor = |name: &str, required: bool| -> Result<Option<(Vec<usize>, Vec<f32>)>> {
            match file.tensor(name) {
                Ok(view) => {
                    let t = to_f32(&view).map_err(|e| bad(format!("tensor {name:?} {e}")))?;
                    Ok(Some((t.shape, t.data)))
                }
                Err(_) if !required => Ok(None),
                Err(_) => Err(bad(format!("tensor {name:?} is missing"))),
            }
        };
        let step = number(KEY_STEP)?;
        let d = model.y_dim;
        let params = model.param_count();
        let (shape, moments) = tensor(MOMENTS, true)?.unwrap_or_default();
        if shape != [2, params] {
            return Err(bad(format!(
                "tensor {MOMENTS:?} has shape {shape:?}; the model's {params} parameters need [2, {params}]"
            )));
        }
        let (shape, noise) = tensor(NOISE, true)?.unwrap_or_default();
        if shape != [2, d] {
            return Err(bad(format!(
                "tensor {NOISE:?} has shape {shape:?}; expected [2, {d}] (y_dim {d})"
            )));
        }
        let replay = match tensor(REPLAY, false)? {
            None => Vec::new(),
            Some((shape, data)) if shape.len() == 2 && shape[1] == d => data,
            Some((shape, _)) => {
                return Err(bad(format!(
                    "tensor {REPLAY:?} has shape {shape:?}; expected [slots, {d}] (y_dim {d})"
                )))
            }
        };
        for (name, data) in [(MOMENTS, &moments), (NOISE, &noise), (REPLAY, &replay)] {
            crate::energy::tensors::check_finite(name, data).map_err(bad)?;
        }
        Ok(Checkpoint {
            model,
            moments,
            replay,
            noise,
            step,
            seed: number(KEY_SEED)?,
            objective: get(KEY_OBJECTIVE)?,
            optimizer: get(KEY_OPTIMIZER)?,
        })
    }
}
