//! float32 `.npy` arrays, the batch format of the command line.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use npyz::{DType, Order, TypeChar};

use crate::error::{Error, Result};
use crate::tensors::check_finite;

/// Reads a float32 array `[n, dim]` (or `[n]` when `dim` is 1) of at least one row, with
/// finite values; errors name the file.
pub fn read_batch(path: &Path, dim: usize) -> Result<(usize, Vec<f32>)> {
    let name = path.display().to_string();
    let bad = |m: String| Error::input(name.clone(), m);
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .map_err(|e| bad(format!("not a readable .npy file ({e})")))?;
    match npy.dtype() {
        DType::Plain(t) if t.type_char() == TypeChar::Float && t.size_field() == 4 => {}
        other => {
            return Err(bad(format!(
                "has dtype {}; expected float32 (save with .astype(np.float32))",
                other.descr()
            )))
        }
    }
    if npy.order() == Order::Fortran {
        return Err(bad(
            "is stored in Fortran order; save np.ascontiguousarray(a) instead".into(),
        ));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let n = match shape[..] {
        [n, d] if d == dim => n,
        [n] if dim == 1 => n,
        _ => {
            return Err(bad(format!(
                "has shape {shape:?}; expected [batch, {dim}] to match the model"
            )))
        }
    };
    if n == 0 {
        return Err(bad("empty batch: at least one row is needed".into()));
    }
    let data: Vec<f32> = npy
        .into_vec()
        .map_err(|e| bad(format!("could not read its data, is it truncated? ({e})")))?;
    check_finite("the array", &data).map_err(bad)?;
    Ok((n, data))
}

/// Writes a float32 array of the given shape.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    writer
        .extend(data.iter().copied())
        .map_err(|e| Error::io(path, e))?;
    writer.finish().map_err(|e| Error::io(path, e))
}
