//! float32 `.npy` arrays, the batch format of the command line. Depends only on the public
//! `ebm` API, so tests can include it with `#[path]` to write their inputs.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ebm::{Error, Result};
use npyz::{DType, Order, TypeChar};

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a float32 array `[n, dim]` (or `[n]` when `dim` is 1) of at least one row, with
/// finite values; errors name the file.
pub fn read_batch(path: &Path, dim: usize) -> Result<(usize, Vec<f32>)> {
    let bad = bad_in(path);
    let (npy, shape) = open_f32(path)?;
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
    Ok((n, read_finite(npy, path)?))
}

/// Reads a float32 2-D array `[rows, columns]` of at least one row and one column, with
/// finite values: `(rows, columns, values)`. Errors name the file.
#[allow(dead_code)]
pub fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bad = bad_in(path);
    let (npy, shape) = open_f32(path)?;
    let [rows, columns] = shape[..] else {
        return Err(bad(format!(
            "has shape {shape:?}; expected a 2-D array [rows, columns]"
        )));
    };
    if rows == 0 {
        return Err(bad("has no rows: at least one is needed".into()));
    }
    if columns == 0 {
        return Err(bad("has no columns: at least one is needed".into()));
    }
    Ok((rows, columns, read_finite(npy, path)?))
}

/// An `Error::Input` naming `path`.
fn bad_in(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |m| Error::input(path.display().to_string(), m)
}

/// Opens a float32 array in C order; its shape.
fn open_f32(path: &Path) -> Result<(npyz::NpyFile<BufReader<File>>, Vec<usize>)> {
    let bad = bad_in(path);
    let file = File::open(path).map_err(|e| io(path, e))?;
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
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    Ok((npy, shape))
}

/// The array's values, every one finite.
fn read_finite(npy: npyz::NpyFile<BufReader<File>>, path: &Path) -> Result<Vec<f32>> {
    let bad = bad_in(path);
    let data: Vec<f32> = npy
        .into_vec()
        .map_err(|e| bad(format!("could not read its data, is it truncated? ({e})")))?;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "the array holds a non-finite value ({}) at flat index {i}",
            data[i]
        )));
    }
    Ok(data)
}

/// Writes a float32 array of the given shape (for the tests that include this file: the
/// command line itself reads .npy files only).
#[allow(dead_code)]
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = File::create(path).map_err(|e| io(path, e))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| io(path, e))?;
    writer
        .extend(data.iter().copied())
        .map_err(|e| io(path, e))?;
    writer.finish().map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_values_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_f32(&p, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(
            read_batch(&p, 3).unwrap(),
            (2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(
            read_matrix(&p).unwrap(),
            (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        let err = read_batch(&p, 2).unwrap_err().to_string();
        assert!(
            err.contains("a.npy") && err.contains("expected [batch, 2]"),
            "{err}"
        );
        write_f32(&p, &[2], &[1.0, f32::NAN]).unwrap();
        let err = read_matrix(&p).unwrap_err().to_string();
        assert!(err.contains("expected a 2-D array"), "{err}");
        let err = read_batch(&p, 1).unwrap_err().to_string();
        assert!(
            err.contains("non-finite value (NaN) at flat index 1"),
            "{err}"
        );
    }
}
