#!/usr/bin/env bash
# One short GPU window in one command: correctness on the GPU, the campaign beside PyTorch CUDA,
# Sudoku, then extras while time remains. Made for a machine lent for minutes, with no Rust
# toolchain: everything it runs was built elsewhere and packed by `pack_window.sh`.
#
# Usage (from the repository root, on the GPU machine):
#   OUT=DIR bash benches/gpu/window.sh              # the whole window (about 7 minutes)
#   OUT=DIR REDUCED=1 bash benches/gpu/window.sh    # a rehearsal at toy sizes (any adapter)
#
# Reads .gpu/bins.tar.xz (the release binary, examples and test binaries, and COMMIT) and, where
# the machine has no Vulkan loader, the .deb files in .gl/ (unpacked into /). Every stage writes
# its log into a staging folder, and after each stage the whole folder is packed again into
# $OUT/results.tar.gz, so a window cut short still returns what ran. Stages past DEADLINE
# seconds (default 420) are skipped; each stage has its own cap as well.
#
# Stages, in order of value:
#   env        nvidia-smi, `ebm info` (adapters, features, cooperative-matrix shapes)
#   selfcheck  `ebm bench --suite` at batch 64, 3 steps: every path's start-up self-check
#   tests      the kernel-path, reference, energy-graph, register, submission and PyTorch-fixture tests
#   campaign   every suite job on every path and on auto (ebm), then PyTorch eager and CUDA graph
#   sudoku     examples/sudoku on benches/sudoku/hard.txt (120 puzzles)
#   ired       examples/ired_matrix on the committed trained run: IRED's inference in PyTorch
#              CUDA and in ebm, MSE and seconds side by side
#   extras     torch.compile on r1 8192, r1 8192 in one dispatch (--dispatch-ms 0), the other
#              GPU test binaries, train_compare on CUDA
set -uo pipefail

OUT=${OUT:?set OUT to the folder the results go to}
REDUCED=${REDUCED:-0}
DEADLINE=${DEADLINE:-420}
PY=${PYTHON:-python3}
STAGE=/tmp/ebm-window
BIN=$STAGE/bin
R=$STAGE/results
rm -rf "$STAGE"
mkdir -p "$BIN" "$R" "$OUT"
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan} XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export PYTHONUNBUFFERED=1 RUST_BACKTRACE=1

note() { echo "[+${SECONDS}s] $*" | tee -a "$R/timeline.txt" >&2; }
pack() {
    tar czf "$OUT/results.tar.gz.part" -C "$R" . && mv "$OUT/results.tar.gz.part" "$OUT/results.tar.gz"
}
# run NAME CAP CMD...: CMD with its output in NAME.log, cut at CAP seconds or at the deadline.
run() {
    local name=$1 cap=$2 left
    shift 2
    left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 5 ]; then
        note "skip $name: past the deadline"
        return 0
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    note "start $name (cap ${cap}s): $*"
    local t0=$SECONDS
    timeout -k 5 "$cap" "$@" >"$R/$name.log" 2>&1
    local rc=$?
    note "end $name: exit $rc after $((SECONDS - t0))s"
    pack
    return 0
}

# --- setup: binaries, Vulkan loader and driver ---
tar xJf .gpu/bins.tar.xz -C "$BIN" || { note "cannot unpack .gpu/bins.tar.xz"; exit 1; }
cp "$BIN/COMMIT" "$R/COMMIT"
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$NVIDIA_ICD" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
    export VK_DRIVER_FILES=$NVIDIA_ICD
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
# The test binaries know the repository as /work/main (CARGO_MANIFEST_DIR) and the CLI as
# /work/main/target/release/ebm (CARGO_BIN_EXE_ebm).
if [ "$(pwd -P)" != /work/main ] && [ ! -e /work/main ]; then
    mkdir -p /work && ln -s "$(pwd -P)" /work/main
