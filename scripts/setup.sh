#!/usr/bin/env bash
# Create .venv (Python 3.10+) and install napari-sam2 with everything its tests need,
# at the versions pinned in constraints/test.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
CONSTRAINTS="${CONSTRAINTS:-constraints/test.txt}"
python -m pip install -q -c "$CONSTRAINTS" -e ".[zarr,napari,pyqt6,edgetam,testing]"
# Meta's own SAM 2 (PyPI sam2), the tests' reference implementation; never imported by the
# package. Built without its CUDA extension and against the torch already installed.
python -m pip install -q -c "$CONSTRAINTS" setuptools wheel
SAM2_BUILD_CUDA=0 python -m pip install -q --no-build-isolation -c "$CONSTRAINTS" sam2
