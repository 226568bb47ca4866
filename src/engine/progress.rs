//! Progress of a long refinement, reported between submissions, and the way to stop it.

use std::ops::ControlFlow;
use std::time::Duration;

/// Where a refinement stands, given to a progress callback after every submission (at
/// most about [`crate::RefineConfig::dispatch_ms`] apart).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Steps done: a batch split into c chunks counts c x K steps in all.
    pub steps_done: u64,
    /// Steps in all: K times the number of chunks.
    pub steps_total: u64,
    /// Time since the refinement started.
    pub elapsed: Duration,
}

impl Progress {
    /// The share done, from 0 to 1.
    pub fn fraction(&self) -> f64 {
        if self.steps_total == 0 {
            1.0
        } else {
            self.steps_done as f64 / self.steps_total as f64
        }
    }
}

/// A progress callback: `ControlFlow::Break(())` stops the refinement at the next
/// submission boundary; it then returns what it has, marked `cancelled`, with each chain's
/// `steps_taken` saying how many steps it took.
pub type OnProgress<'a> = &'a mut dyn FnMut(&Progress) -> ControlFlow<()>;
