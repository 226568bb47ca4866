//! Reading and writing float tensors in safetensors files: dtype conversion on load, and
//! output files written whole.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};

/// A tensor read as float32: its shape and values, row-major.
pub struct F32Tensor {
    /// The shape as stored.
    pub shape: Vec<usize>,
    /// The values, converted to float32.
    pub data: Vec<f32>,
}

/// Converts a stored tensor of dtype F32, F16, BF16 or F64 to float32.
pub fn to_f32(view: &TensorView<'_>) -> std::result::Result<F32Tensor, String> {
    let bytes = view.data();
    let data: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(format!(
                "has dtype {other:?}; expected F32, F16, BF16 or F64"
            ))
        }
    };
    Ok(F32Tensor {
        shape: view.shape().to_vec(),
        data,
    })
}

/// Writes float32 tensors and string metadata to `path` as one safetensors file.
pub fn write_f32(
    path: &Path,
    tensors: &[(&str, Vec<usize>, &[f32])],
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data))
                .map(|v| (name.to_string(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let bytes = safetensors::serialize(views, metadata)
        .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    write_serialized(path, bytes)
}

/// Writes a safetensors file, as `safetensors::serialize` made it, to `path` with its
/// JSON header's keys in sorted order, as [`write_f32`] does: for files of other dtypes
/// (the command line's int32 counts) that must be as reproducible, the same tensors and
/// metadata giving the same bytes from run to run.
pub fn write_serialized(path: &Path, bytes: Vec<u8>) -> Result<()> {
    std::fs::write(path, sorted_header(bytes)).map_err(|e| Error::io(path, e))
}

/// The file with its JSON header's keys in sorted order: safetensors writes the metadata
/// map in a hash map's order, which changes from process to process, and the same tensors
/// should give the same bytes (a reproducible run, a checksum).
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + len) else {
        return bytes;
    };
    // serde_json's maps are ordered by key (BTreeMap; the crate's `preserve_order`
    // feature would break this, and tests/cli_train.rs would say so: it compares two runs'
    // files byte for byte).
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return bytes;
    };
    let mut json = value.to_string().into_bytes();
    // The data that follows stays aligned to 8 bytes, as safetensors pads it.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

/// Checks that every value is finite, naming the first bad one.
pub fn check_finite(name: &str, data: &[f32]) -> std::result::Result<(), String> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{name} holds a non-finite value ({}) at flat index {i}",
            data[i]
        )),
    }
}
