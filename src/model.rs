//! The energy model: an MLP over concat(x, y) with one activation and an output function,
//! stored as a safetensors file in PyTorch's `nn.Linear` layout.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;

use crate::activation::{Activation, Output};
use crate::error::{Error, Result};
use crate::rng::HostRng;
use crate::tensors::{check_finite, to_f32, write_f32};

/// One affine layer: `out = weight @ in + bias`, weight row-major `[n_out, n_in]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `[n_out, n_in]`, row-major (PyTorch's `nn.Linear.weight`).
    pub weight: Vec<f32>,
    /// `[n_out]`.
    pub bias: Vec<f32>,
}

/// An energy E(x, y) = out(MLP(concat(x, y))).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Length of the observed input x (0 for an unconditional model).
    pub x_dim: usize,
    /// Length of the answer y that is refined.
    pub y_dim: usize,
    /// Applied after every layer but the last.
    pub activation: Activation,
    /// Turns the last layer's outputs into the energy.
    pub output: Output,
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

/// The shape of a model to build with random weights.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Length of x.
    pub x_dim: usize,
    /// Length of y.
    pub y_dim: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Outputs of the last layer (1 unless `output` is `Square`).
    pub outputs: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Output function.
    pub output: Output,
}

const KEY_X_DIM: &str = "ebm.x_dim";
const KEY_Y_DIM: &str = "ebm.y_dim";
const KEY_ACTIVATION: &str = "ebm.activation";
const KEY_OUTPUT: &str = "ebm.output";

impl Model {
    /// A model with PyTorch's default `nn.Linear` initialisation
    /// (uniform in ±1/sqrt(fan_in)), drawn from `seed`.
    pub fn random(spec: &ModelSpec, seed: u64) -> Result<Model> {
        let mut widths = vec![spec.x_dim + spec.y_dim];
        widths.extend(&spec.hidden);
        widths.push(spec.outputs);
        let mut rng = HostRng::new(seed, 0);
        let layers = widths
            .windows(2)
            .map(|w| {
                let bound = 1.0 / (w[0].max(1) as f64).sqrt();
                let mut draw = |n: usize| -> Vec<f32> {
                    (0..n).map(|_| (bound * rng.symmetric()) as f32).collect()
                };
                Layer {
                    n_in: w[0],
                    n_out: w[1],
                    weight: draw(w[0] * w[1]),
                    bias: draw(w[1]),
                }
            })
            .collect();
        let model = Model {
            x_dim: spec.x_dim,
            y_dim: spec.y_dim,
            activation: spec.activation,
            output: spec.output,
            layers,
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks that the layers chain together, fit x_dim and y_dim, and hold finite values.
    pub fn validate(&self) -> Result<()> {
        if self.y_dim == 0 {
            return Err(Error::Model("y_dim must be at least 1".into()));
        }
        if self.layers.is_empty() {
            return Err(Error::Model("the model has no layers".into()));
        }
        let mut n_in = self.x_dim + self.y_dim;
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.n_in != n_in {
                return Err(Error::Model(format!(
                    "layers.{i}.weight has {} inputs, expected {n_in}{}",
                    layer.n_in,
                    if i == 0 {
                        " (x_dim + y_dim)"
                    } else {
                        " (the previous layer's outputs)"
                    }
                )));
            }
            if layer.n_out == 0 {
                return Err(Error::Model(format!("layers.{i} has no outputs")));
            }
            if layer.weight.len() != layer.n_out * layer.n_in {
                return Err(Error::Model(format!(
                    "layers.{i}.weight holds {} values, expected {} x {}",
                    layer.weight.len(),
                    layer.n_out,
                    layer.n_in
                )));
            }
            if layer.bias.len() != layer.n_out {
                return Err(Error::Model(format!(
                    "layers.{i}.bias holds {} values, expected {}",
                    layer.bias.len(),
                    layer.n_out
                )));
            }
            check_finite(&format!("layers.{i}.weight"), &layer.weight).map_err(Error::Model)?;
            check_finite(&format!("layers.{i}.bias"), &layer.bias).map_err(Error::Model)?;
            n_in = layer.n_out;
        }
        let outputs = self.layers.last().unwrap().n_out;
        if outputs != 1 && !self.output.allows_vector() {
            return Err(Error::Model(format!(
                "the last layer has {outputs} outputs, but output {} needs exactly 1 (only square allows several)",
                self.output
            )));
        }
        Ok(())
    }

    /// The model's shape in words: its dimensions, hidden widths, activation and output.
    pub fn shape(&self) -> String {
        let hidden: Vec<usize> = self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| l.n_out)
            .collect();
        format!(
            "x_dim {}, y_dim {}, hidden {hidden:?}, {} activation, {} {} output",
            self.x_dim,
            self.y_dim,
            self.activation.name(),
            self.layers.last().map_or(0, |l| l.n_out),
            self.output.name()
        )
    }

