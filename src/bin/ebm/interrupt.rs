//! Ctrl-C during a refinement: the first stops it at its next submission (the output is
//! still written, marked cancelled); a second ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag Ctrl-C sets.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Where no handler can be installed, Ctrl-C keeps its default (ending the process).
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next submission (Ctrl-C again to quit at once)");
    });
    flag
}
