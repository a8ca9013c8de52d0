#!/usr/bin/env bash
# Create .venv (Python 3.10+) and install napari-sam2 with everything its tests need,
# at the versions pinned in constraints/test.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -c constraints/test.txt -e ".[zarr,napari,pyqt6,edgetam,testing]"
