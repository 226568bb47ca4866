//! `Context` (the GPU: adapter choice, device and queue) and `adapters()`.

use ebm::AdapterChoice;
use pyo3::prelude::*;

use crate::errors::plain;

/// The GPU an engine runs on: an adapter, its device and queue. Shared by every engine made
/// on it.
#[pyclass(module = "ebm_wgpu", frozen)]
pub struct Context {
    pub(crate) inner: ebm::Context,
}

/// An adapter as Python shows it: "name (backend, kind)".
fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

#[pymethods]
impl Context {
    /// Opens a GPU adapter. `adapter`: a case-insensitive part of its name; `backend`:
    /// "vulkan", "metal", "dx12" or "gl" (comma-separated for several). Either left out
    /// reads `WGPU_ADAPTER_NAME` / `WGPU_BACKEND` as the command line does, else the best
    /// adapter there is (discrete GPUs first). Raises `EbmError` when none matches.
    #[new]
    #[pyo3(signature = (adapter=None, backend=None))]
    fn new(py: Python<'_>, adapter: Option<String>, backend: Option<String>) -> PyResult<Self> {
        let choice = AdapterChoice::new(backend.as_deref(), adapter.as_deref()).map_err(plain)?;
        let inner = py
            .detach(|| ebm::Context::with_choice(&choice))
            .map_err(plain)?;
        Ok(Context { inner })
    }

    /// The adapter's name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    #[getter]
    fn adapter(&self) -> String {
        self.inner.adapter_info().name.clone()
    }

    /// The backend in use: "Vulkan", "Metal", "Dx12" or "Gl".
    #[getter]
    fn backend(&self) -> String {
        format!("{:?}", self.inner.adapter_info().backend)
    }

    fn __repr__(&self) -> String {
        format!("Context({})", describe(self.inner.adapter_info()))
    }
}

/// Every adapter wgpu sees, as "name (backend, kind)", the one `Context()` opens first.
/// `backend` as in `Context`.
#[pyfunction]
#[pyo3(signature = (backend=None))]
pub fn adapters(py: Python<'_>, backend: Option<String>) -> PyResult<Vec<String>> {
    let choice = AdapterChoice::new(backend.as_deref(), None).map_err(plain)?;
    let (infos, chosen) = py.detach(|| ebm::adapters_for(&choice));
    let mut out: Vec<String> = Vec::with_capacity(infos.len());
    if let Some(k) = chosen {
        out.push(describe(&infos[k]));
    }
    out.extend(
        infos
            .iter()
            .enumerate()
            .filter(|(k, _)| Some(*k) != chosen)
            .map(|(_, i)| describe(i)),
    );
    Ok(out)
}
