#!/usr/bin/env bash
# Packs what benches/gpu/window.sh runs on a GPU machine that has no Rust toolchain: the release
# binary, the sudoku and train_2d examples, the test binaries the window runs, the Python
# package (ebm_wgpu, an abi3 build, for examples/ired_matrix) and COMMIT, all stripped, into
# .gpu/bins.tar.xz (one solid archive: the binaries share most of their code).
#
# Usage: bash benches/gpu/pack_window.sh     (from anywhere in the repository)
# Then carry .gpu (and .gl, the Vulkan loader's .deb files) to the GPU machine with the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."

TESTS=(kernel_paths gpu_vs_reference energy_graphs register_limits submissions pytorch_fixture
       replica_exchange inference_options best_of training weight_grads langevin_statistics
       discrete_answers workspace_reuse)

cargo build --release --bins --examples
# The test binaries, by the paths cargo reports for them.
listing=$(cargo test --release --no-run --message-format=json 2>/dev/null)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests" "$stage/examples"
for t in "${TESTS[@]}"; do
    exe=$(python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name \
            and "test" in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])
' "$t" <<<"$listing")
    [ -n "$exe" ] || { echo "pack_window.sh: no test binary for $t" >&2; exit 1; }
    cp "$exe" "$stage/tests/$t"
done
# Absolute: pip builds the package from python/, where a relative path would land.
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
cp "$target_dir/release/ebm" "$stage/ebm"
cp "$target_dir/release/examples/sudoku" "$target_dir/release/examples/train_2d" "$stage/examples/"
CARGO_TARGET_DIR="$target_dir/python" "${PYTHON:-.venv/bin/python}" -m pip install -q --no-deps \
    --target "$stage/python" ./python
strip "$stage/ebm" "$stage"/examples/* "$stage"/tests/* "$stage"/python/ebm_wgpu/*.so
head=$(git rev-parse HEAD)
[ -z "$(git status --porcelain)" ] || head="$head-dirty"
echo "$head" >"$stage/COMMIT"
mkdir -p .gpu
tar cf - -C "$stage" . | xz -9e -T0 >.gpu/bins.tar.xz
echo "pack_window.sh: wrote .gpu/bins.tar.xz ($(du -h .gpu/bins.tar.xz | cut -f1)), commit $head" >&2
