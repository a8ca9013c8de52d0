"""The user guide's workflows as a user walks them, in a real window with the model loading
lazily and the stack opened with napari's own File › Open; then ``napari-sam2 track`` on the
exported prompts gives napari's labels pixel for pixel (workflows 1 and 2; workflow 4 is
test_first_user.py's population session, workflow 3 tests/batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2.cli import main as cli
from tests.helpers import assert_meaningful
from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("guide_session.py")


def _walk(workflow: str, model_dir, folder: Path) -> dict:
    return run_window(SCRIPT, workflow, model_dir, folder)


def _track_again(folder: Path, stack: str) -> np.ndarray:
    out = folder / "cli.tif"
    code = cli(["track", str(folder / stack), "--prompts", str(folder / "prompts.csv"), "--out", str(out), "--quiet"])
    assert code == 0
    return tifffile.imread(out)


def test_workflow_1_a_nucleus_in_a_z_stack_opened_with_file_open(reduced_model_dir, tmp_path):
    found = _walk("zstack", reduced_model_dir, tmp_path)
    assert found["axis"] == "axis 0 (z), 15 frames"  # napari's reader drops the axes; the file says Z
    assert found["loaded_before"] is False and found["preview"] > 0 and found["slices_after_both"] == 15
    assert found["status"].startswith("Exported prompts.csv, prompts_settings.json")
    napari_labels = np.load(tmp_path / "napari.npy")
    assert_meaningful(napari_labels == 1)
    with tifffile.TiffFile(tmp_path / "labels.tif") as tif:
        assert tif.series[0].axes == "ZYX"
        np.testing.assert_array_equal(tif.asarray(), napari_labels)
    np.testing.assert_array_equal(_track_again(tmp_path, "zstack.tif"), napari_labels)  # export → track


def test_workflow_2_cells_in_a_time_lapse_cancel_resume_added_later_corrected_undone(reduced_model_dir, tmp_path):
    found = _walk("timelapse", reduced_model_dir, tmp_path)
    assert found["axis"] == "axis 0 (t), 12 frames"
    assert found["cancelled"].startswith("Cancelled after frame") and "resuming" in found["resumed"]
    assert found["alone"].startswith("Tracking object 3 alone")
    assert found["undone"] is True and found["objects_present"] == [1, 2, 3]
    assert found["status"].startswith("Saved labels.tif and labels.json")
    napari_labels = np.load(tmp_path / "napari.npy")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "labels.tif"), napari_labels)
    np.testing.assert_array_equal(_track_again(tmp_path, "timelapse.tif"), napari_labels)  # export → track
