"""The dock on a laptop's and a desktop's screen, and napari closed while a reopened tracker
encodes ahead, in a real window in a fresh process (plugin issue, faults 11 and 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("window_session.py")


def test_the_dock_fits_1366x768_and_1920x1080_and_closing_napari_mid_encoding_is_quiet(reduced_model_dir):
    found = run_window(SCRIPT, reduced_model_dir, clean=True)
    for key, value in found.items():
        if key.endswith(("Objects", "All cells", "Review", "Model")):
            assert value == {"scrolls": False, "hidden": []}, (key, value)
    width, height, window_width, window_height = found["1366x768 canvas"]
    assert (window_width, window_height) == (1366, 768) and width >= 500 and height >= 500
    assert found["1920x1080 canvas"][0] >= 1000
    assert found["reopened_model"] is True
    assert "SAM 2 tracker (napari-sam2)" in found["dock_titles"]  # not "SAM 2 tracker (SAM 2 tracker)"
