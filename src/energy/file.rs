//! Model files: safetensors, each parameter a tensor under its own name, and the graph in
//! the metadata.
//!
//! Format 2 (`ebm` 0.6): metadata `ebm.format` = `2`, `ebm.x_dim`, `ebm.y_dim`, and
//! `ebm.graph`, a JSON object:
//!
//! ```json
//! {"params": ["net.0.weight", "net.0.bias", "norm.weight"],
//!  "nodes": [
//!    {"name": "h", "op": "linear", "inputs": ["x", "y"], "weight": "net.0.weight", "bias": "net.0.bias"},
//!    {"name": "n", "op": "layer_norm", "inputs": ["h"], "eps": 1e-05, "weight": "norm.weight", "bias": null},
//!    {"name": "a", "op": "activation", "inputs": ["n"], "activation": "silu"},
//!    {"name": "s", "op": "slice", "inputs": ["a"], "start": 0, "len": 8}],
//!  "energy": [{"head": "logsumexp", "input": "s", "scale": -1.0}]}
//! ```
//!
//! A node's inputs name x, y, t (the landscape index, one feature set per stage, for an
//! energy E(x, y, t)) or an earlier node. `params` fixes the parameters' order (packing, training); `affine` nodes carry `scale`
//! and `shift`, `rms_norm` nodes `eps` and `weight`. A model that is an MLP also gets the
//! keys of format 1 (`ebm.activation`, `ebm.output`, tensors `layers.{i}.weight` and
//! `.bias`), so `ebm` 0.5 reads it too.
//!
//! Format 1 (`ebm` 0.5, no `ebm.format`): an MLP, its layers `layers.0` ... without gaps,
//! `ebm.activation` and optionally `ebm.output` (default identity). It loads unchanged.
//!
//! Tensors named `train.*` (a training checkpoint's own) are skipped.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use safetensors::SafeTensors;
use serde_json::{json, Map, Value};

use super::activation::{Activation, Output};
use super::model::{node_tensor, Layer, Model, Node, Param, Term, T, X, Y};
use super::ops::{Head, Op};
use crate::energy::tensors::{to_f32, write_f32};
use crate::error::{Error, Result};

const KEY_FORMAT: &str = "ebm.format";
const KEY_X_DIM: &str = "ebm.x_dim";
const KEY_Y_DIM: &str = "ebm.y_dim";
const KEY_GRAPH: &str = "ebm.graph";
const KEY_ACTIVATION: &str = "ebm.activation";
const KEY_OUTPUT: &str = "ebm.output";
/// The model-file format this version writes.
pub const FORMAT: u32 = 2;

impl Model {
    /// Reads a model from a safetensors file (format 1 or 2, see the README).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|message| Error::ModelFile {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Reads a model from the bytes of a safetensors file, as [`Model::load`] reads a file:
    /// a model held in memory, or a fuzzer's input. Errors are [`Error::ModelFile`] with
    /// the placeholder path `<bytes>` (there is no file to name), their message naming the
    /// tensor or metadata key at fault; malformed bytes give an error, never a panic, and
    /// nothing is allocated for a tensor beyond the bytes that hold it.
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Model> {
        Self::from_bytes(bytes).map_err(|message| Error::ModelFile {
            path: "<bytes>".into(),
            message,
        })
    }

