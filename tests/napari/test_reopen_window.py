"""A CTC folder and a GEFF store written by ``napari-sam2 track`` open again in a real napari
window (formats issue): labels, Tracks and lineage, the tracker taking the cells up; a broken
``res_track.txt`` is one line. Run in a fresh process (``reopen_session.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("reopen_session.py")


def test_a_ctc_folder_and_a_geff_store_reopen_with_their_lineage(reduced_model_dir, tmp_path):
    found = run_window(SCRIPT, reduced_model_dir, tmp_path)
    ctc = found["ctc"]
    assert ctc["opened"] == ["Labels", "Tracks"] and len(ctc["labels_values"]) > 3
    assert ctc["bound"] and ctc["lineage"] and ctc["objects"] and ctc["tracks_layers"] == 1 and ctc["saved_lineage"]
    assert found["broken"].startswith("Sam2InputError: ") and "line 2: expected four whole numbers" in found["broken"]
    geff = found["geff"]
    assert geff["opened"] == ["Labels", "Tracks"] and geff["labels_are_the_result"]  # the store names its masks
    assert geff["bound"] and geff["lineage"]  # and the tracker takes them up with the lineage
    assert geff["track_ids"] == geff["ctc_ids"]  # the GEFF's tracks are the CTC's, ids and all
    assert geff["graph"] == {k: [v] for k, v in geff["ctc_parents"].items()}  # and so are the parents
