//! Completion marks: a driver that fails silently (wgpu's GL backend does not check
//! `glGetError` after creating a buffer, so an allocation the driver refused leaves a buffer
//! that reads back zeros and drops writes) must not pass its results off as a refinement's.
//! Each call draws a mark that zeroed memory and earlier calls cannot forge; the final pass
//! of every kernel whose results are read back writes it into each chain's state
//! (`ChainState::mark`), and the host checks every chain's on read-back. Training's rows
//! carry their own marks (`ROW_MARK`), checked with the same [`check_marked`].

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::kernels::params::ChainState;

/// The marks handed out so far: a Weyl sequence (an odd step modulo 2^32), so consecutive
/// calls get distinct marks and 2^32 calls pass before one repeats.
static LAST: AtomicU32 = AtomicU32::new(0x5EED_0000);

/// A fresh call's mark: never 0 (zeroed memory) and never the last call's.
pub(crate) fn next_mark() -> u32 {
    loop {
        let mark = LAST
            .fetch_add(0x9E37_79B9, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9);
        if mark != 0 {
            return mark;
        }
    }
}

/// Checks that every chain of `states` carries `mark`: an error naming the backend, how
/// many chains lack it and the likely cause where any does.
pub(crate) fn check(states: &[ChainState], mark: u32, backend: wgpu::Backend) -> Result<()> {
    check_marked("chains", 0, states.iter().map(|s| s.mark == mark), backend)
}

/// Checks that every result of a run numbered from `first_index` (chains, training steps:
/// `what`) was `marked`: [`Error::Incomplete`] with how many were not, and the first.
pub(crate) fn check_marked(
    what: &'static str,
    first_index: u64,
    marked: impl Iterator<Item = bool>,
    backend: wgpu::Backend,
) -> Result<()> {
    let (mut total, mut missing, mut first) = (0, 0, None);
    for (i, ok) in (first_index..).zip(marked) {
        total += 1;
        if !ok {
            missing += 1;
            first.get_or_insert(i);
        }
    }
    match first {
        None => Ok(()),
        Some(first) => Err(Error::Incomplete {
            backend,
            what,
            missing,
            total,
            first,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_never_zero_and_never_repeat_soon() {
        let marks: Vec<u32> = (0..1000).map(|_| next_mark()).collect();
        assert!(marks.iter().all(|&m| m != 0));
        let mut sorted = marks.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), marks.len());
    }

    #[test]
    fn zeroed_or_stale_states_are_refused_by_count_and_backend() {
        let mark = next_mark();
        let good = ChainState {
            mark,
            ..ChainState::start()
        };
        assert!(check(&[good; 3], mark, wgpu::Backend::Vulkan).is_ok());
        let stale = ChainState {
            mark: next_mark(),
            ..good
        };
        let err = check(
            &[good, ChainState::default(), stale],
            mark,
            wgpu::Backend::Gl,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Gl") && err.contains("2 of 3 chains"), "{err}");
    }
}
