#!/usr/bin/env bash
# Training side by side: ebm (examples/train_2d) and PyTorch (benches/pytorch_train.py) train
# the same model (a 32-32 SiLU MLP, one identity output) on the same points with the same
# objective, sampler and hyperparameters for the same number of steps; each prints its time
# per training step, and examples/train_2d scores both models the same way: KL(true ||
# learned) and total variation on a 128 x 128 grid, and the MMD of 1000-step Langevin
# samples against held-out data.
#
#   bash benches/train_compare.sh            # ring8, nce then cd, 2000 steps, PyTorch on CPU
#   TOY=moons STEPS=1000 DEVICE=cuda OBJECTIVES=cd bash benches/train_compare.sh
#
# PYTHON (default python3) needs torch, numpy and safetensors; VARIANTS (default "eager
# compile") are PyTorch's variants to time (compile is skipped with a message where it
# fails). Outputs go to OUT (default target/train_compare).
set -euo pipefail
# Cargo's target folder: CARGO_TARGET_DIR (relative to the folder this was started in, as cargo
# reads it), else target/ of the repository; made absolute before the cd below.
case ${CARGO_TARGET_DIR:-} in
    "" | /*) ;;
    *) export CARGO_TARGET_DIR=$PWD/$CARGO_TARGET_DIR ;;
esac
cd "$(dirname "$0")/.."
TOY=${TOY:-ring8}
STEPS=${STEPS:-2000}
DEVICE=${DEVICE:-cpu}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-target/train_compare}
OBJECTIVES=${OBJECTIVES:-nce cd}
VARIANTS=${VARIANTS:-eager compile}

example=${CARGO_TARGET_DIR:-target}/release/examples/train_2d
if command -v cargo >/dev/null 2>&1; then
    cargo build --release --example train_2d
elif [ -x "$example" ]; then
    echo "train_compare.sh: no cargo here; using the existing $example" >&2
else
    echo "train_compare.sh: no cargo to build $example, and it is missing" >&2
    exit 1
fi
for objective in $OBJECTIVES; do
    # The settings examples/train_2d uses (its `settings` function).
    case $objective in
        nce) flags=(--batch 256 --lr 1e-2) ;;
        cd) flags=(--batch 128 --lr 3e-3 --alpha 0.1) ;;
        *) echo "unknown objective $objective" >&2; exit 2 ;;
    esac
    dir=$OUT/$TOY-$objective
    echo "== $TOY, $objective, $STEPS steps =="
    echo "-- ebm"
    "$example" --toy "$TOY" --objective "$objective" --steps "$STEPS" --out "$dir/ebm" 2>/dev/null \
        | grep -v '^wrote'
    for variant in $VARIANTS; do
        echo "-- pytorch $variant ($DEVICE)"
        if "$PYTHON" benches/pytorch_train.py --data "$dir/ebm/data.npy" --hidden 32,32 \
            --activation silu --output identity --objective "$objective" "${flags[@]}" \
            --steps "$STEPS" --device "$DEVICE" --variant "$variant" \
            --out "$dir/torch-$variant.safetensors" 2>"$dir/torch-$variant.err"; then
            "$example" --toy "$TOY" --score "$dir/torch-$variant.safetensors" \
                --out "$dir/torch-$variant" 2>/dev/null | grep -v '^wrote'
        else
            echo "pytorch $variant failed: $(tail -1 "$dir/torch-$variant.err")"
        fi
    done
done
