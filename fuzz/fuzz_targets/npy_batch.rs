//! The command line's `.npy` reader (src/bin/ebm/npy.rs, included as it is) on any bytes:
//! the preamble, the header's Python dict (dtype, order, shape) and the values. Any input
//! must give an array or an error naming the file, never a panic, a hang or an allocation
//! that the bytes present do not account for; an array that reads must be whole and finite,
//! and read the same as a batch of its width.
#![no_main]

#[path = "../../src/bin/ebm/npy.rs"]
#[allow(dead_code)]
mod npy;

use ebm::Error;
use libfuzzer_sys::fuzz_target;

const NAME: &str = "fuzz.npy";

fn named(e: &Error) -> bool {
    matches!(e, Error::Input { name, .. } if name == NAME)
}

fuzz_target!(|data: &[u8]| {
    match npy::read_matrix_from(data, NAME) {
        Ok((rows, columns, values)) => {
            assert_eq!(rows.checked_mul(columns), Some(values.len()));
            assert!(values.iter().all(|v| v.is_finite()));
            let (n, again) = npy::read_batch_from(data, NAME, columns)
                .expect("a matrix reads as a batch of its width");
            assert_eq!((n, &again), (rows, &values));
        }
        Err(e) => assert!(named(&e), "{e:?}"),
    }
    match npy::read_batch_from(data, NAME, 1) {
        Ok((n, values)) => assert_eq!(n, values.len()),
        Err(e) => assert!(named(&e), "{e:?}"),
    }
});
