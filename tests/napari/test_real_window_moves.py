"""The dock on a laptop's and a desktop's screen, and napari closed while a reopened tracker
encodes ahead, in a real window in a fresh process (plugin issue, faults 11 and 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("window_session.py")


def test_the_dock_fits_1366x768_and_1920x1080_and_closing_napari_mid_encoding_is_quiet(reduced_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_SAM2_ALLOW_TRITON"}
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(SCRIPT), str(reduced_model_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for bad in ("EmitLoopError", "has been deleted", "Traceback"):
        assert bad not in result.stderr, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("FINDINGS "))
    found = json.loads(line.removeprefix("FINDINGS "))
    for key, value in found.items():
        if key.endswith(("Objects", "All cells", "Review", "Model")):
            assert value == {"scrolls": False, "hidden": []}, (key, value)
    width, height, window_width, window_height = found["1366x768 canvas"]
    assert (window_width, window_height) == (1366, 768) and width >= 500 and height >= 500
    assert found["1920x1080 canvas"][0] >= 1000
    assert found["reopened_model"] is True
    assert "SAM 2 tracker (napari-sam2)" in found["dock_titles"]  # not "SAM 2 tracker (SAM 2 tracker)"
