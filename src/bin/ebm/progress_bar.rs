//! The progress bar of a long refinement or training run, on stderr, shown only on a
//! terminal and only once the run has gone on for about a second (never with --quiet).

use std::time::Duration;

use ebm::Progress;

pub struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl ProgressBar {
    const AFTER: Duration = Duration::from_secs(1);

    /// A bar that will show once needed; none at all with `quiet`.
    pub fn new(quiet: bool) -> Self {
        ProgressBar { bar: None, quiet }
    }

    /// Shows a refinement's progress `p`, starting the bar if it has gone on long enough.
    pub fn show(&mut self, p: &Progress) {
        self.show_steps(p.steps_done, p.steps_total, p.elapsed, None);
    }

    /// Shows `done` of `total` steps after `elapsed`, and `note` after them (e.g. the
    /// latest loss), starting the bar if the run has gone on long enough. `done` may start
    /// above 0 (a resumed training run): the time left is estimated from this run's steps.
    pub fn show_steps(&mut self, done: u64, total: u64, elapsed: Duration, note: Option<&str>) {
        if self.quiet {
            return;
        }
        if self.bar.is_none() && elapsed >= Self::AFTER && done < total {
            // indicatif draws nothing where stderr is not a terminal.
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_position(done);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} steps, {eta} left{msg}",
                )
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

    /// Clears the bar, before the summary or an error is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
