//! The one line a successful `ebm eval`, `ebm refine` or `ebm train` prints to stderr
//! (not with --quiet): how many chains or steps ran on which kernel path, how long it
//! took, and the energies or the loss.

use std::fmt::Write;
use std::time::Duration;

use ebm::KernelPath;

/// Mean, min and max of the finite energies of a batch, and how many were not finite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Energies {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub non_finite: usize,
}

impl Energies {
    pub fn of(energy: &[f32]) -> Energies {
        let finite: Vec<f64> = energy
            .iter()
            .filter(|e| e.is_finite())
            .map(|&e| f64::from(e))
            .collect();
        let sum: f64 = finite.iter().sum();
        Energies {
            mean: sum / finite.len() as f64,
            min: finite.iter().copied().fold(f64::INFINITY, f64::min),
            max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            non_finite: energy.len() - finite.len(),
        }
    }
}

/// `v` to 3 significant digits: `3.21`, `0.0512`, `1234`, `1.5e-7`.
pub fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", if v == 0.0 { 0.0 } else { v });
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        let text = format!("{v:.2e}");
        let (digits, exponent) = text.split_once('e').expect("an exponent");
        return format!("{}e{exponent}", trim_zeros(digits));
    }
    let decimals = (2 - magnitude).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(text: &str) -> &str {
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => text,
    }
}

fn seconds(t: Duration) -> String {
    format!("{} s", short(t.as_secs_f64()))
}

/// How a refinement ended, for its summary.
pub struct RefineRun {
    pub chains: usize,
    pub steps: u32,
    /// Steps done before Ctrl-C stopped it, if it did.
    pub cancelled_at: Option<u32>,
    /// `--best-of R` and the observations it kept one chain of R for.
    pub best_of: Option<(usize, usize)>,
    pub path: KernelPath,
    pub time: Duration,
    /// At y0 (the prior included), over every chain.
    pub before: Energies,
    /// Of the chains written.
    pub after: Energies,
    /// MALA with a warm-up: its steps, and the mean acceptance during it and after it.
    pub warmup: Option<(u32, f32, f32)>,
    /// Replica exchange: the swap acceptance per pair, and the round trips in all.
    pub exchange: Option<(Vec<f32>, u64)>,
    /// With --decode: the chains whose rounded answer has energy 0, of all.
    pub decoded: Option<(usize, usize)>,
}

/// `ebm refine: 1000 chains x 100 steps on tile16 in 0.42 s; energy mean 3.21 -> 0.0512,
/// min 1.9 -> 0.0011`.
pub fn refine_line(r: &RefineRun) -> String {
    let mut line = match r.cancelled_at {
        None => format!("ebm refine: {} chains x {} steps", r.chains, r.steps),
        Some(done) => format!(
            "ebm refine: cancelled after {done} of {} steps: {} chains",
            r.steps, r.chains
        ),
    };
    let _ = write!(line, " on {} in {}", r.path, seconds(r.time));
    if let Some((per_x, kept)) = r.best_of {
        let _ = write!(line, ", best of {per_x} for each of {kept} x");
    }
    let _ = write!(
        line,
        "; energy mean {} -> {}, min {} -> {}",
        short(r.before.mean),
        short(r.after.mean),
        short(r.before.min),
        short(r.after.min)
    );
    if r.after.non_finite > 0 {
        let _ = write!(line, " ({} non-finite left out)", r.after.non_finite);
    }
    if let Some((steps, during, after)) = r.warmup {
        let _ = write!(
            line,
            "; MALA acceptance {during:.3} in the {steps}-step warm-up, {after:.3} after"
        );
    }
    if let Some((pairs, trips)) = &r.exchange {
        let rates: Vec<String> = pairs.iter().map(|a| format!("{a:.2}")).collect();
        let _ = write!(
            line,
            "; swaps accepted {} (coldest pair first), {trips} round trips",
            rates.join("/")
        );
    }
    if let Some((zero, all)) = r.decoded {
        let _ = write!(line, "; {zero} of {all} chains decode to energy 0");
    }
    line
}

/// `ebm eval: 1000 chains on chain in 0.12 s; energy mean 3.21, min 1.9, max 5.3`.
pub fn eval_line(chains: usize, path: KernelPath, time: Duration, e: &Energies) -> String {
    let mut line = format!(
        "ebm eval: {chains} chains on {path} in {}; energy mean {}, min {}, max {}",
        seconds(time),
        short(e.mean),
        short(e.min),
        short(e.max)
    );
    if e.non_finite > 0 {
        let _ = write!(line, " ({} non-finite left out)", e.non_finite);
    }
    line
}

/// How a training run went, for its summary.
pub struct TrainRun<'a> {
    /// The step it began at (a resumed run's checkpoint's; else 0).
    pub from: u64,
    /// The step it reached.
    pub reached: u64,
    /// The step it was to reach (--steps).
    pub total: u64,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
    /// The time its steps took.
    pub time: Duration,
    /// The loss of its first and last step (None: no step ran).
    pub loss: Option<(f32, f32)>,
    /// The negatives' sampler's kernel path (None: NCE, negatives from the noise).
    pub path: Option<KernelPath>,
    /// The GPU adapter.
    pub adapter: &'a str,
}

