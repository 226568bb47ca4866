//! Ctrl-C during a refinement or a training run: the first stops it at its next
//! submission or step (the output is still written); a second ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag Ctrl-C sets; `stopping` is what the first Ctrl-C prints, e.g. `stopping at the
/// next submission`.
pub fn interrupt_flag(stopping: &'static str) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Where no handler can be installed, Ctrl-C keeps its default (ending the process).
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\n{stopping} (Ctrl-C again to quit at once)");
    });
    flag
}