    /// [`Model::from_safetensors_bytes`] with the bare message, for callers that name the
    /// file themselves.
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
        let read = |name: &str| -> std::result::Result<_, String> {
            let view = file
                .tensor(name)
                .map_err(|_| format!("tensor {name:?} is missing"))?;
            to_f32(&view).map_err(|e| format!("tensor {name:?} {e}"))
        };
        let model = match meta.get(KEY_FORMAT).map(|s| s.trim()) {
            None => read_mlp(&file, meta, x_dim, y_dim, &read)?,
            Some("2") => {
                let graph: Value = serde_json::from_str(get(KEY_GRAPH)?)
                    .map_err(|e| format!("metadata {KEY_GRAPH:?} is not JSON: {e}"))?;
                let model = read_graph(&graph, x_dim, y_dim, &read)
                    .map_err(|e| format!("metadata {KEY_GRAPH:?}: {e}"))?;
                let named: HashSet<&str> =
                    model.params.iter().map(|p| p.name.as_str()).collect();
                for name in sorted_names(&file) {
                    if !name.starts_with("train.") && !named.contains(name) {
                        return Err(format!(
                            "tensor {name:?} is not a parameter of the graph (its \"params\" list)"
                        ));
                    }
                }
                model
            }
            Some(other) => {
                return Err(format!(
                    "metadata {KEY_FORMAT:?} = {other:?}: this version reads formats 1 and 2 (a newer ebm wrote it?)"
                ))
            }
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

    /// The graph as format 2's `ebm.graph` JSON.
    pub fn graph_json(&self) -> String {
        graph_value(self).to_string()
    }

    /// A model from format 2's graph JSON (see the module's docs) and its parameters by
    /// name, each (shape, values): what an importer (`ebm_wgpu.Model.from_torch`) builds.
    /// Errors name the node, field or tensor at fault.
    pub fn from_graph(
        x_dim: usize,
        y_dim: usize,
        graph_json: &str,
        params: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> Result<Model> {
        let graph: Value = serde_json::from_str(graph_json)
            .map_err(|e| Error::Model(format!("the graph is not JSON: {e}")))?;
        let read = |name: &str| -> std::result::Result<crate::energy::tensors::F32Tensor, String> {
            let (shape, data) = params
                .get(name)
                .ok_or_else(|| format!("parameter {name:?} is missing"))?;
            Ok(crate::energy::tensors::F32Tensor {
                shape: shape.clone(),
                data: data.clone(),
            })
        };
        let model = read_graph(&graph, x_dim, y_dim, &read).map_err(Error::Model)?;
        let named: HashSet<&str> = model.params.iter().map(|p| p.name.as_str()).collect();
        let mut extra: Vec<&String> = params
            .keys()
            .filter(|k| !named.contains(k.as_str()))
            .collect();
        extra.sort();
        if let Some(extra) = extra.first() {
            return Err(Error::Model(format!(
                "parameter {extra:?} is not in the graph's \"params\" list"
            )));
        }
        model.validate()?;
        Ok(model)
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
        let mut tensors: Vec<(&str, Vec<usize>, &[f32])> = self
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.shape.clone(), &p.data[..]))
            .collect();
        tensors.extend(extra.iter().cloned());
        let mut metadata = HashMap::from([
            (KEY_FORMAT.to_string(), FORMAT.to_string()),
            (KEY_X_DIM.to_string(), self.x_dim.to_string()),
            (KEY_Y_DIM.to_string(), self.y_dim.to_string()),
            (KEY_GRAPH.to_string(), self.graph_json()),
        ]);
        if let Some(mlp) = self.as_mlp() {
            metadata.insert(KEY_ACTIVATION.into(), mlp.activation.to_string());
            metadata.insert(KEY_OUTPUT.into(), mlp.output.to_string());
        }
        metadata.extend(extra_metadata);
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        write_f32(&partial, &tensors, Some(metadata))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
    }
}

/// The file's tensor names in sorted order, so that an error names the same one each time.
fn sorted_names<'a>(file: &'a SafeTensors<'_>) -> Vec<&'a str> {
    let mut names = file.names();
    names.sort_unstable();
    names
}

type Read<'a> = dyn Fn(&str) -> std::result::Result<crate::energy::tensors::F32Tensor, String> + 'a;

