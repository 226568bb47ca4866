//! The progress bar of a long refinement, on stderr, shown only on a terminal and only once
//! the refinement has run for about a second (never with --quiet).

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

    /// Shows `p`, starting the bar if the run has gone on long enough.
    pub fn show(&mut self, p: &Progress) {
        if self.quiet {
            return;
        }
        if self.bar.is_none() && p.elapsed >= Self::AFTER && p.steps_done < p.steps_total {
            // indicatif draws nothing where stderr is not a terminal.
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(p.steps_total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} steps, {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(p.steps_done);
        }
    }

    /// Clears the bar, before the summary or an error is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
