//! How many steps of a refinement go into one submission, so that no dispatch runs longer
//! than a time budget: the watchdogs of Windows (TDR, 2 s), macOS and desktop Linux kill a
//! dispatch that holds a display GPU much longer, and lose the device. The first submission
//! is sized from a cost estimate, short on purpose; every later one from the measured time
//! of the last. The noise is keyed by the global step, so the split never changes a result.

use std::time::Duration;

/// The share of the budget the first submission aims at, before anything is measured: a
/// cost estimate can be off by several times either way.
const FIRST_SHARE: f64 = 0.25;

/// FLOPs per second assumed of an adapter before its first measurement: well below what
/// current GPUs sustain on these kernels (a slower adapter only makes the first submission
/// longer than planned, by the factor it is slower).
pub(crate) fn assumed_flops(device_type: wgpu::DeviceType) -> f64 {
    match device_type {
        wgpu::DeviceType::Cpu => 1e9,
        _ => 1e12,
    }
}

/// Sizes the submissions of one chunk's refinement.
#[derive(Clone, Debug)]
pub(crate) struct Pacer {
    /// The longest a submission should run; None: no limit (one submission).
    budget: Option<Duration>,
    /// Seconds one step of the chunk takes: estimated, then measured.
    per_step: f64,
    measured: bool,
}

impl Pacer {
    /// A pacer for steps estimated at `per_step` seconds each.
    pub(crate) fn new(budget: Option<Duration>, per_step: f64) -> Self {
        Pacer {
            budget,
            per_step: per_step.max(0.0),
            measured: false,
        }
    }

    /// Steps of the next submission, out of `remaining` (at least 1 while any remain).
    pub(crate) fn next(&self, remaining: u32) -> u32 {
        let Some(budget) = self.budget else {
            return remaining;
        };
        let share = if self.measured { 1.0 } else { FIRST_SHARE };
        let target = budget.as_secs_f64() * share;
        let steps = if self.per_step > 0.0 {
            (target / self.per_step).floor()
        } else {
            f64::from(remaining)
        };
        (steps.min(f64::from(remaining)) as u32).clamp(remaining.min(1), remaining)
    }

    /// Takes the measured time of a submission of `steps` steps into account.
    pub(crate) fn record(&mut self, steps: u32, seconds: f64) {
        if steps > 0 && seconds.is_finite() && seconds > 0.0 {
            self.per_step = seconds / f64::from(steps);
            self.measured = true;
        }
    }

    /// Seconds per step, as last measured (or estimated).
    pub(crate) fn per_step(&self) -> f64 {
        self.per_step
    }

    /// Whether `per_step` comes from a measurement.
    #[cfg(test)]
    pub(crate) fn measured(&self) -> bool {
        self.measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_submission_is_short_then_follows_the_measured_time() {
        let mut pacer = Pacer::new(Some(Duration::from_millis(100)), 1e-3);
        // Estimated 1 ms a step: a quarter of the budget first.
        assert_eq!(pacer.next(1000), 25);
        // Measured 4 ms a step: 25 steps fill the budget.
        pacer.record(25, 0.1);
        assert_eq!(pacer.next(1000), 25);
        pacer.record(25, 0.025);
        assert_eq!(pacer.next(1000), 100);
        // Never more than remain, never none while any remain.
        assert_eq!(pacer.next(7), 7);
        assert_eq!(pacer.next(0), 0);
        pacer.record(1, 10.0);
        assert_eq!(pacer.next(1000), 1);
    }

    #[test]
    fn no_budget_runs_everything_at_once() {
        let pacer = Pacer::new(None, 1.0);
        assert_eq!(pacer.next(5000), 5000);
        // An unusable measurement changes nothing.
        let mut pacer = Pacer::new(Some(Duration::from_millis(100)), 0.0);
        pacer.record(0, 1.0);
        pacer.record(3, f64::NAN);
        assert!(!pacer.measured());
        assert_eq!(pacer.next(40), 40);
    }
}
