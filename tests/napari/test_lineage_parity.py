"""The napari *Track all cells* path gives the same lineage and labels as the CLI on the same
movie (division issue): one engine, one set of population rules, whichever door the user
comes in by. Run in a fresh process (``parity_session.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.helpers import assert_meaningful
from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("parity_session.py")


def test_track_all_cells_in_the_window_gives_the_command_lines_lineage_and_labels(reduced_model_dir, tmp_path):
    found = run_window(SCRIPT, reduced_model_dir, tmp_path, clean=True)
    window = np.load(tmp_path / "window.npy")
    cli = tifffile.imread(tmp_path / "cli.tif")
    sidecar = json.loads((tmp_path / "cli.json").read_text())
    assert "seed" in found["seeds"] and len(found["lineage"]) >= 3
    assert_meaningful(window > 0)
    key = lambda row: (row["id"], row["first"], row["last"], row["parent"])  # noqa: E731
    assert sorted(map(key, found["lineage"])) == sorted(map(key, sidecar["lineage"]))
    assert window.shape == cli.shape and (window == cli).all()