/// A format-1 file: an MLP.
fn read_mlp(
    file: &SafeTensors<'_>,
    meta: &HashMap<String, String>,
    x_dim: usize,
    y_dim: usize,
    read: &Read<'_>,
) -> std::result::Result<Model, String> {
    let activation: Activation = meta
        .get(KEY_ACTIVATION)
        .ok_or_else(|| format!("metadata key {KEY_ACTIVATION:?} is missing"))?
        .parse()
        .map_err(|e: Error| format!("metadata {KEY_ACTIVATION:?}: {e}"))?;
    let output: Output = match meta.get(KEY_OUTPUT) {
        None => Output::Identity,
        Some(s) => s
            .parse()
            .map_err(|e: Error| format!("metadata {KEY_OUTPUT:?}: {e}"))?,
    };
    // Sets, not lists: a header of many tensors must not take quadratic time (issue 25).
    let names = sorted_names(file);
    let present: HashSet<&str> = names.iter().copied().collect();
    let mut n_layers = 0;
    while present.contains(format!("layers.{n_layers}.weight").as_str()) {
        n_layers += 1;
    }
    if n_layers == 0 {
        return Err("tensor \"layers.0.weight\" is missing".into());
    }
    // A training checkpoint's own tensors (crate::train::Checkpoint) ride along.
    let layer_names: HashSet<String> = (0..n_layers)
        .flat_map(|i| [format!("layers.{i}.weight"), format!("layers.{i}.bias")])
        .collect();
    for name in names.iter().filter(|n| !n.starts_with("train.")) {
        if !layer_names.contains(*name) {
            return Err(format!(
                "unexpected tensor {name:?}: layers must be numbered layers.0 .. layers.{} without gaps, each with .weight and .bias",
                n_layers - 1
            ));
        }
    }
    let mut layers = Vec::with_capacity(n_layers);
    for i in 0..n_layers {
        let w = read(&format!("layers.{i}.weight"))?;
        let b = read(&format!("layers.{i}.bias"))?;
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
    Model::mlp(x_dim, y_dim, layers, activation, output).map_err(|e| match e {
        Error::Model(m) => m,
        other => other.to_string(),
    })
}

/// Format 2's graph, its parameters read by `read`.
fn read_graph(
    graph: &Value,
    x_dim: usize,
    y_dim: usize,
    read: &Read<'_>,
) -> std::result::Result<Model, String> {
    let object = graph.as_object().ok_or("not a JSON object")?;
    let list = |key: &str| -> std::result::Result<&Vec<Value>, String> {
        object
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{key:?} is missing or not a list"))
    };
    let mut params = Vec::new();
    let mut param_index = HashMap::new();
    for (i, name) in list("params")?.iter().enumerate() {
        let name = name
            .as_str()
            .ok_or_else(|| format!("\"params\"[{i}] is not a string"))?;
        let t = read(name)?;
        if param_index.insert(name.to_string(), params.len()).is_some() {
            return Err(format!("\"params\" names {name:?} twice"));
        }
        params.push(Param {
            name: name.to_string(),
            shape: t.shape,
            data: t.data,
        });
    }
    let mut tensors: HashMap<String, usize> =
        HashMap::from([("x".into(), X), ("y".into(), Y), ("t".into(), T)]);
    let mut nodes = Vec::new();
    for (k, v) in list("nodes")?.iter().enumerate() {
        let node = v
            .as_object()
            .ok_or_else(|| format!("node {k} is not an object"))?;
        let name = node
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("node {k} has no \"name\""))?
            .to_string();
        let at = |what: String| format!("node {name:?}: {what}");
        let field = Fields {
            node,
            at: &at,
            params: &param_index,
        };
        let op_name = field.str("op")?;
        let op = match op_name {
            "linear" => Op::Linear {
                weight: field
                    .param("weight")?
                    .ok_or_else(|| at("needs a \"weight\"".into()))?,
                bias: field.param("bias")?,
            },
            "activation" => Op::Activation(
                field
                    .str("activation")?
                    .parse()
                    .map_err(|e: Error| at(e.to_string()))?,
            ),
            "affine" => Op::Affine {
                scale: field.number("scale")?,
                shift: field.number("shift")?,
            },
            "add" => Op::Add,
            "sub" => Op::Sub,
            "mul" => Op::Mul,
            "layer_norm" => Op::LayerNorm {
                eps: field.number("eps")?,
                weight: field.param("weight")?,
                bias: field.param("bias")?,
            },
            "rms_norm" => Op::RmsNorm {
                eps: field.number("eps")?,
                weight: field.param("weight")?,
            },
            "concat" => Op::Concat,
            "slice" => Op::Slice {
                start: field.whole("start")?,
                len: field.whole("len")?,
            },
            other => {
                return Err(at(format!(
                    "unknown op {other:?}; expected one of {}",
                    super::ops::OP_NAMES.join(", ")
                )))
            }
        };
        let inputs = node
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or_else(|| at("\"inputs\" is missing or not a list".into()))?
            .iter()
            .map(|i| {
                let i = i
                    .as_str()
                    .ok_or_else(|| at("an input is not a name".into()))?;
                tensors.get(i).copied().ok_or_else(|| {
                    at(format!(
                        "reads {i:?}, which is not x, y, t or an earlier node"
                    ))
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if tensors.insert(name.clone(), node_tensor(k)).is_some() {
            return Err(at(
                "the name is used twice (x, y and t name the inputs)".into()
            ));
        }
        nodes.push(Node { name, op, inputs });
    }
    let mut energy = Vec::new();
    for (i, v) in list("energy")?.iter().enumerate() {
        let at = |what: String| format!("energy term {i}: {what}");
        let term = v.as_object().ok_or_else(|| at("not an object".into()))?;
        let head = term
            .get("head")
            .and_then(Value::as_str)
            .ok_or_else(|| at("has no \"head\"".into()))?;
        let head = Head::from_name(head).ok_or_else(|| {
            let names: Vec<_> = Head::ALL.iter().map(|h| h.name()).collect();
            at(format!(
                "unknown head {head:?}; expected one of {}",
                names.join(", ")
            ))
        })?;
        let input = term
            .get("input")
            .and_then(Value::as_str)
            .ok_or_else(|| at("has no \"input\"".into()))?;
        let input = *tensors
            .get(input)
            .ok_or_else(|| at(format!("reads {input:?}, which the graph lacks")))?;
        let scale = match term.get("scale") {
            None => 1.0,
            Some(v) => {
                v.as_f64()
                    .ok_or_else(|| at("\"scale\" is not a number".into()))? as f32
            }
        };
        energy.push(Term { head, input, scale });
    }
    Ok(Model {
        x_dim,
        y_dim,
        nodes,
        energy,
        params,
    })
}

/// The fields of one node of the JSON graph, read with errors that name the node.
struct Fields<'a> {
    node: &'a Map<String, Value>,
    at: &'a dyn Fn(String) -> String,
    params: &'a HashMap<String, usize>,
}

impl Fields<'_> {
    fn str(&self, key: &str) -> std::result::Result<&str, String> {
        self.node
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| (self.at)(format!("{key:?} is missing or not a string")))
    }

    fn number(&self, key: &str) -> std::result::Result<f32, String> {
        self.node
            .get(key)
            .and_then(Value::as_f64)
            .map(|v| v as f32)
            .ok_or_else(|| (self.at)(format!("{key:?} is missing or not a number")))
    }

    fn whole(&self, key: &str) -> std::result::Result<usize, String> {
        self.node
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| (self.at)(format!("{key:?} is missing or not a whole number")))
    }

    /// A parameter named by `key`, or None where the key is absent or null.
    fn param(&self, key: &str) -> std::result::Result<Option<usize>, String> {
        match self.node.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(name)) => {
                self.params.get(name).copied().map(Some).ok_or_else(|| {
                    (self.at)(format!(
                        "its {key} {name:?} is not in the graph's \"params\" list"
                    ))
                })
            }
            Some(_) => Err((self.at)(format!("{key:?} is not a parameter's name"))),
        }
    }
}

