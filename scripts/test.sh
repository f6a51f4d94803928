#!/usr/bin/env bash
# Set up (idempotent), fetch the model weights once, and run the whole test suite; then the
# selfie port against MediaPipe's own runtime, in a venv of its own (mediapipe needs numpy < 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bgrm models pull
.venv/bin/python -m pytest -q "$@"
bash scripts/setup.sh .venv-mediapipe selfie-check,test
.venv-mediapipe/bin/python -m pytest -q tests/test_selfie.py -k mediapipe