/// `ebm train: 1000 steps in 12.3 s (12.3 ms per step), negatives on tile16, adapter
/// llvmpipe; loss 1.39 -> 0.0123`.
pub fn train_line(r: &TrainRun<'_>) -> String {
    let steps = r.reached - r.from;
    let mut line = String::from("ebm train: ");
    if r.interrupted {
        let _ = write!(line, "interrupted at step {} of {}: ", r.reached, r.total);
    }
    match r.from {
        0 => {
            let _ = write!(line, "{steps} steps");
        }
        from => {
            let _ = write!(line, "steps {from} -> {} ({steps} run)", r.reached);
        }
    }
    let _ = write!(line, " in {}", seconds(r.time));
    if steps > 0 {
        let per_step = r.time.as_secs_f64() * 1e3 / steps as f64;
        let _ = write!(line, " ({} ms per step)", short(per_step));
    }
    match r.path {
        Some(path) => {
            let _ = write!(line, ", negatives on {path}");
        }
        None => line += ", negatives from the noise (nce)",
    }
    let _ = write!(line, ", adapter {}", r.adapter);
    if let Some((first, last)) = r.loss {
        let _ = write!(
            line,
            "; loss {} -> {}",
            short(f64::from(first)),
            short(f64::from(last))
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(short(3.214), "3.21");
        assert_eq!(short(0.05123), "0.0512");
        assert_eq!(short(0.0011), "0.0011");
        assert_eq!(short(-1.9), "-1.9");
        assert_eq!(short(1234.4), "1234");
        assert_eq!(short(1.5e-7), "1.5e-7");
        assert_eq!(short(2.0e9), "2e9");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(f64::NAN), "NaN");
    }

    #[test]
    fn energies_leave_out_non_finite_values() {
        let e = Energies::of(&[1.0, 3.0, f32::NAN, 2.0]);
        assert_eq!((e.mean, e.min, e.max, e.non_finite), (2.0, 1.0, 3.0, 1));
    }

    #[test]
    fn refine_and_eval_lines() {
        let mut run = RefineRun {
            chains: 1000,
            steps: 100,
            cancelled_at: None,
            best_of: None,
            path: KernelPath::Tile { chains: 16 },
            time: Duration::from_millis(420),
            before: Energies::of(&[3.21, 1.9, 4.53]),
            after: Energies::of(&[0.0512, 0.0011, 0.1013]),
            warmup: None,
            exchange: None,
            decoded: None,
        };
        assert_eq!(
            refine_line(&run),
            "ebm refine: 1000 chains x 100 steps on tile16 in 0.42 s; energy mean 3.21 -> 0.0512, min 1.9 -> 0.0011"
        );
        run.warmup = Some((50, 0.912, 0.581));
        assert!(refine_line(&run)
            .ends_with("; MALA acceptance 0.912 in the 50-step warm-up, 0.581 after"));
        run.warmup = None;
        run.exchange = Some((vec![0.61, 0.4], 12));
        run.decoded = Some((97, 100));
        assert!(refine_line(&run).ends_with(
            "; swaps accepted 0.61/0.40 (coldest pair first), 12 round trips; 97 of 100 chains decode to energy 0"
        ));
        run.exchange = None;
        run.decoded = None;
        run.best_of = Some((4, 250));
        assert!(refine_line(&run).contains("in 0.42 s, best of 4 for each of 250 x;"));
        run.cancelled_at = Some(7);
        assert!(refine_line(&run)
            .starts_with("ebm refine: cancelled after 7 of 100 steps: 1000 chains on tile16"));
        let line = eval_line(
            5,
            KernelPath::Chain,
            Duration::from_millis(12),
            &Energies::of(&[1.0, 2.0]),
        );
        assert_eq!(
            line,
            "ebm eval: 5 chains on chain in 0.012 s; energy mean 1.5, min 1, max 2"
        );
    }

    #[test]
    fn train_lines() {
        let mut run = TrainRun {
            from: 0,
            reached: 1000,
            total: 1000,
            interrupted: false,
            time: Duration::from_millis(12_300),
            loss: Some((1.386, 0.01234)),
            path: Some(KernelPath::Tile { chains: 16 }),
            adapter: "llvmpipe",
        };
        assert_eq!(
            train_line(&run),
            "ebm train: 1000 steps in 12.3 s (12.3 ms per step), negatives on tile16, adapter llvmpipe; loss 1.39 -> 0.0123"
        );
        run.from = 400;
        run.path = None;
        assert_eq!(
            train_line(&run),
            "ebm train: steps 400 -> 1000 (600 run) in 12.3 s (20.5 ms per step), negatives from the noise (nce), adapter llvmpipe; loss 1.39 -> 0.0123"
        );
        run.interrupted = true;
        run.reached = 400;
        run.loss = None;
        assert!(train_line(&run).starts_with(
            "ebm train: interrupted at step 400 of 1000: steps 400 -> 400 (0 run) in 12.3 s, negatives"
        ));
    }
}