/// Format 2's graph JSON of `model`.
fn graph_value(model: &Model) -> Value {
    let tensor = |t: usize| Value::from(model.tensor_name(t));
    let param =
        |p: Option<usize>| p.map_or(Value::Null, |p| Value::from(model.params[p].name.clone()));
    let nodes: Vec<Value> = model
        .nodes
        .iter()
        .map(|node| {
            let mut v = json!({
                "name": node.name,
                "op": node.op.name(),
                "inputs": node.inputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
            });
            let fields = v.as_object_mut().unwrap();
            let mut set = |k: &str, value: Value| {
                fields.insert(k.into(), value);
            };
            match node.op {
                Op::Linear { weight, bias } => {
                    set("weight", param(Some(weight)));
                    set("bias", param(bias));
                }
                Op::Activation(a) => set("activation", a.name().into()),
                Op::Affine { scale, shift } => {
                    set("scale", f64::from(scale).into());
                    set("shift", f64::from(shift).into());
                }
                Op::LayerNorm { eps, weight, bias } => {
                    set("eps", f64::from(eps).into());
                    set("weight", param(weight));
                    set("bias", param(bias));
                }
                Op::RmsNorm { eps, weight } => {
                    set("eps", f64::from(eps).into());
                    set("weight", param(weight));
                }
                Op::Slice { start, len } => {
                    set("start", start.into());
                    set("len", len.into());
                }
                Op::Add | Op::Sub | Op::Mul | Op::Concat => {}
            }
            v
        })
        .collect();
    let energy: Vec<Value> = model
        .energy
        .iter()
        .map(|t| json!({"head": t.head.name(), "input": tensor(t.input), "scale": f64::from(t.scale)}))
        .collect();
    json!({
        "params": model.params.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "nodes": nodes,
        "energy": energy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::{samples, ModelSpec};

    fn round_trip(model: &Model) -> Model {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        model.save(&path).unwrap();
        Model::load(&path).unwrap()
    }

    #[test]
    fn graphs_survive_the_file() {
        for (name, model) in samples::every_kind() {
            assert_eq!(round_trip(&model), model, "{name}");
        }
    }

    #[test]
    fn mlps_keep_the_keys_of_format_1() {
        let spec = ModelSpec {
            x_dim: 2,
            y_dim: 3,
            hidden: vec![4],
            outputs: 2,
            activation: Activation::Tanh,
            output: Output::Square,
        };
        let model = Model::random(&spec, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        model.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().as_ref().unwrap();
        assert_eq!(meta[KEY_FORMAT], "2");
        assert_eq!(meta[KEY_ACTIVATION], "tanh");
        assert_eq!(meta[KEY_OUTPUT], "square");
        assert_eq!(Model::load(&path).unwrap(), model);
    }

    /// A file as ebm 0.5 wrote it (no format key, no graph) loads as the MLP it holds.
    #[test]
    fn files_of_format_1_load_unchanged() {
        let layers = [(5usize, 4usize), (4, 1)];
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        for (i, (n_in, n_out)) in layers.iter().enumerate() {
            let w: Vec<f32> = (0..n_in * n_out).map(|k| 0.1 * k as f32 - 0.5).collect();
            tensors.push((format!("layers.{i}.weight"), vec![*n_out, *n_in], w));
            tensors.push((format!("layers.{i}.bias"), vec![*n_out], vec![0.25; *n_out]));
        }
        let views: Vec<(&str, Vec<usize>, &[f32])> = tensors
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.clone(), &d[..]))
            .collect();
        let meta = HashMap::from([
            (KEY_X_DIM.to_string(), "2".to_string()),
            (KEY_Y_DIM.to_string(), "3".to_string()),
            (KEY_ACTIVATION.to_string(), "silu".to_string()),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.safetensors");
        write_f32(&path, &views, Some(meta)).unwrap();
        let model = Model::load(&path).unwrap();
        let mlp = model.as_mlp().unwrap();
        assert_eq!(
            (mlp.activation, mlp.output),
            (Activation::Silu, Output::Identity)
        );
        assert_eq!(mlp.layers.len(), 2);
        assert_eq!(mlp.layers[0].weight, tensors[0].2);
    }

    fn load_graph(graph: &str, params: &[(&str, Vec<usize>)]) -> Result<Model> {
        let params = params
            .iter()
            .map(|(n, s)| {
                let len = s.iter().product();
                (n.to_string(), (s.clone(), vec![0.5f32; len]))
            })
            .collect();
        Model::from_graph(2, 3, graph, &params)
    }

    /// A graph's JSON, its parameters' names and shapes, and the error it must give.
    type BadCase<'a> = (&'a str, Vec<(&'a str, Vec<usize>)>, &'a str);

    #[test]
    fn bad_graphs_are_named() {
        let w = ("w", vec![4, 5]);
        let cases: [BadCase; 7] = [
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "conv", "inputs": ["x"]}], "energy": []}"#,
                vec![w.clone()],
                "node \"h\": unknown op \"conv\"",
            ),
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "linear", "inputs": ["x", "z"], "weight": "w"}], "energy": []}"#,
                vec![w.clone()],
                "reads \"z\", which is not x, y, t or an earlier node",
            ),
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "linear", "inputs": ["x", "y"], "weight": "v"}], "energy": []}"#,
                vec![w.clone()],
                "its weight \"v\" is not in the graph's \"params\" list",
            ),
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "linear", "inputs": ["x"], "weight": "w"}], "energy": [{"head": "sum", "input": "h"}]}"#,
                vec![w.clone()],
                "expected [out, 2]",
            ),
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "linear", "inputs": ["x", "y"], "weight": "w"}], "energy": [{"head": "max", "input": "h"}]}"#,
                vec![w.clone()],
                "energy term 0: unknown head \"max\"",
            ),
            (
                r#"{"params": ["w"], "nodes": [{"name": "h", "op": "slice", "inputs": ["y"], "start": 2, "len": 4}], "energy": [{"head": "sum", "input": "h"}]}"#,
                vec![w.clone()],
                "takes features [2, 6) of a tensor 3 wide",
            ),
            (
                r#"{"params": ["w", "extra"], "nodes": [], "energy": []}"#,
                vec![w.clone()],
                "parameter \"extra\" is missing",
            ),
        ];
        for (graph, params, want) in cases {
            let err = load_graph(graph, &params).unwrap_err().to_string();
            assert!(err.contains(want), "{err}\n  expected: {want}");
        }
        let err = load_graph("[1, 2", &[]).unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    /// A file's bytes: one float32 tensor `w` of shape [1] and the metadata of format 2.
    fn graph_file(x_dim: &str, y_dim: &str, graph: &str) -> Vec<u8> {
        let w = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![1],
            bytemuck::cast_slice(&[0.5f32]),
        )
        .unwrap();
        let meta = HashMap::from([
            (KEY_FORMAT.to_string(), "2".to_string()),
            (KEY_X_DIM.to_string(), x_dim.to_string()),
            (KEY_Y_DIM.to_string(), y_dim.to_string()),
            (KEY_GRAPH.to_string(), graph.to_string()),
        ]);
        safetensors::serialize([("w", w)], Some(meta)).unwrap()
    }

    /// Dims and slices near usize::MAX are errors, not overflows (issue 25, fuzz/).
    #[test]
    fn huge_widths_are_errors_from_bytes() {
        let max = usize::MAX.to_string();
        let concat = r#"{"params": ["w"], "nodes": [{"name": "c", "op": "concat", "inputs": ["x", "y"]}], "energy": [{"head": "sum", "input": "c"}]}"#;
        let slice = r#"{"params": ["w"], "nodes": [{"name": "s", "op": "slice", "inputs": ["y"], "start": 18446744073709551615, "len": 2}], "energy": [{"head": "sum", "input": "s"}]}"#;
        let cases = [
            (
                graph_file(&max, "1", concat),
                "its inputs' widths [18446744073709551615, 1] overflow together",
            ),
            (
                graph_file("1", "3", slice),
                "takes features [18446744073709551615, 18446744073709551617) of a tensor 3 wide",
            ),
        ];
        for (bytes, want) in cases {
            let err = Model::from_safetensors_bytes(&bytes).unwrap_err();
            assert!(matches!(&err, Error::ModelFile { path, .. } if path.as_os_str() == "<bytes>"));
            let err = err.to_string();
            assert!(
                err.starts_with("model <bytes>: ") && err.contains(want),
                "{err}\n  expected: {want}"
            );
        }
        let sum = r#"{"params": ["w"], "nodes": [], "energy": [{"head": "sum", "input": "y"}]}"#;
        // A width the kernels' 32-bit indices cannot reach is refused, not truncated.
        let wide = (1usize << 32).to_string();
        let err = Model::from_safetensors_bytes(&graph_file("0", &wide, sum))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tensor \"y\" has 4294967296 features; ebm handles at most 16777216"),
            "{err}"
        );
        let model = Model::from_safetensors_bytes(&graph_file("0", "2", sum)).unwrap();
        assert_eq!((model.x_dim, model.y_dim, model.params.len()), (0, 2, 1));
        let err = Model::from_safetensors_bytes(b"junk")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a readable safetensors file"), "{err}");
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.safetensors");
        let meta = HashMap::from([
            (KEY_FORMAT.to_string(), "3".to_string()),
            (KEY_X_DIM.to_string(), "1".to_string()),
            (KEY_Y_DIM.to_string(), "1".to_string()),
        ]);
        write_f32(&path, &[("w", vec![1], &[1.0][..])], Some(meta)).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("\"3\"") && err.contains("formats 1 and 2"),
            "{err}"
        );
    }
}
