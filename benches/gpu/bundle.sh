#!/usr/bin/env bash
# Packs the GPU campaign for a machine with no Rust toolchain: builds ebm in release mode and
# writes one tarball holding the binary, the campaign's scripts, the commit, and this machine's
# Vulkan loader.
#
# Usage: bash benches/gpu/bundle.sh [OUT.tar.gz]          (default ./ebm-bundle.tar.gz)
#
#   EBM_BUNDLE_SKIP_BUILD=1 bash benches/gpu/bundle.sh      # pack the existing release/ebm
#                                  (of $CARGO_TARGET_DIR where set, else of target/)
#
# The tarball unpacks to ebm-bundle/:
#   ebm                               the release binary (x86-64 Linux, this glibc or newer)
#   COMMIT                            git rev-parse HEAD, with "-dirty" when the tree has changes
#   benches/gpu/campaign.sh, campaign.py, campaign_report.py, benches/pytorch_baseline.py,
#   benches/compare.py
#   lib/libvulkan.so.1                the Vulkan loader of this machine (ldconfig -p), if it has one
#   README.txt                        how to run it
# On the GPU machine (bash, python3 with torch, the NVIDIA driver):
#   tar xzf ebm-bundle.tar.gz && bash ebm-bundle/benches/gpu/campaign.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# Cargo's target folder: CARGO_TARGET_DIR (relative to the current folder, as cargo reads it;
# made absolute, since cargo runs in the repository), else target/ of the repository.
case ${CARGO_TARGET_DIR:-} in
    "") target_dir=$root/target ;;
    /*) target_dir=$CARGO_TARGET_DIR ;;
    *) target_dir=$PWD/$CARGO_TARGET_DIR ;;
esac
NAME=ebm-bundle

die() { echo "bundle.sh: error: $*" >&2; exit 1; }
note() { echo "bundle.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

case ${1:-} in
    -h|--help) usage; exit 0 ;;
esac
[ $# -le 1 ] || die "expected at most one argument, the tarball to write"
out=${1:-ebm-bundle.tar.gz}
out_dir=$(dirname "$out")
[ -d "$out_dir" ] || die "$out_dir: no such folder"
[ -w "$out_dir" ] || die "$out_dir: not writable"
out=$(cd "$out_dir" && pwd)/$(basename "$out")

# The release binary: built here, unless EBM_BUNDLE_SKIP_BUILD=1 packs the existing one.
build() {
    if [ "${EBM_BUNDLE_SKIP_BUILD:-0}" = 1 ]; then
        note "EBM_BUNDLE_SKIP_BUILD=1: not building; packing the existing binary"
    else
        command -v cargo >/dev/null 2>&1 \
            || die "cargo is not on PATH (or set EBM_BUNDLE_SKIP_BUILD=1)"
        (cd "$root" && CARGO_TARGET_DIR=$target_dir cargo build --release) \
            || die "cargo build --release failed"
    fi
    binary=$target_dir/release/ebm
    [ -x "$binary" ] || die "$binary is missing (run cargo build --release)"
    "$binary" bench --help 2>/dev/null | grep -- '--suite' >/dev/null \
        || die "$binary has no 'bench --suite': it is stale, rebuild it"
}

# The commit: HEAD, with -dirty when tracked or untracked files differ from it.
commit() {
    local head
    head=$(git -C "$root" rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
    if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
        head="$head-dirty"
    fi
    echo "$head"
}

# The Vulkan loader this machine's dynamic linker uses (x86-64), or nothing. (awk reads all
# of ldconfig's output, so that pipefail never sees a SIGPIPE.)
vulkan_loader() {
    local ldconfig
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    { "$ldconfig" -p 2>/dev/null || true; } \
        | awk '/libvulkan\.so\.1 .*x86-64/ && !found { print $NF; found = 1 }'
}

# The newest glibc symbol version the binary needs (the GPU machine's glibc must be as new).
glibc_needed() {
    command -v objdump >/dev/null 2>&1 || { echo "unknown (no objdump)"; return; }
    objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | sed 's/GLIBC_/glibc /'
}

build
glibc=$(glibc_needed)
note "the binary needs $glibc or newer on the GPU machine"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
b=$stage/$NAME
mkdir -p "$b/benches/gpu" "$b/lib"
cp "$binary" "$b/ebm"
commit >"$b/COMMIT"
cp "$here/campaign.sh" "$here/campaign.py" "$here/campaign_report.py" "$b/benches/gpu/"
cp "$root/benches/pytorch_baseline.py" "$root/benches/compare.py" "$b/benches/"
loader=$(vulkan_loader)
if [ -n "$loader" ] && [ -e "$loader" ]; then
    cp -L "$loader" "$b/lib/libvulkan.so.1"
    note "packed the Vulkan loader $loader"
else
    rmdir "$b/lib"
    note "note: no libvulkan.so.1 in ldconfig -p here; the bundle has no loader, so the GPU" \
         "machine needs its own (libvulkan1)"
fi
cat >"$b/README.txt" <<EOF
ebm GPU benchmark campaign, commit $(cat "$b/COMMIT"), packed $(date -u '+%Y-%m-%d %H:%M UTC').

Needs: x86-64 Linux with $glibc or newer, bash, python3 (3.9+) with torch for the PyTorch
baseline, a Vulkan driver (NVIDIA).
  bash $NAME/benches/gpu/campaign.sh [--reduced] [--out DIR] [--python PY] [--runs N]
writes campaign-<date>-<commit>/campaign.md and campaign.json in the current folder.
--reduced is a quick check (batch 64, 3 steps). lib/ holds a Vulkan loader for machines
without one; campaign.sh uses it only when ldconfig finds none.
EOF
tar czf "$out" -C "$stage" "$NAME" || die "cannot write $out"
note "wrote $out ($(du -h "$out" | cut -f1))"
note "on the GPU machine: tar xzf $(basename "$out") && bash $NAME/benches/gpu/campaign.sh"
