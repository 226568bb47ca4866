//! Progress of a long refinement, reported between submissions, the way to stop it, and
//! the progress bar every front end draws of it.

use std::io::IsTerminal;
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

/// The progress bar of a long refinement or training run on stderr, as `ebm`'s command
/// line draws it, for any program to share: drawn only where stderr is a terminal (never
/// into a file or a pipe, where each redraw would pile up as text joined by carriage
/// returns), only once the run has gone on for about a second, and never when `quiet`.
/// Lines a program prints itself (a summary, a result) belong after [`ProgressBar::finish`],
/// which clears the bar; dropping it clears it too.
///
/// ```no_run
/// # fn run(engine: &ebm::Engine, x: &[f32], y0: &[f32]) -> ebm::Result<()> {
/// let mut bar = ebm::ProgressBar::new(false).titled("refining");
/// let mut on = |p: &ebm::Progress| {
///     bar.show(p);
///     std::ops::ControlFlow::Continue(())
/// };
/// let config = ebm::RefineConfig { steps: 100_000, ..Default::default() };
/// let out = engine.refine_with(x, y0, None, &config, Some(&mut on))?;
/// bar.finish();
/// eprintln!("done: first energy {}", out.energy[0]);
/// # Ok(()) }
/// ```
pub struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
    /// Whether a bar may be drawn at all: not quiet, and stderr a terminal.
    shown: bool,
    /// Text before the bar (e.g. which round of several).
    title: Option<String>,
}

impl ProgressBar {
    /// How long a run goes on before its bar appears: a short run draws none.
    const AFTER: Duration = Duration::from_secs(1);

    /// A bar that appears once a run has gone on long enough, if stderr is a terminal;
    /// none at all with `quiet`.
    pub fn new(quiet: bool) -> Self {
        ProgressBar {
            bar: None,
            shown: !quiet && std::io::stderr().is_terminal(),
            title: None,
        }
    }

    /// This bar with `title` before it (`round 2 of 8: 40 puzzles x 4 chains`).
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Whether this bar may draw at all (false with `quiet`, or off a terminal): a program
    /// may print a line per step or stage instead where it does not.
    pub fn on_terminal(&self) -> bool {
        self.shown
    }

    /// Shows a refinement's progress `p` (from its progress callback).
    pub fn show(&mut self, p: &Progress) {
        self.show_steps(p.steps_done, p.steps_total, p.elapsed, None);
    }

    /// Shows `done` of `total` steps after `elapsed`, and `note` after them (e.g. the
    /// latest loss), starting the bar if the run has gone on long enough. `done` may start
    /// above 0 (a resumed training run): the time left is estimated from this run's steps.
    pub fn show_steps(&mut self, done: u64, total: u64, elapsed: Duration, note: Option<&str>) {
        if !self.shown {
            return;
        }
        if self.bar.is_none() && elapsed >= Self::AFTER && done < total {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_position(done);
            // A title is the template's literal text (its braces escaped); the bar then
            // takes what the terminal's width leaves, so that the line does not wrap.
            let (title, bar_width) = match &self.title {
                Some(t) => (
                    format!("{}: ", t.replace('{', "{{").replace('}', "}}")),
                    "wide_bar",
                ),
                None => (String::new(), "bar:40"),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{title}{{elapsed_precise}} [{{{bar_width}}}] {{pos}}/{{len}} steps, {{eta}} left{{msg}}"
                ))
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.reset_eta();
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            if let Some(note) = note {
                bar.set_message(format!(", {note}"));
            }
            bar.set_position(done);
        }
    }

    /// Clears the bar, before a summary or an error is printed; a later
    /// [`ProgressBar::show`] starts a new one.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.finish();
    }
}
