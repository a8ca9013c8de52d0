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
python -m pip install -q -c "$CONSTRAINTS" -e ".[zarr,napari,pyqt6,edgetam,batch,testing]"
# Meta's own SAM 2 (PyPI sam2), the tests' reference implementation; never imported by the
# package. Built without its CUDA extension and against the torch already installed.
python -m pip install -q -c "$CONSTRAINTS" setuptools wheel
SAM2_BUILD_CUDA=0 python -m pip install -q --no-build-isolation -c "$CONSTRAINTS" sam2
# traccuracy, the second evaluator of the CTC output (see the script for why it is apart).
bash scripts/install-traccuracy.sh "$CONSTRAINTS"
# Real nuclei with ground truth for the seeder test: stardist's img2d/mask2d (BSD-3), read
# out of its wheel (the package itself is not installed).
if [ ! -f tests/data/stardist/mask2d.tif ]; then
    tmp=$(mktemp -d)
    python -m pip download -q --no-deps --only-binary=:all: -d "$tmp" stardist==0.9.2
    python - "$tmp" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("stardist-*.whl"))
out = pathlib.Path("tests/data/stardist")
out.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in ("img2d.tif", "mask2d.tif"):
        (out / name).write_bytes(z.read(f"stardist/data/images/{name}"))
PY
    rm -rf "$tmp"
fi
