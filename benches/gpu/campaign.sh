#!/usr/bin/env bash
# The GPU benchmark campaign in one command: finds Python, the ebm binary and the Vulkan loader
# and driver, then runs campaign.py (beside this file) with the other arguments.
#
# Usage: bash benches/gpu/campaign.sh [--reduced] [--out DIR] [--ebm PATH] [--python PY] [--runs N]
#
#   bash benches/gpu/campaign.sh --reduced --out /tmp/campaign-test    # a quick check
#   tar xzf ebm-bundle.tar.gz && bash ebm-bundle/benches/gpu/campaign.sh   # on a GPU machine
#
# Works in a checkout of the repository (binary release/ebm of cargo's target folder:
# $CARGO_TARGET_DIR, else target/) and in the bundle bundle.sh
# packs (ebm-bundle/ebm, ebm-bundle/COMMIT, ebm-bundle/lib/libvulkan.so.1).
#   Python: --python PY, else .venv/bin/python of the repository or bundle, else ./.venv/bin/python,
#           else python3 (3.9 or newer; PyTorch is needed for the baseline).
#   ebm:    --ebm PATH, else release/ebm of $CARGO_TARGET_DIR or of the repository's target/,
#           else ebm of the bundle.
#   Vulkan: where the system has no loader (ldconfig -p lists no libvulkan.so.1), the bundle's
#           lib/ goes on LD_LIBRARY_PATH; where no NVIDIA driver is registered in the usual ICD
#           folders (and VK_DRIVER_FILES / VK_ICD_FILENAMES are unset) but the container's
#           /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json exists, VK_DRIVER_FILES and
#           __EGL_VENDOR_LIBRARY_FILENAMES point at it. WGPU_BACKEND defaults to vulkan and
#           XDG_RUNTIME_DIR to /tmp.
# Every failure exits non-zero with a message starting "campaign".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# Cargo's target folder: CARGO_TARGET_DIR (relative to the current folder, as cargo reads it),
# else target/ of the repository.
case ${CARGO_TARGET_DIR:-} in
    "") target_dir=$root/target ;;
    /*) target_dir=$CARGO_TARGET_DIR ;;
    *) target_dir=$PWD/$CARGO_TARGET_DIR ;;
esac
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
NVIDIA_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json

die() { echo "campaign.sh: error: $*" >&2; exit 1; }
note() { echo "campaign.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# Parses the command line: --python and --ebm are taken here, the rest goes to campaign.py.
python=""
ebm=""
rest=()
while [ $# -gt 0 ]; do
    case $1 in
        --python) [ $# -ge 2 ] || die "--python needs a value"; python=$2; shift 2 ;;
        --python=*) python=${1#*=}; shift ;;
        --ebm) [ $# -ge 2 ] || die "--ebm needs a value"; ebm=$2; shift 2 ;;
        --ebm=*) ebm=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) rest+=("$1"); shift ;;
    esac
done

# Python: the one asked for, a virtualenv's, or python3.
find_python() {
    if [ -n "$python" ]; then
        command -v "$python" >/dev/null 2>&1 || die "--python $python: not found or not executable"
    elif [ -x "$root/.venv/bin/python" ]; then
        python=$root/.venv/bin/python
    elif [ -x ./.venv/bin/python ]; then
        python=$PWD/.venv/bin/python
    elif command -v python3 >/dev/null 2>&1; then
        python=python3
    else
        die "no Python found: install python3 (with torch) or pass --python PY"
    fi
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null \
        || die "$python is not Python 3.9 or newer"
}

# ebm: the one asked for, the repository's release build, or the bundle's.
find_ebm() {
    if [ -n "$ebm" ]; then
        [ -f "$ebm" ] || die "--ebm $ebm: no such file"
    elif [ -f "$target_dir/release/ebm" ]; then
        ebm=$target_dir/release/ebm
    elif [ -f "$root/ebm" ]; then
        ebm=$root/ebm
    else
        die "no ebm binary: looked for $target_dir/release/ebm (run cargo build --release)" \
            "and $root/ebm (the bundle's); pass --ebm PATH"
    fi
    [ -x "$ebm" ] || die "$ebm is not executable"
    ebm=$(cd "$(dirname "$ebm")" && pwd)/$(basename "$ebm")
}

# Whether the dynamic loader finds libvulkan.so.1 without help (its cache or LD_LIBRARY_PATH).
# (grep reads all of ldconfig's output: with -q it could stop early, and pipefail would then see
# ldconfig's SIGPIPE as a failure.)
has_vulkan_loader() {
    local ldconfig dir
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    "$ldconfig" -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null && return 0
    local IFS=:
    for dir in ${LD_LIBRARY_PATH:-}; do
        [ -n "$dir" ] && [ -e "$dir/libvulkan.so.1" ] && return 0
    done
    return 1
}

# The Vulkan loader: the system's, else the bundle's lib/.
setup_loader() {
    has_vulkan_loader && return 0
    if [ -e "$root/lib/libvulkan.so.1" ]; then
        export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        note "no system Vulkan loader; using $root/lib/libvulkan.so.1"
    else
        note "warning: no Vulkan loader (libvulkan.so.1) found and none in $root/lib;" \
             "ebm will find no Vulkan adapter (install libvulkan1 or use the bundle)"
    fi
}

# Whether a Vulkan ICD manifest that names NVIDIA is registered in the loader's usual folders.
has_nvidia_icd() {
    local data_home=${XDG_DATA_HOME:-${HOME:-/nonexistent}/.local/share}
    local dirs=(/etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d
                /etc/xdg/vulkan/icd.d "$data_home/vulkan/icd.d")
    local d IFS=:
    for d in ${XDG_DATA_DIRS:-} ${XDG_CONFIG_DIRS:-}; do
        [ -n "$d" ] && dirs+=("$d/vulkan/icd.d")
    done
    for d in "${dirs[@]}"; do
        [ -d "$d" ] || continue
        grep -qsil nvidia "$d"/*.json && return 0
    done
    return 1
}

# The NVIDIA driver where the container mounts it outside the usual folders (the lab's notes).
setup_driver() {
    [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && return 0
    [ -f "$NVIDIA_ICD" ] || return 0
    has_nvidia_icd && return 0
    export VK_DRIVER_FILES=$NVIDIA_ICD
    if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$NVIDIA_EGL" ]; then
        export __EGL_VENDOR_LIBRARY_FILENAMES=$NVIDIA_EGL
    fi
    note "no NVIDIA Vulkan driver registered; VK_DRIVER_FILES=$NVIDIA_ICD"
}

find_python
find_ebm
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export PYTHONUNBUFFERED=1
setup_loader
setup_driver
note "python $python, ebm $ebm, WGPU_BACKEND=$WGPU_BACKEND"
exec "$python" "$here/campaign.py" --ebm "$ebm" ${rest[@]+"${rest[@]}"}
