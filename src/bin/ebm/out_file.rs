//! The output safetensors file: float32 tensors for values, int32 tensors for counts and
//! indices (`steps_taken`, `accepted`, `best`, `non_finite_at`), and string metadata.

use std::collections::HashMap;
use std::path::Path;

use ebm::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};

/// The values of one output tensor.
pub enum Values<'a> {
    F32(&'a [f32]),
    I32(Vec<i32>),
}

impl Values<'_> {
    /// Counts as int32 (a u32 beyond i32::MAX would be a batch of more steps than any
    /// refinement takes; it saturates rather than wraps).
    pub fn counts(counts: &[u32]) -> Values<'static> {
        Values::I32(
            counts
                .iter()
                .map(|&k| i32::try_from(k).unwrap_or(i32::MAX))
                .collect(),
        )
    }

    fn dtype_and_bytes(&self) -> (Dtype, &[u8]) {
        match self {
            Values::F32(v) => (Dtype::F32, bytemuck::cast_slice(v)),
            Values::I32(v) => (Dtype::I32, bytemuck::cast_slice(v)),
        }
    }
}

/// One named tensor of the output: its name, shape and values.
pub struct Tensor<'a> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Values<'a>,
}

impl<'a> Tensor<'a> {
    pub fn new(name: &'static str, shape: Vec<usize>, values: Values<'a>) -> Self {
        Tensor {
            name,
            shape,
            values,
        }
    }
}

/// Writes `tensors` and `metadata` to `path` as one safetensors file, its header's keys
/// (the metadata's among them) in sorted order.
pub fn write(
    path: &Path,
    tensors: &[Tensor<'_>],
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let bad =
        |e: safetensors::SafeTensorError| Error::input(path.display().to_string(), e.to_string());
    let views = tensors
        .iter()
        .map(|t| {
            let (dtype, bytes) = t.values.dtype_and_bytes();
            TensorView::new(dtype, t.shape.clone(), bytes).map(|v| (t.name, v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    let bytes = safetensors::serialize(views, metadata).map_err(bad)?;
    // Sorted as the model files `ebm train` writes: the same run gives the same bytes.
    ebm::energy::write_serialized_safetensors(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_ints_keep_their_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.safetensors");
        let y = [0.5f32, -1.0];
        write(
            &path,
            &[
                Tensor::new("y", vec![2], Values::F32(&y)),
                Tensor::new("steps_taken", vec![2], Values::counts(&[3, u32::MAX])),
                Tensor::new("non_finite_at", vec![2], Values::I32(vec![-1, 2])),
            ],
            None,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.tensor("y").unwrap().dtype(), Dtype::F32);
        let taken = file.tensor("steps_taken").unwrap();
        assert_eq!(taken.dtype(), Dtype::I32);
        let taken: Vec<i32> = bytemuck::pod_collect_to_vec(taken.data());
        assert_eq!(taken, [3, i32::MAX]);
        let at: Vec<i32> =
            bytemuck::pod_collect_to_vec(file.tensor("non_finite_at").unwrap().data());
        assert_eq!(at, [-1, 2]);
    }

    #[test]
    fn a_shape_that_does_not_fit_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.safetensors");
        let y = [0.5f32; 3];
        let err = write(&path, &[Tensor::new("y", vec![2], Values::F32(&y))], None);
        assert!(err.is_err());
        assert!(!path.exists());
    }
}
