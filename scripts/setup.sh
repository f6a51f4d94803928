#!/usr/bin/env bash
# Create a venv (if missing) and install bgrm with extras into it: .venv with the test extras
# by default; `scripts/setup.sh VENV EXTRAS` for another (scripts/test.sh makes one for the
# selfie check). CPU torch is installed first, pinned, so pip never pulls the multi-GB CUDA
# build on a CPU machine. pip's output is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${BGRM_TORCH_VERSION:-2.13.0}"
VENV="${1:-.venv}"
EXTRAS="${2:-test}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
install() {
    local log
    log=$("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1) \
        || { printf '%s\n' "$log" >&2; return 1; }
}
install "torch==${TORCH_VERSION}"
install -e ".[${EXTRAS}]"
