//! `ebm_wgpu._native`: the Python face of the `ebm` library (PyO3). The package
//! `ebm_wgpu` re-exports these classes beside its Python parts (array conversion,
//! `from_torch`'s reading of PyTorch modules, sharding on Ray).

mod arrays;
mod context;
mod engine;
mod errors;
mod model;
mod options;
mod results;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<context::Context>()?;
    m.add_class::<model::Model>()?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::Progress>()?;
    m.add_class::<results::Evaluation>()?;
    m.add_class::<results::Refinement>()?;
    m.add_class::<results::BestOf>()?;
    m.add_class::<train::Trainer>()?;
    m.add_class::<options::Stage>()?;
    m.add_function(wrap_pyfunction!(context::adapters, m)?)?;
    m.add_function(wrap_pyfunction!(model::_ops, m)?)?;
    m.add("EbmError", m.py().get_type::<errors::EbmError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
