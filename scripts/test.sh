#!/usr/bin/env bash
# Set up .venv and run the whole test suite: lint, manifest validation, pytest (slow tests
# included). Exits non-zero on any failure. GUI tests run under Xvfb when xvfb-run exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests
npe2 validate napari-sam2 --imports
runner=()
if command -v xvfb-run > /dev/null; then runner=(xvfb-run -a -s "-screen 0 1280x1024x24"); fi
"${runner[@]}" python -m pytest "$@"
