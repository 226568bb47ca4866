//! Arrays in and out. What users hold (NumPy arrays of any layout, CPU PyTorch tensors,
//! anything with `__dlpack__` or the buffer protocol) is checked and made a C-contiguous
//! float32 array by `ebm_wgpu._arrays` (in Python, where NumPy and DLPack live), then
//! copied here so the GPU work runs without the GIL; results go back as NumPy arrays.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyAny;

/// `obj` as `[rows, width]` float32 rows, checked by `ebm_wgpu._arrays.as_rows` (which
/// raises `TypeError` or `ValueError` naming `name`): the values and the row count.
pub fn rows(
    py: Python<'_>,
    name: &str,
    obj: &Bound<'_, PyAny>,
    width: usize,
    what: &str,
) -> PyResult<(Vec<f32>, usize)> {
    let helper = py.import("ebm_wgpu._arrays")?;
    let array = helper.call_method1("as_rows", (name, obj, width, what))?;
    let array: PyReadonlyArray2<'_, f32> = array.extract()?;
    let n = array.shape()[0];
    Ok((array.as_slice()?.to_vec(), n))
}

/// `obj` as a boolean mask of `[rows, width]` (`ebm_wgpu._arrays.as_mask`).
pub fn mask(
    py: Python<'_>,
    name: &str,
    obj: &Bound<'_, PyAny>,
    rows: usize,
    width: usize,
) -> PyResult<Vec<bool>> {
    let helper = py.import("ebm_wgpu._arrays")?;
    let array = helper.call_method1("as_mask", (name, obj, rows, width))?;
    let array: PyReadonlyArray2<'_, bool> = array.extract()?;
    Ok(array.as_slice()?.to_vec())
}

/// A float32 NumPy array of shape `shape` holding `values`.
pub fn f32_array(py: Python<'_>, values: Vec<f32>, shape: &[usize]) -> PyResult<Py<PyAny>> {
    Ok(PyArray1::from_vec(py, values)
        .reshape(shape.to_vec())?
        .into_any()
        .unbind())
}

/// An int32 NumPy array of shape `shape` holding `values` (counts, indices; the command
/// line's int32 tensors), each saturated at `i32::MAX`.
pub fn i32_array(
    py: Python<'_>,
    values: impl IntoIterator<Item = i64>,
    shape: &[usize],
) -> PyResult<Py<PyAny>> {
    let v: Vec<i32> = values
        .into_iter()
        .map(|k| i32::try_from(k).unwrap_or(i32::MAX))
        .collect();
    Ok(PyArray1::from_vec(py, v)
        .reshape(shape.to_vec())?
        .into_any()
        .unbind())
}
