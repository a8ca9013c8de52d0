"""The first-time user's path in a real window, in a fresh process: demo entry point, widget, canvas clicks.

A fresh process matters: the crash this guards against (triton imported after napari's
OpenGL context, under Mesa) is a segfault that takes the process down, and it only happens
when the model loads after the viewer exists, as it does for users.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("first_user_session.py")
POPULATION = Path(__file__).with_name("population_session.py")


def run_session(script: Path, model_dir) -> dict:
    """Run a real-window session script in a fresh process (triton kept out, as for users)."""
    return run_window(script, model_dir)


def test_demo_click_propagate_and_undo_in_a_real_window_with_a_lazily_loaded_model(reduced_model_dir):
    found = run_session(SCRIPT, reduced_model_dir)
    assert found["model_loaded_before_click"] is False  # the model loads on the first click, after the viewer
    assert 0.05 < found["preview_pixels"] / found["frame_pixels"] < 0.95  # the click gave a real mask
    assert found["tracked_frames"] == found["n_frames"] - 3  # Forward from frame 3 reached the end
    assert found["after_undoing_runs_and_preview"] == 0  # Both, Forward and the preview: three undo steps
    assert found["paint_kept"] == found["painted"] > 0  # ... and the earlier paint stroke survived them
    assert found["paint_after_undo"] == 0  # and is itself still undoable
    # Cancel (pressed at the second frame; frames already computed still land) keeps the frames
    # done and says how to resume; Forward then tracks only the rest.
    kept = len(found["frames_before_resume"])
    assert 2 <= kept < 21 and found["frames_before_resume"] == list(range(3, 3 + kept))
    assert found["after_cancel"] == f"Cancelled after frame {kept} of 21: press the same button to resume"
    assert found["resume_note"] == f"Tracking object {found['object']}; resuming: {kept} frames already done."
    assert found["resume_total"] == 21 and found["resume_first_done"] == kept  # the run's frames, resumed or not
    assert "estimating" in found["first_estimate"]  # no guess before two frames are timed
    assert found["frames_after_resume"] == list(range(3, 24))
    # A new object propagates alone; the first one is not re-tracked and does not change.
    first, second = found["object"], found["object"] + 1  # ids above the painted 9
    assert found["alone_note"].startswith(f"Tracking object {second} alone"), found["alone_note"]
    assert found["second_object_frames"] == 21 and found["first_object_unchanged"]
    assert found["object_list"] == [f"object {first}", f"object {second}"]


def test_every_cell_seeded_tracked_divided_by_hand_and_undone_in_a_real_window(reduced_model_dir):
    """The 'All cells' workflow as a user drives it: Preview seeds, Track all cells (the model
    loads then), a cell picked in the object list, Divide… and two canvas clicks, Ctrl-Z."""
    found = run_session(POPULATION, reduced_model_dir)
    assert found["model_loaded_before_run"] is False
    assert found["seeds"].endswith("seeds on frame 0: Track all cells follows them")
    assert found["frames_labelled"] == 15 and found["tracks_layer_points"] > 0
    assert found["selected"] and found["pick_first"].endswith("on frame 5.")
    assert found["pick_second"] == "Now click the second daughter on frame 5."
    assert found["daughters"] == 2 and found["mother_last"] == 4
    assert all(pixels > 0 for pixels in found["daughters_on_frame_5"])  # each click gave a mask
    assert all(found["graph"][str(d)] == [found["mother"]] for d in found["daughter_ids"])  # the Tracks layer
    assert found["note"].startswith("Cell ") and "divides on frame 5: tracking its daughters" in found["note"]
    # Undone: the mother goes on to the end, and the Tracks layer's links are those of the run
    # (divisions the rules found in the random-weight masks stay; the one by hand is gone).
    assert found["after_undo_mother_last"] == 14 and found["after_undo_graph"] == found["graph_before_divide"]
    assert not set(found["after_undo_graph"]) & {str(d) for d in found["daughter_ids"]}
    assert found["after_undo_daughter_pixels"] == 0
    assert found["after_redo_daughters"] == found["daughter_ids"]
