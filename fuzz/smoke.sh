#!/usr/bin/env bash
# Fuzzing smoke test for CI: each target of fuzz/ (the model-file reader and the .npy batch
# reader) runs for FUZZ_SECONDS (default 30) seconds, starting from its committed seeds,
# fuzz/seeds/<target>/. A crash, panic, timeout or oversized allocation fails the script;
# the input that caused it is left in fuzz/artifacts/<target>/ (reproduce it with
# `cargo +nightly fuzz run <target> <file>`). Installs the nightly toolchain and cargo-fuzz
# where they are missing. Run from anywhere: bash fuzz/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

for target in model_file npy_batch; do
    # New inputs go to a scratch corpus (the first folder), so the seeds stay as committed.
    corpus="$(mktemp -d)"
    trap 'rm -rf "$corpus"' EXIT
    echo "== fuzzing $target for ${seconds}s"
    cargo +nightly fuzz run "$target" "$corpus" "fuzz/seeds/$target" -- \
        -dict="$PWD/fuzz/dicts/$target.dict" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1
    rm -rf "$corpus"
    trap - EXIT
done
echo "fuzz smoke test passed"
