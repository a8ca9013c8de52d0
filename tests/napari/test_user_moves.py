"""The moves users make between the guide's steps, through the real widget: the faults a
real-window walk found (plugin issue, faults 1-4, 6-10, 12-13), one test each, driven by the
widget's buttons and combo boxes, canvas clicks through napari's mouse callbacks, the layer
list's own removal and the layers' key bindings. Fault 5 is tests/napari/test_session_replay.py;
11 and 14 need a real window (tests/napari/test_real_window_moves.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core.sample import make_timelapse  # noqa: E402
from tests.helpers import assert_meaningful, moving_blob_stack  # noqa: E402
from tests.napari.conftest import canvas_click, choose, press_key  # noqa: E402


@pytest.fixture()
def said(monkeypatch):
    messages = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append(m))
    return messages


@pytest.fixture()
def open_tracker(qtbot, reduced_model, reduced_model_dir):
    """``open_tracker(viewer)``: the dock widget on ``viewer``, with the test model chosen."""
    from napari_sam2.widgets import TrackerWidget

    made = []

    def make(viewer, *, preload: bool = True):
        widget = TrackerWidget(viewer)
        qtbot.addWidget(widget)
        widget.model_panel.choose_model(str(reduced_model_dir))
        choose(widget.model_panel.device_combo, "cpu")
        if preload:
            widget.controller.use_loaded_model(reduced_model)
            qtbot.waitUntil(lambda: widget.controller.loaded is not None, timeout=60_000)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close_tracker()


def idle(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget.controller.idle, timeout=timeout)


def no_bug(said):
    assert not [m for m in said if "Unexpected error" in m or "Traceback" in m], said


def test_1_deleting_the_labels_layer_mid_run_stops_it_and_writes_nowhere_else(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(14), name="cells")
    widget = open_tracker(viewer)
    controller = widget.controller
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    doomed = controller.labels_layer
    snapshot = []

    def delete_after_two(progress):
        if progress.state == "running" and progress.done == 2 and not snapshot:
            viewer.layers.selection.active = doomed
            viewer.layers.remove_selected()  # the layer list's delete button
            snapshot.append(np.array(doomed.data))

    controller.events.progress.connect(delete_after_two)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    qtbot.wait(50)
    np.testing.assert_array_equal(doomed.data, snapshot[0])  # nothing written into the deleted layer
    fresh = controller.labels_layer
    assert fresh is not doomed and fresh in viewer.layers and not np.asarray(fresh.data).any()
    assert widget.run_panel.progress.text().startswith("Stopped after frame")
    assert any("stopped: its labels layer was deleted" in m for m in said), said
    assert any("a new, empty one takes the next results" in m for m in said), said
    widget.run_panel.direction_buttons["forward"].click()  # tracked again, into the new layer
    idle(qtbot, widget)
    assert all((np.asarray(fresh.data[f]) == 1).any() for f in range(14))
    said.clear()
    viewer.layers.remove(fresh)  # deleted while idle: replaced, and said
    qtbot.waitUntil(lambda: controller.labels_layer is not None and controller.labels_layer is not fresh)
    assert any("a new, empty one" in m for m in said) and not np.asarray(controller.labels_layer.data).any()
    no_bug(said)


def test_2_another_movie_of_the_same_size_gets_its_own_labels_and_objects(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(5, seed=1), name="movie A")
    widget = open_tracker(viewer)
    controller = widget.controller
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    labels_a = controller.labels_layer
    a_before = np.array(labels_a.data)
    assert_meaningful(a_before[2] == 1)
    viewer.add_image(moving_blob_stack(5, seed=2, speed=-2), name="movie B")
    choose(widget.image_panel.image_combo, "movie B")
    assert controller.image_layer.name == "movie B"
    assert controller.labels_layer is not labels_a and widget.objects_panel.list.count() == 0
    assert widget.image_panel.labels_combo.currentText() == controller.labels_layer.name
    canvas_click(controller.points_layer, (0, 40, 100))
    idle(qtbot, widget)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    np.testing.assert_array_equal(labels_a.data, a_before)  # A's object 1 untouched
    assert (np.asarray(controller.labels_layer.data) > 0).any()
    choose(widget.image_panel.image_combo, "movie A")  # back to A: its labels and objects
    assert controller.labels_layer is labels_a and [o for o, _ in controller.objects.items()] == [1]
    no_bug(said)


def test_3_a_model_typed_into_the_box_and_enter_loads_on_the_first_click(qtbot, open_tracker, said, reduced_model_dir):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(4), name="cells")
    widget = open_tracker(viewer, preload=False)
    box = widget.model_panel.model_combo
    box.lineEdit().clear()
    QTest.keyClicks(box.lineEdit(), str(reduced_model_dir))
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert widget.controller.settings.model == str(reduced_model_dir)
    canvas_click(widget.controller.points_layer, (1, 40, 35))
    idle(qtbot, widget)
    assert widget.controller.loaded is not None and (np.asarray(widget.controller.labels_layer.data[1]) == 1).any()
    widget.model_panel._on_load()  # Load model with the typed name
    idle(qtbot, widget)
    assert widget.model_panel.status.text().startswith(str(reduced_model_dir))
    no_bug(said)


def test_4_clicks_work_after_switching_between_a_2d_image_and_a_stack(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(1)[0], name="one image")
    viewer.add_image(moving_blob_stack(4), name="stack")
    widget = open_tracker(viewer)
    controller = widget.controller
    for name, position in (("one image", (40, 35)), ("stack", (2, 40, 35)), ("one image", (42, 36))):
        choose(widget.image_panel.image_combo, name)
        before = len(controller.points_layer.data)
        canvas_click(controller.points_layer, position)
        idle(qtbot, widget)
        assert len(controller.points_layer.data) == before + 1, name
        plane = controller.labels_layer.data[position[0]] if len(position) == 3 else controller.labels_layer.data
        assert (np.asarray(plane) > 0).any(), name
    no_bug(said)


def test_6_prompts_reach_a_new_session_after_the_axis_device_or_model_changes_and_a_reopened_tracker(
    qtbot, open_tracker, said, reduced_model
):
    viewer = ViewerModel()
    viewer.add_image(np.stack([moving_blob_stack(5)] * 2, axis=1), name="tzyx")  # (T, Z, Y, X)
    widget = open_tracker(viewer)
    controller = widget.controller
    canvas_click(controller.points_layer, (2, 0, 40, 35))
    idle(qtbot, widget)
    moves = [
        lambda: choose(widget.image_panel.axis_combo, "axis 1, 2 frames"),
        lambda: choose(widget.image_panel.axis_combo, "axis 0, 5 frames"),
        lambda: choose(widget.model_panel.device_combo, "auto"),
        lambda: widget.model_panel.choose_model(widget.controller.settings.model + "/"),
    ]
    for move in moves:
        move()
        controller.use_loaded_model(reduced_model)
        said.clear()
        widget.run_panel.direction_buttons["both"].click()
        idle(qtbot, widget)
        assert not any("Nothing to propagate" in m for m in said), said
    assert all((np.asarray(controller.labels_layer.data[t, 0]) == 1).any() for t in range(5))
    points = controller.points_layer
    widget.close_tracker()
    again = open_tracker(viewer)
    assert again.controller.points_layer is points  # adopted, with its prompts
    again.run_panel.direction_buttons["forward"].click()
    idle(qtbot, again)
    assert again.run_panel.note.text().startswith("Tracking object 1") and not said


def test_7_a_z_stack_opened_with_file_open_is_saved_as_a_z_stack_with_its_spacing(qtbot, open_tracker, tmp_path):
    from napari.plugins import _initialize_plugins

    _initialize_plugins()
    stack = tmp_path / "nuclei.tif"
    tifffile.imwrite(
        stack,
        moving_blob_stack(6, dtype=np.uint16),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"},
    )
    viewer = ViewerModel()
    viewer.open(str(stack))  # File › Open: napari's own reader drops the axes and the spacing
    widget = open_tracker(viewer)
    assert widget.image_panel.axis_combo.currentText() == "axis 0 (z), 6 frames"
    canvas_click(widget.controller.points_layer, (3, 40, 35))
    idle(qtbot, widget)
    widget.controller.save_labels(tmp_path / "labels.tif")
    with tifffile.TiffFile(tmp_path / "labels.tif") as tif:
        meta = tif.imagej_metadata
        assert tif.series[0].axes == "ZYX" and meta["spacing"] == 2.0 and meta["unit"] == "um"
        assert tif.pages[0].tags["XResolution"].value == (2, 1)  # 0.5 µm pixels
    assert "Saved labels.tif and labels.json" in widget.status.text()  # a save is confirmed


def test_8_another_image_or_model_chosen_during_a_run_is_refused_and_shown_as_it_is(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(12), name="first")
    viewer.add_image(moving_blob_stack(12, seed=4), name="second")
    widget = open_tracker(viewer)
    choose(widget.image_panel.image_combo, "first")
    controller = widget.controller
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    tried = []

    def during_the_run(progress):
        if progress.state == "running" and progress.done == 1 and not tried:
            tried.append(1)
            choose(widget.image_panel.image_combo, "second")
            choose(widget.model_panel.device_combo, "auto")
            assert widget.image_panel.image_combo.currentText() == "first"
            assert widget.model_panel.device_combo.currentText() == "cpu"
            assert not widget.run_panel.direction_buttons["both"].isEnabled()

    controller.events.progress.connect(during_the_run)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    assert controller.image_layer.name == "first" and widget.run_panel.direction_buttons["both"].isEnabled()
    assert all((np.asarray(controller.labels_layer.data[f]) == 1).any() for f in range(12))
    refusals = [m for m in said if m.startswith("A run is going on in 'first'")]
    assert len(refusals) == 2 and "choosing another image" in refusals[0] and "the model or device" in refusals[1]


@pytest.fixture()
def cells_widget(qtbot, open_tracker):
    viewer = ViewerModel()
    stack, _ = make_timelapse(6)
    viewer.add_image(stack, name="cells", axis_labels=("t", "y", "x"))
    return open_tracker(viewer)


def test_9_an_abandoned_sam_seeds_preview_never_speaks_later(qtbot, cells_widget, said):
    panel, controller = cells_widget.population_panel, cells_widget.controller
    tabs = cells_widget.tabs
    tabs.setCurrentIndex(1)
    choose(panel.seeder, "SAM 2 (segment everything)")
    panel.preview_button.click()  # runs on the worker; with default thresholds it finds nothing
    choose(panel.seeder, "threshold (bright nuclei)")
    panel.preview_button.click()
    panel.track_button.click()
    idle(qtbot, cells_widget)
    assert not any("SAM 2 found no cell" in m for m in said), said
    assert panel.found.text().startswith(f"{len(controller.population.lineage)} tracks in the lineage")
    assert "SAM 2 seeds" not in cells_widget.viewer.layers  # the seeds were tracked: their preview went


def test_10_and_12_napari_save_writes_the_lineage_and_a_seeds_preview_is_shown_on_its_frame_only(
    qtbot, cells_widget, tmp_path
):
    panel, controller, viewer = cells_widget.population_panel, cells_widget.controller, cells_widget.viewer
    viewer.dims.set_current_step(0, 2)
    panel.preview_button.click()
    seeds = viewer.layers["SAM 2 seeds"]
    assert seeds.data.shape[0] == 1 and seeds.translate[0] == 2  # drawn on frame 2, not on every frame
    assert panel.found.text().startswith("") and "on frame 2" in panel.found.text()
    panel.divisions.setChecked(False)
    panel.track_button.click()
    idle(qtbot, cells_widget)
    controller.save_labels(tmp_path / "labels.tif")
    sidecar = json.loads((tmp_path / "labels.json").read_text())
    assert sidecar["lineage"] == controller.population.lineage.as_dict() and len(sidecar["lineage"]) >= 3
    assert sidecar["objects"] == {str(o): n for o, n in controller.objects.items()}


def test_12_and_13_what_the_widget_says_is_what_is(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(12), name="cells")
    viewer.add_image(moving_blob_stack(4, seed=3), name="other")
    widget = open_tracker(viewer)
    choose(widget.image_panel.image_combo, "cells")
    controller, run = widget.controller, widget.run_panel
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    assert widget.model_panel.status.text().endswith("every frame encoded")
    hook = lambda p: p.state == "running" and p.done == 4 and controller.cancel()  # noqa: E731
    controller.events.progress.connect(hook)
    run.direction_buttons["forward"].click()
    idle(qtbot, widget)
    controller.events.progress.disconnect(hook)
    kept = int(run.progress.text().split()[3])
    run.direction_buttons["forward"].click()  # resumed: the run's own frame count
    idle(qtbot, widget)
    assert run.progress.text() == "frame 12 of 12 — done"
    assert run.note.text() == f"Tracking object 1; resuming: {kept} frames already done."
    press_key(controller.points_layer, "Ctrl+Z")  # undo the resumed run ...
    canvas_click(controller.points_layer, (0, 60, 40), modifiers=("Shift",))  # ... and correct
    idle(qtbot, widget)
    run.direction_buttons["forward"].click()
    idle(qtbot, widget)
    assert run.note.text() == "Re-tracking object 1: its prompts changed."
    choose(widget.image_panel.image_combo, "other")  # nothing said of the first image's run
    assert run.note.text() == "" and run.progress.text() == "" and run.flags.count() == 0
    width = widget.model_panel.model_combo.minimumSizeHint().width()
    text = widget.model_panel.model_combo.fontMetrics().horizontalAdvance("random:sam2.1-tiny")
    assert width > text  # the model box shows its name whole
    no_bug(said)


# -- found by the random walk (tests/napari/test_random_moves.py), each now a regular test ---------
def test_redo_right_after_deleting_the_labels_touches_nothing_deleted_and_the_box_names_the_new_layer(
    qtbot, open_tracker, said
):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(5), name="cells")
    widget = open_tracker(viewer)
    controller = widget.controller
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    controller.undo()
    doomed = controller.labels_layer
    kept = np.array(doomed.data)
    viewer.layers.remove(doomed)
    press_key(controller.points_layer, "Ctrl+Shift+Z")  # before napari has finished removing it
    np.testing.assert_array_equal(doomed.data, kept)
    qtbot.waitUntil(lambda: widget.image_panel.labels_combo.currentText() == controller.labels_layer.name)
    assert controller.labels_layer is not doomed and controller.labels_layer in viewer.layers
    no_bug(said)


def test_choosing_another_image_lets_the_first_ones_session_go(qtbot, open_tracker):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(4), name="a")
    viewer.add_image(moving_blob_stack(4, seed=2), name="b")
    widget = open_tracker(viewer)
    choose(widget.image_panel.image_combo, "a")
    canvas_click(widget.controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    choose(widget.image_panel.image_combo, "b")
    idle(qtbot, widget)
    session = widget.controller.owner.peek_session()
    assert session is None or not session.prompts()  # not "a"'s prompts, now that "b" is on screen


def test_a_boxes_layer_deleted_mid_run_comes_back_and_its_boxes_stay_in_the_session(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(8), name="cells")
    widget = open_tracker(viewer)
    controller = widget.controller
    box = np.array([[1, 25, 20], [1, 25, 55], [1, 60, 55], [1, 60, 20]], float)
    controller.add_object()
    controller.shapes_layer.add_rectangles(box)
    idle(qtbot, widget)
    shapes = controller.shapes_layer

    def delete_boxes(progress):
        if progress.state == "running" and progress.done == 1 and shapes in viewer.layers:
            viewer.layers.remove(shapes)

    controller.events.progress.connect(delete_boxes)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    qtbot.waitUntil(lambda: controller.shapes_layer is not None and controller.shapes_layer in viewer.layers)
    assert len(controller.shapes_layer.data) == 1
    session = controller.owner.peek_session()
    assert session.prompts()[1][1].box == (25.0, 20.0, 60.0, 55.0)
    assert controller.prompts.changed(controller.binding.prompt_groups()) == []
    viewer.dims.set_current_step(0, 4)
    controller.shapes_layer.add_rectangles(box + [3, 0, 0])  # drawn in the new layer: the selected object's
    idle(qtbot, widget)
    assert list(controller.shapes_layer.features["object_id"]) == [1, 1]
    assert (np.asarray(controller.labels_layer.data[4]) == 1).any()
    no_bug(said)


def test_a_box_on_a_slice_the_image_does_not_have_is_refused_and_does_not_stay(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(6), name="six frames")
    viewer.add_image(np.stack([moving_blob_stack(3, (60, 80))] * 2, axis=1), name="tzyx")  # z has 2 slices
    widget = open_tracker(viewer)
    choose(widget.image_panel.image_combo, "tzyx")
    choose(widget.image_panel.axis_combo, "axis 1, 2 frames")
    viewer.dims.set_current_step(1, 5)  # the slider reaches 5 for the other image
    shapes = widget.controller.shapes_layer
    shapes.add_rectangles(np.array([[0, 5, 10, 10], [0, 5, 10, 40], [0, 5, 40, 40], [0, 5, 40, 10]], float))
    idle(qtbot, widget)
    assert len(shapes.data) == 0 and any("does not exist" in m for m in said), said
    no_bug(said)


def test_the_image_deleted_mid_run_stops_it_and_the_tracker_moves_to_another_image(qtbot, open_tracker, said):
    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(12), name="first")
    viewer.add_image(moving_blob_stack(4, seed=2), name="second")
    widget = open_tracker(viewer)
    choose(widget.image_panel.image_combo, "first")
    controller = widget.controller
    canvas_click(controller.points_layer, (0, 40, 35))
    idle(qtbot, widget)
    labels = controller.labels_layer
    first = viewer.layers["first"]
    snapshot = []

    def delete_the_image(progress):
        if progress.state == "running" and progress.done == 2 and first in viewer.layers:
            viewer.layers.remove(first)
            snapshot.append(np.array(labels.data))

    controller.events.progress.connect(delete_the_image)
    widget.run_panel.direction_buttons["forward"].click()
    idle(qtbot, widget)
    qtbot.waitUntil(lambda: controller.image_layer is not None and controller.image_layer.name == "second")
    np.testing.assert_array_equal(labels.data, snapshot[0])  # its labels stay, and nothing more was written
    assert labels in viewer.layers and controller.labels_layer is not labels
    assert widget.image_panel.image_combo.currentText() == "second" and widget.objects_panel.list.count() == 0
    assert [m for m in said if "A run is going on" not in m] == said  # the tracker moved on by itself
    assert any("stopped: its image was deleted" in m for m in said), said
    no_bug(said)
