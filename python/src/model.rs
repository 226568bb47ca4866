//! `Model`: an energy graph and its parameters, loaded, saved, drawn at random, built from
//! MLP layers, from a graph and named parameters (what `from_torch` gives), or read back
//! as a graph.

use std::collections::HashMap;

use ebm::{Activation, Layer, ModelSpec, Output};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::arrays::f32_array;
use crate::errors::plain;

/// An energy E(x, y): a graph of ops from the observation x (`x_dim` values, 0 for an
/// unconditional model) and the answer y (`y_dim`) to a sum of energy terms, with named
/// parameters. An MLP over concat(x, y) (`random`, `from_layers`, an `nn.Sequential` in
/// `from_torch`) is one such graph; `activation`, `output`, `weights` and `biases` describe
/// it, and are None for a graph that is not an MLP (see `graph` and `params`).
#[pyclass(module = "ebm_wgpu", frozen, eq)]
#[derive(PartialEq)]
pub struct Model {
    pub(crate) inner: ebm::Model,
}

/// `obj` as float32 values of rank `ndim` and its shape (`ebm_wgpu._arrays.as_float32`).
fn floats(
    py: Python<'_>,
    name: &str,
    obj: &Bound<'_, PyAny>,
    ndim: Option<usize>,
) -> PyResult<(Vec<f32>, Vec<usize>)> {
    let helper = py.import("ebm_wgpu._arrays")?;
    let array = helper.call_method1("as_float32", (name, obj, ndim))?;
    let array: PyReadonlyArrayDyn<'_, f32> = array.extract()?;
    Ok((array.as_slice()?.to_vec(), array.shape().to_vec()))
}

fn parse<T: std::str::FromStr<Err = ebm::Error>>(s: &str) -> PyResult<T> {
    s.parse::<T>().map_err(plain)
}

impl Model {
    /// A model from format 2's graph JSON and the parameters by name (any float arrays).
    pub(crate) fn build_from_graph(
        py: Python<'_>,
        graph: &Bound<'_, PyAny>,
        x_dim: usize,
        y_dim: usize,
        params: &Bound<'_, PyAny>,
    ) -> PyResult<Model> {
        let json = if let Ok(s) = graph.cast::<PyString>() {
            s.to_string()
        } else if graph.is_instance_of::<PyDict>() {
            py.import("json")?
                .call_method1("dumps", (graph,))?
                .extract::<String>()?
        } else {
            return Err(PyValueError::new_err(format!(
                "graph: {} is neither a dict nor a JSON string (format 2's \"ebm.graph\")",
                graph.get_type().name()?
            )));
        };
        let params = params.cast::<PyDict>().map_err(|_| {
            PyValueError::new_err("params: expected a dict of parameter name -> float array")
        })?;
        let mut named = HashMap::with_capacity(params.len());
        for (name, value) in params.iter() {
            let name: String = name
                .extract()
                .map_err(|_| PyValueError::new_err("params: every key must be a str"))?;
            let (data, shape) = floats(py, &name, &value, None)?;
            named.insert(name, (shape, data));
        }
        let inner = ebm::Model::from_graph(x_dim, y_dim, &json, &named).map_err(plain)?;
        Ok(Model { inner })
    }
}

#[pymethods]
impl Model {
    /// Loads a safetensors model file (`ebm`'s formats 1 and 2; see the README's "The
    /// model file").
    #[staticmethod]
    fn load(path: std::path::PathBuf) -> PyResult<Model> {
        Ok(Model {
            inner: ebm::Model::load(path).map_err(plain)?,
        })
    }

