#!/usr/bin/env bash
# Set up (idempotent), fetch the real sample clip, replace its background, save a before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python samples/demo.py "$@"
