//! `Model`: the energy's weights, loaded, saved, drawn at random or built from layers (what
//! `from_torch` gives).

use ebm::{Activation, Layer, ModelSpec, Output};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::f32_array;
use crate::errors::plain;

/// An energy E(x, y) = out(MLP(concat(x, y))): `x_dim` observed values, then `y_dim`
/// answer values, dense layers with one activation between them, and an output
/// (`identity`, `softplus` or `square`: E = |f|^2 over the last layer's outputs).
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
    ndim: usize,
) -> PyResult<(Vec<f32>, Vec<usize>)> {
    let helper = py.import("ebm_wgpu._arrays")?;
    let array = helper.call_method1("as_float32", (name, obj, ndim))?;
    let array: PyReadonlyArrayDyn<'_, f32> = array.extract()?;
    Ok((array.as_slice()?.to_vec(), array.shape().to_vec()))
}

fn parse<T: std::str::FromStr<Err = ebm::Error>>(s: &str) -> PyResult<T> {
    s.parse::<T>().map_err(plain)
}

#[pymethods]
impl Model {
    /// Loads a safetensors model file (`ebm`'s layout; see the README's "The model file").
    #[staticmethod]
    fn load(path: std::path::PathBuf) -> PyResult<Model> {
        Ok(Model {
            inner: ebm::Model::load(path).map_err(plain)?,
        })
    }

    /// Writes the model as a safetensors file.
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

    /// A model from its layers: `weights[i]` is layer i's `[out, in]` matrix (PyTorch's
    /// `Linear.weight`), `biases[i]` its `[out]` bias (any float array; converted to
    /// float32). Checked as a loaded file is.
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
            let (weight, shape) = floats(py, &format!("layers.{i}.weight"), w, 2)?;
            let (bias, _) = floats(py, &format!("layers.{i}.bias"), b, 1)?;
            layers.push(Layer {
                n_in: shape[1],
                n_out: shape[0],
                weight,
                bias,
            });
        }
        let inner = ebm::Model {
            x_dim,
            y_dim,
            activation: parse::<Activation>(activation)?,
            output: parse::<Output>(output)?,
            layers,
        };
        inner.validate().map_err(plain)?;
        Ok(Model { inner })
    }

    /// The model of a PyTorch `nn.Sequential` of `nn.Linear` layers with one activation
    /// type between them (or a module whose `.layers` or `.net` is one), reading the first
    /// `x_dim` inputs as x and the next `y_dim` as y; `output` is "identity", "softplus"
    /// or "square". The same rules as `examples/export_pytorch.py`: anything ebm could not
    /// reproduce (dropout, normalisation, mixed activations) raises `ValueError`.
    #[staticmethod]
    #[pyo3(signature = (module, x_dim, y_dim, output="identity"))]
    fn from_torch(
        py: Python<'_>,
        module: &Bound<'_, PyAny>,
        x_dim: usize,
        y_dim: usize,
        output: &str,
    ) -> PyResult<Model> {
        let helper = py.import("ebm_wgpu._torch")?;
        let (weights, biases, activation): (Vec<Bound<'_, PyAny>>, Vec<Bound<'_, PyAny>>, String) =
            helper
                .call_method1("layers_for_ebm", (module, x_dim, y_dim, output))?
                .extract()?;
        Model::from_layers(py, x_dim, y_dim, weights, biases, &activation, output)
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

    /// The activation between layers.
    #[getter]
    fn activation(&self) -> String {
        self.inner.activation.to_string()
    }

    /// The output: identity, softplus or square.
    #[getter]
    fn output(&self) -> String {
        self.inner.output.to_string()
    }

    /// Each layer's `[out, in]` weight, as NumPy arrays (copies).
    #[getter]
    fn weights(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.inner
            .layers
            .iter()
            .map(|l| f32_array(py, l.weight.clone(), &[l.n_out, l.n_in]))
            .collect()
    }

    /// Each layer's `[out]` bias, as NumPy arrays (copies).
    #[getter]
    fn biases(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.inner
            .layers
            .iter()
            .map(|l| f32_array(py, l.bias.clone(), &[l.n_out]))
            .collect()
    }

    /// Pickling (Ray sends models to its actors this way): the layers as arrays.
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let rebuild = py.import("ebm_wgpu")?.getattr("_rebuild_model")?;
        let args = (
            self.inner.x_dim,
            self.inner.y_dim,
            self.weights(py)?,
            self.biases(py)?,
            self.activation(),
            self.output(),
        )
            .into_pyobject(py)?;
        Ok((rebuild.unbind(), args.into_any().unbind()))
    }

    fn __repr__(&self) -> String {
        format!("Model({})", self.inner.shape())
    }
}
