"""Going on where you left off (formats issue): yesterday's ``track --seeds`` result opened
today through its sidecar in a real window, the tracker picking up its cells, names,
lineage and scores, a correction, a save that keeps the lineage; a sidecar of another run
opens plain labels with one line. Run in a fresh process (``resume_session.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("resume_session.py")


def test_a_result_reopens_with_its_lineage_and_work_goes_on(reduced_model_dir, tmp_path):
    found = run_window(SCRIPT, reduced_model_dir, tmp_path, clean=True)
    assert found["opened"] == ["Labels", "Tracks"] and found["same_labels"]
    tracker = found["tracker"]
    assert tracker["bound"] and tracker["objects"] > 3 and tracker["cells_listed"]
    assert tracker["lineage"] and tracker["scores"] and tracker["tracks_layers"] == 1  # no second Tracks layer
    assert found["corrected_pixels"] > 0 and found["saved_lineage_kept"]
    assert found["other_run"]["layers"] == ["Labels"] and not found["other_run"]["metadata"]
    assert len(found["other_run"]["said"]) == 1 and "Opened as plain labels" in found["other_run"]["said"][0]