fi
mkdir -p target/release/examples
cp "$BIN/ebm" target/release/ebm
cp "$BIN"/examples/* target/release/examples/
EBM=target/release/ebm
note "commit $(cat "$BIN/COMMIT"), WGPU_BACKEND=$WGPU_BACKEND, VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"

# --- env ---
{ nvidia-smi; nvidia-smi -q -d CLOCK,PERFORMANCE; } >"$R/nvidia-smi.log" 2>&1
run info 60 "$EBM" info

# --- selfcheck: every path the adapter can run, at a toy size ---
run selfcheck-r1 90 "$EBM" bench --suite --workload r1 --batch 64 --steps 3 --runs 1 --json
run selfcheck-toy2d 60 "$EBM" bench --suite --workload toy2d --batch 64 --steps 3 --runs 1 --json

# --- tests: built elsewhere, run here in parallel (each has its own cap) ---
tests_stage() {
    local t pids=()
    for t in "$@"; do
        (timeout -k 5 150 "$BIN/tests/$t" --test-threads 4 >"$R/test-$t.log" 2>&1
         echo "exit $?" >>"$R/test-$t.log") &
        pids+=($!)
    done
    wait "${pids[@]}"
    grep -H "^test result\|^exit\|FAILED\|panicked" "$R"/test-*.log
}
export -f tests_stage
export R BIN
run tests 160 bash -c 'tests_stage "$@"' tests kernel_paths gpu_vs_reference energy_graphs register_limits submissions pytorch_fixture

# --- campaign: ebm on every path and on auto, then PyTorch ---
if [ "$REDUCED" = 1 ]; then
    jobs=("r1 64 3" "latency 64 3" "resln 64 3" "toy2d 64 3")
    runs=1
else
    jobs=("r1 8192 100" "latency 64 1000" "r1 65536 100" "resln 8192 100" "toy2d 65536 1000"
          "r1 1024 100")
    runs=3
fi
for job in "${jobs[@]}"; do
    set -- $job
    run "ebm-$1-$2-auto" 60 "$EBM" bench --workload "$1" --batch "$2" --steps "$3" --runs "$runs" --json
    run "ebm-$1-$2-paths" 90 "$EBM" bench --suite --workload "$1" --batch "$2" --steps "$3" --runs "$runs" --json
done
for job in "${jobs[@]}"; do
    set -- $job
    run "torch-$1-$2" 90 "$PY" benches/pytorch_baseline.py --workload "$1" --batch "$2" --steps "$3" \
        --runs "$runs" --device cuda --variants eager,cudagraph --json
done

# --- sudoku ---
if [ "$REDUCED" = 1 ]; then
    head -3 benches/sudoku/hard.txt >"$STAGE/puzzles.txt"
    run sudoku 120 target/release/examples/sudoku --puzzles "$STAGE/puzzles.txt" --steps 20 --rounds 1
else
    run sudoku 150 target/release/examples/sudoku --puzzles benches/sudoku/hard.txt
fi

# --- IRED's matrix inverse: its inference in PyTorch CUDA and in ebm, on the committed run ---
if [ "$REDUCED" = 1 ]; then
    run ired-matrix 120 env PYTHONPATH="$BIN/python" "$PY" examples/ired_matrix/ired_matrix.py \
        --steps 20 --batch 32 --hidden 32 --embed 16 --test 64 --out "$R/ired-matrix" --device cpu
else
    run ired-matrix 120 env PYTHONPATH="$BIN/python" "$PY" examples/ired_matrix/ired_matrix.py \
        --load benches/ired_matrix --out "$R/ired-matrix" --device cuda
fi

# --- extras, while time remains ---
run torch-compile-r1-8192 150 "$PY" benches/pytorch_baseline.py --workload r1 --batch 8192 --steps 100 \
    --runs "$runs" --device cuda --variants compile --json
run ebm-r1-8192-one-dispatch 30 "$EBM" bench --workload r1 --batch 8192 --steps 100 --runs "$runs" \
    --dispatch-ms 0 --json
run tests-more 120 bash -c 'tests_stage "$@"' tests replica_exchange inference_options best_of training weight_grads \
    langevin_statistics discrete_answers workspace_reuse
run train-compare 120 env STEPS=200 DEVICE=cuda VARIANTS=eager PYTHON="$PY" OUT="$STAGE/train" \
    bash benches/train_compare.sh
note "done"
pack