    /// Multiply-adds of one forward pass for one chain (P in the FLOP count 4P per step).
    pub fn multiply_adds(&self) -> usize {
        self.layers.iter().map(|l| l.n_in * l.n_out).sum()
    }

    /// The widest layer (inputs or outputs).
    pub fn max_width(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.n_in.max(l.n_out))
            .max()
            .unwrap_or(0)
    }

    /// Reads a model from a safetensors file (see the README for the format).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|message| Error::ModelFile {
            path: path.to_path_buf(),
            message,
        })
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> std::result::Result<Model, String> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a readable safetensors file ({e})"))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| format!("not a readable safetensors file ({e})"))?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| format!("metadata key {key:?} is missing"))
        };
        let parse_dim = |key: &str| -> std::result::Result<usize, String> {
            get(key)?
                .trim()
                .parse()
                .map_err(|_| format!("metadata {key:?} = {:?} is not a whole number", meta[key]))
        };
        let x_dim = parse_dim(KEY_X_DIM)?;
        let y_dim = parse_dim(KEY_Y_DIM)?;
        let activation: Activation = get(KEY_ACTIVATION)?
            .parse()
            .map_err(|e: Error| format!("metadata {KEY_ACTIVATION:?}: {e}"))?;
        let output: Output = match meta.get(KEY_OUTPUT) {
            None => Output::Identity,
            Some(s) => s
                .parse()
                .map_err(|e: Error| format!("metadata {KEY_OUTPUT:?}: {e}"))?,
        };

        let names = file.names();
        let mut n_layers = 0;
        while names.contains(&format!("layers.{n_layers}.weight").as_str()) {
            n_layers += 1;
        }
        if n_layers == 0 {
            return Err("tensor \"layers.0.weight\" is missing".into());
        }
        // A training checkpoint's own tensors (crate::train::Checkpoint) ride along.
        for name in names.iter().filter(|n| !n.starts_with("train.")) {
            let known = (0..n_layers).any(|i| {
                *name == format!("layers.{i}.weight") || *name == format!("layers.{i}.bias")
            });
            if !known {
                return Err(format!(
                    "unexpected tensor {name:?}: layers must be numbered layers.0 .. layers.{} without gaps, each with .weight and .bias",
                    n_layers - 1
                ));
            }
        }
        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let read = |name: String| -> std::result::Result<_, String> {
                let view = file
                    .tensor(&name)
                    .map_err(|_| format!("tensor {name:?} is missing"))?;
                to_f32(&view).map_err(|e| format!("tensor {name:?} {e}"))
            };
            let w = read(format!("layers.{i}.weight"))?;
            let b = read(format!("layers.{i}.bias"))?;
            if w.shape.len() != 2 {
                return Err(format!(
                    "tensor \"layers.{i}.weight\" has shape {:?}; expected [out, in]",
                    w.shape
                ));
            }
            if b.shape != [w.shape[0]] {
                return Err(format!(
                    "tensor \"layers.{i}.bias\" has shape {:?}; expected [{}] to match layers.{i}.weight {:?}",
                    b.shape, w.shape[0], w.shape
                ));
            }
            layers.push(Layer {
                n_in: w.shape[1],
                n_out: w.shape[0],
                weight: w.data,
                bias: b.data,
            });
        }
        let model = Model {
            x_dim,
            y_dim,
            activation,
            output,
            layers,
        };
        model.validate().map_err(|e| match e {
            Error::Model(m) => m,
            other => other.to_string(),
        })?;
        Ok(model)
    }

    /// Writes the model as a float32 safetensors file that [`Model::load`] and PyTorch read.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with(path.as_ref(), &[], HashMap::new())
    }

    /// Writes the model with `extra` tensors and metadata beside it (a training
    /// checkpoint's), first to a file beside `path` that then replaces it, so that an
    /// interrupted write never leaves a truncated file where a good one was.
    pub(crate) fn save_with(
        &self,
        path: &Path,
        extra: &[(&str, Vec<usize>, &[f32])],
        extra_metadata: HashMap<String, String>,
    ) -> Result<()> {
        self.validate()?;
        let names: Vec<(String, String)> = (0..self.layers.len())
            .map(|i| (format!("layers.{i}.weight"), format!("layers.{i}.bias")))
            .collect();
        let mut tensors = Vec::new();
        for (layer, (w, b)) in self.layers.iter().zip(&names) {
            tensors.push((w.as_str(), vec![layer.n_out, layer.n_in], &layer.weight[..]));
            tensors.push((b.as_str(), vec![layer.n_out], &layer.bias[..]));
        }
        tensors.extend(extra.iter().cloned());
        let mut metadata = HashMap::from([
            (KEY_X_DIM.to_string(), self.x_dim.to_string()),
            (KEY_Y_DIM.to_string(), self.y_dim.to_string()),
            (KEY_ACTIVATION.to_string(), self.activation.to_string()),
            (KEY_OUTPUT.to_string(), self.output.to_string()),
        ]);
        metadata.extend(extra_metadata);
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        write_f32(&partial, &tensors, Some(metadata))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
    }
}
