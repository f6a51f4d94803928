#!/usr/bin/env bash
# Create .venv (if missing) and install bgrm with its test extras. CPU torch is installed first,
# pinned, so pip never pulls the multi-GB CUDA build on a CPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${BGRM_TORCH_VERSION:-2.13.0}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
