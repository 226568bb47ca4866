#!/usr/bin/env bash
# The tests that run on drivers other than lavapipe's Vulkan (which `cargo test --release`
# uses): `run.sh swiftshader`, `run.sh validation`, `run.sh gl`, or `run.sh all`. Each
# builds what it needs in release mode, names its adapter, and fails (never skips) when that
# adapter or driver is missing. README.md, "Tested on", says which tests run where and why.
#
# Each driver also runs the command line once (`ebm info`, `eval`, `refine` on the chain,
# tile and layered paths, `train`, `bench`, and the Sudoku example's first round); the
# files eval, refine and train write must match lavapipe's (relative L2 error under 1e-4).
#
#   swiftshader  SwiftShader (Debian's chromium package): another compiler, subgroups of 4,
#                10 storage buffers per stage. Every kernel path, every sampler, evaluation,
#                the trace, replica exchange, training and landscapes, held to the float64
#                reference.
#   validation   lavapipe under the Khronos validation layer with synchronisation validation
#                (vk_layer_settings.txt here): the kernel-path tests and the command line;
#                any message is printed and ends the run (SIGTRAP). First proves that a
#                message does fail a run (best-practices warnings on ebm info).
#   gl           wgpu's GL backend on Mesa's llvmpipe: the quickstart, the kernel-path tests,
#                and a refinement whose buffers the driver silently fails to allocate (under
#                ulimit -v), which must end in an error and write nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
TARGET="${CARGO_TARGET_DIR:-target}"
EBM="$TARGET/release/ebm"

# The test binary of tests/<name>.rs, built.
test_bin() {
    cargo test --release --test "$1" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}

# Runs tests/<name>.rs (its tests whose names hold one of the filters given, all without),
# timed.
run_tests() {
    local name=$1 bin
    shift
    bin=$(test_bin "$name")
    [ -n "$bin" ] || { echo "no test binary for tests/$name.rs" >&2; exit 1; }
    local start=$SECONDS
    if [ $# -eq 0 ]; then
        "$bin" -q
    else
        for filter in "$@"; do "$bin" -q "$filter"; done
    fi
    echo "   tests/$name.rs: $((SECONDS - start)) s"
}

# The command line's runs on the current driver, their files into $1 (a folder), then
# compared with lavapipe's ($RUNS/lavapipe, made first) unless $1 is that one.
FIXTURES=tests/fixtures
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
cli_runs() {
    local dir=$1 m="$FIXTURES/gelu_square.safetensors"
    local x="$FIXTURES/gelu_square_x.npy" y="$FIXTURES/gelu_square_y0.npy"
    mkdir -p "$dir"
    "$EBM" info --model "$m" > /dev/null
    "$EBM" -q eval --model "$m" --x "$x" --y "$y" --out "$dir/eval.safetensors"
    for kernel in chain tile layered; do
        "$EBM" -q refine --model "$m" --x "$x" --y0 "$y" --steps 20 --step-size 0.01 \
            --temperature 0.01 --kernel "$kernel" --out "$dir/refine-$kernel.safetensors"
    done
    "$EBM" -q train --data "$y" --x "$x" --hidden 16 --activation silu --lr 0.01 --steps 5 --batch 8 --seed 3 \
        --out "$dir/train.safetensors"
    "$EBM" bench --workload toy2d --batch 64 --steps 10 --runs 1 > /dev/null
    "$TARGET/release/examples/sudoku" --rounds 1 --steps 500 > "$dir/sudoku.txt"
    echo "   ebm info, eval, refine (chain, tile, layered), train, bench, sudoku's first round: ran"
    if [ "$dir" != "$RUNS/lavapipe" ]; then
        for file in eval refine-chain refine-tile refine-layered train; do
            python3 tests/drivers/compare.py "$RUNS/lavapipe/$file.safetensors" \
                "$dir/$file.safetensors" 1e-4
        done
    fi
}

# lavapipe's runs, the others' reference.
lavapipe_runs() {
    [ -d "$RUNS/lavapipe" ] && return
    ( export WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe; cli_runs "$RUNS/lavapipe" > /dev/null )
}

# Fails unless `ebm info` chooses an adapter whose line holds $1.
expect_adapter() {
    local chosen
    chosen=$("$EBM" info | grep '^chosen:' || true)
    echo "   $chosen"
    case "$chosen" in
    *"$1"*) ;;
    *) echo "expected an adapter matching '$1'; is its driver installed?" >&2; exit 1 ;;
    esac
}

swiftshader() {
    echo "== SwiftShader"
    local icd=/usr/lib/chromium/vk_swiftshader_icd.json
    [ -f "$icd" ] || { echo "$icd is missing: apt-get install chromium" >&2; exit 1; }
    lavapipe_runs
    export VK_ICD_FILENAMES=$icd WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=SwiftShader
    expect_adapter "SwiftShader"
    "$TARGET/release/examples/quickstart" > /dev/null
    cli_runs "$RUNS/swiftshader"
    run_tests kernel_paths
    run_tests gpu_vs_reference
    run_tests inference_options mala_matches keep_if_lower_matches keep_if_lower_rise_tolerance trace_matches early_stopping_matches
    run_tests replica_exchange exchange_matches_the_reference
    run_tests training contrastive_divergence_with_adam short_run_negatives noise_contrastive
    run_tests weight_grads
    run_tests landscapes
    unset VK_ICD_FILENAMES WGPU_BACKEND WGPU_ADAPTER_NAME
}

validation() {
    echo "== lavapipe under the Khronos validation layer"
    local layers=/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json
    [ -f "$layers" ] || { echo "$layers is missing: apt-get install vulkan-validationlayers" >&2; exit 1; }
    lavapipe_runs
    export WGPU_BACKEND=vulkan VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation
    export VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
    # A message must fail the run: best-practices warnings fire on any program, here the
    # command line and a test binary. (The shell's own notice of the trap is silenced.)
    local proof
    proof=$(test_bin kernel_paths)
    for run in "$EBM info" "$proof -q a_tile_that_does_not_fit"; do
        if { (VK_LAYER_SETTINGS_PATH=tests/drivers/best_practices exec $run > /dev/null 2>&1); } 2> /dev/null; then
            echo "a best-practices warning did not fail '$run': the layer's messages would go unseen" >&2
            exit 1
        fi
    done
    echo "   a validation message fails a run (checked with best-practices warnings)"
    export VK_LAYER_SETTINGS_PATH=tests/drivers
    expect_adapter "llvmpipe"
    run_tests kernel_paths
    cli_runs "$RUNS/validation"
    unset WGPU_BACKEND VK_INSTANCE_LAYERS VK_LAYER_ENABLES VK_LAYER_SETTINGS_PATH
}

gl() {
    echo "== GL (llvmpipe)"
    lavapipe_runs
    export WGPU_BACKEND=gl
    expect_adapter "on Gl"
    "$TARGET/release/examples/quickstart" > /dev/null
    cli_runs "$RUNS/gl"
    run_tests kernel_paths
    run_tests gl_silent_failure
    unset WGPU_BACKEND
}

cargo build --release --bin ebm --example quickstart --example sudoku -q
case "${1:-all}" in
swiftshader) swiftshader ;;
validation) validation ;;
gl) gl ;;
all) swiftshader; validation; gl ;;
*) echo "usage: $0 [swiftshader|validation|gl|all]" >&2; exit 2 ;;
esac
