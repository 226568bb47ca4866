//! A driver that fails an allocation without saying so must not hand back results.
//!
//! Found on wgpu's GL backend (which never checks `glGetError` after `glBufferStorage`):
//! under an address-space limit, `ebm refine` on a 1024-wide model with 6000 chains
//! exited 0 and wrote every energy as 0 with status complete. The same job must fail with
//! an error and write nothing, on whichever backend runs it (`tests/drivers/run.sh gl`
//! runs this on GL; `cargo test` on lavapipe's Vulkan, which reports the failure itself).

#[path = "cli_support/mod.rs"]
mod cli_support;
mod common;

use std::path::Path;
use std::process::Command;

use cli_support::{npy, Dir};
use common::{data, model};
use ebm::{Activation, Output};

/// The address-space limit (KiB, `ulimit -v`): room for a small refinement on either
/// backend, not for the large one's buffers.
const LIMIT_KIB: u32 = 850_000;

/// Runs `ebm refine` on `chains` chains under the limit; returns the exit code and stderr.
fn refine_limited(dir: &Dir, m: &Path, chains: usize, out: &Path) -> (Option<i32>, String) {
    let (x, y) = (dir.path("x.npy"), dir.path("y.npy"));
    npy::write_f32(&x, &[chains, 16], &data(chains * 16, 1.0, 1)).unwrap();
    npy::write_f32(&y, &[chains, 16], &data(chains * 16, 1.0, 2)).unwrap();
    let script = format!(
        "ulimit -v {LIMIT_KIB} && exec \"$0\" refine --model \"$1\" --x \"$2\" --y0 \"$3\" --out \"$4\" --steps 1 --step-size 0.01"
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ebm"))
        .arg(m)
        .arg(&x)
        .arg(&y)
        .arg(out)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn buffers_a_driver_silently_fails_to_allocate_end_in_an_error_and_no_file() {
    let dir = Dir::new();
    let m = dir.path("wide.safetensors");
    model(16, 16, &[1024], Activation::Silu, Output::Square, 1)
        .save(&m)
        .unwrap();
    // The limit leaves room for ebm and its driver: a small job runs under it.
    let small = dir.path("small.safetensors");
    let (code, stderr) = refine_limited(&dir, &m, 5, &small);
    assert_eq!(
        code,
        Some(0),
        "a 5-chain refinement under the limit: {stderr}"
    );
    assert!(small.exists());
    // 6000 chains need about 105 MB of buffers more than the limit leaves.
    let out = dir.path("large.safetensors");
    let (code, stderr) = refine_limited(&dir, &m, 6000, &out);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("out of device memory"),
        "the error names the likely cause: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "a failed run wrote {}", out.display());
}
