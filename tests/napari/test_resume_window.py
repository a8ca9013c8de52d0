"""Going on where you left off (formats issue): yesterday's *Track all cells*, saved in one
window, opened today in a new one through its sidecar, the tracker picking up its cells,
names, lineage and scores; a click corrects a cell and *Forward* goes on from the reopened
masks, leaving the frames before as they were, with the same ids and lineage and a valid CTC
export; a sidecar of another run opens plain labels with one line. Run in a fresh process
(``resume_session.py``)."""

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
    assert tracker["labels_layers"] == 1  # the tracker took the opened result up, no empty layer beside it
    assert found["corrected_pixels"] > 0
    went_on = found["went_on"]
    assert went_on["earlier_frames_kept"]  # the last good frame and all before it, untouched
    assert went_on["cell_tracked_on"][-1] == 5 and went_on["changed_after"] > 0 and not went_on["new_ids"]
    assert went_on["lineage_kept"] and went_on["labels_within_lineage"] and found["ctc_valid"]
    assert any("opened from a file" in reason for reason in went_on["unreplayable"])  # an export says so
    assert found["other_run"]["layers"] == ["Labels"] and not found["other_run"]["metadata"]
    assert len(found["other_run"]["said"]) == 1 and "Opened as plain labels" in found["other_run"]["said"][0]
