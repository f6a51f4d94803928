#!/usr/bin/env bash
# Set up (idempotent), fetch the model weights once, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bgrm models pull
.venv/bin/python -m pytest -q "$@"