    /// Writes the model as a safetensors file (format 2: the graph in the metadata, each
    /// parameter a tensor under its name; an MLP also gets format 1's keys).
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.inner.save(path).map_err(plain)
    }

    /// Random weights (PyTorch's `nn.Linear` initialisation) of an MLP with the `hidden`
    /// widths; `outputs` is the last layer's width (1 unless the output is `square`).
    #[staticmethod]
    #[pyo3(signature = (x_dim, y_dim, hidden, *, activation="silu", output="softplus", outputs=1, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn random(
        x_dim: usize,
        y_dim: usize,
        hidden: Vec<usize>,
        activation: &str,
        output: &str,
        outputs: usize,
        seed: u64,
    ) -> PyResult<Model> {
        let spec = ModelSpec {
            x_dim,
            y_dim,
            hidden,
            outputs,
            activation: parse::<Activation>(activation)?,
            output: parse::<Output>(output)?,
        };
        Ok(Model {
            inner: ebm::Model::random(&spec, seed).map_err(plain)?,
        })
    }

    /// An MLP from its layers: `weights[i]` is layer i's `[out, in]` matrix (PyTorch's
    /// `Linear.weight`), `biases[i]` its `[out]` bias (any float array; converted to
    /// float32). Its parameters are named `layers.{i}.weight` and `layers.{i}.bias`.
    /// Checked as a loaded file is.
    #[staticmethod]
    #[pyo3(signature = (x_dim, y_dim, weights, biases, *, activation, output))]
    fn from_layers(
        py: Python<'_>,
        x_dim: usize,
        y_dim: usize,
        weights: Vec<Bound<'_, PyAny>>,
        biases: Vec<Bound<'_, PyAny>>,
        activation: &str,
        output: &str,
    ) -> PyResult<Model> {
        if weights.len() != biases.len() {
            return Err(PyValueError::new_err(format!(
                "{} weights but {} biases: one of each per layer",
                weights.len(),
                biases.len()
            )));
        }
        let mut layers = Vec::with_capacity(weights.len());
        for (i, (w, b)) in weights.iter().zip(&biases).enumerate() {
            let (weight, shape) = floats(py, &format!("layers.{i}.weight"), w, Some(2))?;
            let (bias, _) = floats(py, &format!("layers.{i}.bias"), b, Some(1))?;
            layers.push(Layer {
                n_in: shape[1],
                n_out: shape[0],
                weight,
                bias,
            });
        }
        let inner = ebm::Model::mlp(
            x_dim,
            y_dim,
            layers,
            parse::<Activation>(activation)?,
            parse::<Output>(output)?,
        )
        .map_err(plain)?;
        Ok(Model { inner })
    }

    /// A model from a graph (format 2's `ebm.graph`, as a dict or a JSON string: see
    /// `Model.graph`) and its parameters, a dict of name -> float array of any rank
    /// (converted to float32), exactly the graph's "params". Errors name the node, field
    /// or parameter at fault.
    #[staticmethod]
    #[pyo3(signature = (graph, x_dim, y_dim, params))]
    fn from_graph(
        py: Python<'_>,
        graph: &Bound<'_, PyAny>,
        x_dim: usize,
        y_dim: usize,
        params: &Bound<'_, PyAny>,
    ) -> PyResult<Model> {
        Model::build_from_graph(py, graph, x_dim, y_dim, params)
    }

    /// The model of a PyTorch module, reading `x_dim` observed values and `y_dim` answer
    /// values. A module whose `forward(x, y)` returns the energy `[B]` is traced with
    /// `torch.fx` and its graph mapped to ebm's ops (`output` must then be None); an
    /// `nn.Sequential` of `nn.Linear` layers with one activation type between them (or a
    /// module whose one-argument forward only calls its `.layers` or `.net`, one such) is
    /// read as an MLP over concat(x, y), `output` ("identity", the default, "softplus" or
    /// "square") turning its outputs into the energy. Anything ebm could not reproduce
    /// raises `ValueError` naming the op and the traced node.
    #[staticmethod]
    #[pyo3(signature = (module, x_dim, y_dim, output=None))]
    fn from_torch(
        py: Python<'_>,
        module: &Bound<'_, PyAny>,
        x_dim: usize,
        y_dim: usize,
        output: Option<&str>,
    ) -> PyResult<Model> {
        let helper = py.import("ebm_wgpu._torch")?;
        let imported = helper.call_method1("to_ebm", (module, x_dim, y_dim, output))?;
        let graph = imported.getattr("graph")?;
        let params = imported.getattr("params")?;
        Model::build_from_graph(py, &graph, x_dim, y_dim, &params)
    }

    /// Observed values per chain.
    #[getter]
    fn x_dim(&self) -> usize {
        self.inner.x_dim
    }

    /// Answer values per chain.
    #[getter]
    fn y_dim(&self) -> usize {
        self.inner.y_dim
    }

    /// The activation between layers of an MLP; None for a graph that is not an MLP.
    #[getter]
    fn activation(&self) -> Option<String> {
        self.inner.as_mlp().map(|m| m.activation.to_string())
    }

    /// An MLP's output: identity, softplus or square; None for a graph that is not an MLP.
    #[getter]
    fn output(&self) -> Option<String> {
        self.inner.as_mlp().map(|m| m.output.to_string())
    }

    /// Each layer's `[out, in]` weight of an MLP, as NumPy arrays (copies); None for a
    /// graph that is not an MLP (see `params`).
    #[getter]
    fn weights(&self, py: Python<'_>) -> PyResult<Option<Vec<Py<PyAny>>>> {
        let Some(mlp) = self.inner.as_mlp() else {
            return Ok(None);
        };
        mlp.layers
            .into_iter()
            .map(|l| f32_array(py, l.weight, &[l.n_out, l.n_in]))
            .collect::<PyResult<_>>()
            .map(Some)
    }

    /// Each layer's `[out]` bias of an MLP, as NumPy arrays (copies); None for a graph
    /// that is not an MLP.
    #[getter]
    fn biases(&self, py: Python<'_>) -> PyResult<Option<Vec<Py<PyAny>>>> {
        let Some(mlp) = self.inner.as_mlp() else {
            return Ok(None);
        };
        mlp.layers
            .into_iter()
            .map(|l| f32_array(py, l.bias, &[l.n_out]))
            .collect::<PyResult<_>>()
            .map(Some)
    }

    /// The graph as a dict (format 2's `ebm.graph`): `params` (the parameters' names in
    /// packing order), `nodes` (each `name`, `op`, `inputs` and the op's fields) and
    /// `energy` (terms `head`, `input`, `scale`). `Model.from_graph(m.graph, m.x_dim,
    /// m.y_dim, m.params)` rebuilds the model.
    #[getter]
    fn graph(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py
            .import("json")?
            .call_method1("loads", (self.inner.graph_json(),))?
            .unbind())
    }

    /// The parameters, name -> float32 NumPy array of its shape (copies), in packing order.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for p in &self.inner.params {
            out.set_item(&p.name, f32_array(py, p.data.clone(), &p.shape)?)?;
        }
        Ok(out)
    }

    /// Pickling (Ray sends models to its actors this way): the graph and its parameters.
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let rebuild = py.import("ebm_wgpu")?.getattr("_rebuild_graph")?;
        let args = (
            self.inner.graph_json(),
            self.inner.x_dim,
            self.inner.y_dim,
            self.params(py)?,
        )
            .into_pyobject(py)?;
        Ok((rebuild.unbind(), args.into_any().unbind()))
    }

    fn __repr__(&self) -> String {
        format!("Model({})", self.inner.shape())
    }
}

/// The op table of energy graphs: each op kind of ebm's model files, with the PyTorch
/// spellings the importer (`Model.from_torch`) maps to it (`ebm::energy::TORCH_NAMES`).
#[pyfunction]
pub fn _ops<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (kind, names) in ebm::energy::TORCH_NAMES {
        out.set_item(*kind, pyo3::types::PyTuple::new(py, names.iter())?)?;
    }
    Ok(out)
}
