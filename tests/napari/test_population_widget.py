"""The "All cells" panel, used through its buttons: seeds previewed, the whole population
tracked as one undo step, a Tracks layer with the lineage, and CTC / GEFF exports that the
real tools read."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core.sample import make_timelapse  # noqa: E402
from tests.napari.conftest import choose  # noqa: E402


@pytest.fixture()
def widget(qtbot, reduced_model, reduced_model_dir):
    from napari_sam2.widgets import TrackerWidget

    viewer = ViewerModel()
    stack, _ = make_timelapse(6)
    viewer.add_image(stack, name="cells", axis_labels=("t", "y", "x"))
    made = TrackerWidget(viewer)
    qtbot.addWidget(made)
    made.controller.set_model(str(reduced_model_dir), "cpu")
    made.controller.use_loaded_model(reduced_model)
    qtbot.waitUntil(lambda: made.controller.loaded is not None, timeout=60_000)
    yield made
    made.close_tracker()


def test_seeds_preview_then_every_cell_is_tracked_with_its_lineage_in_one_undo_step(widget, qtbot, monkeypatch):
    controller, panel, viewer = widget.controller, widget.population_panel, widget.viewer
    errors = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: errors.append(m))
    panel.track_button.click()  # before a preview: one plain message, nothing runs
    assert errors == ["Preview the seeds first: they are the cells that will be tracked."]
    viewer.dims.set_current_step(0, 0)  # seeds on the first frame; the run goes forward
    panel.preview_button.click()
    seeds = viewer.layers["SAM 2 seeds"].data
    n = len(np.unique(seeds)) - 1
    assert n >= 3 and panel.found.text().startswith(f"{n} seeds")
    assert controller.labels_layer.data.max() == 0  # a preview tracks nothing
    panel.redetect.setValue(3)
    panel.track_button.click()
    qtbot.waitUntil(lambda: controller.idle, timeout=120_000)
    labels = controller.labels_layer.data
    assert all(labels[t].any() for t in range(6))
    tracks = viewer.layers["SAM 2 tracks"]
    assert set(np.unique(tracks.data[:, 0]).astype(int)) <= set(np.unique(labels)) - {0}
    assert [o for o, _ in controller.objects.items()] == sorted(
        int(row.id) for row in controller.population.lineage.tracks.values()
    )
    panel_list = widget.objects_panel.list
    first = panel_list.item(0).text()
    assert "(frames 0–" in first, first  # each track's frames (and parent) in the object list
    controller.labels_layer.undo()  # the whole population run is one step
    assert not controller.labels_layer.data.any()


def test_ctc_and_geff_exports_load_in_the_real_tools(widget, qtbot, tmp_path, monkeypatch):
    import geff
    from ctc_metrics.scripts.validate import validate_sequence

    controller, panel = widget.controller, widget.population_panel
    widget.viewer.dims.set_current_step(0, 0)
    panel.preview_button.click()
    panel.track_button.click()
    qtbot.waitUntil(lambda: controller.idle, timeout=120_000)
    for kind, path in (("ctc", tmp_path / "01_RES"), ("geff", tmp_path / "cells.geff")):
        monkeypatch.setattr(
            "napari_sam2.widgets._population_panel.QFileDialog.getSaveFileName", lambda *a, p=path, **k: (str(p), "")
        )
        getattr(panel, f"_on_{kind}")()
    assert validate_sequence(str(tmp_path / "01_RES"), threads=1)["Valid"] == 1
    geff.validate_structure(tmp_path / "cells.geff")


def test_sam_seeds_are_found_on_the_worker_and_shown(widget, qtbot, monkeypatch):
    """SAM 2's own seeder needs the model, so it runs as a task; the random-weight model's
    masks only pass with SAM's quality thresholds opened, which is what this test does."""
    import functools

    from napari_sam2.core import everything

    loose = functools.partial(
        everything.EverythingOptions, points_per_side=8, pred_iou_thresh=0, stability_score_thresh=0
    )
    monkeypatch.setattr(everything, "EverythingOptions", loose)
    panel, viewer = widget.population_panel, widget.viewer
    viewer.dims.set_current_step(0, 0)
    choose(panel.seeder, "SAM 2 (segment everything)")
    panel.preview_button.click()
    assert panel.found.text() == "SAM 2 is segmenting frame 0 …"
    qtbot.waitUntil(lambda: widget.controller.idle and "SAM 2 seeds" in viewer.layers, timeout=60_000)
    n = len(np.unique(viewer.layers["SAM 2 seeds"].data)) - 1
    assert n >= 1 and panel.found.text().startswith(f"{n} seeds")
    # New cells are found the way the seeds were: SAM 2 segments the named frame again, on the worker.
    segmented = []
    original = everything.segment_everything
    monkeypatch.setattr(everything, "segment_everything", lambda s, f, *a: segmented.append(f) or original(s, f, *a))
    panel.redetect_frames.setText("3")
    panel.track_button.click()
    qtbot.waitUntil(lambda: widget.controller.idle, timeout=120_000)
    assert segmented == [3] and len(widget.controller.population.lineage) >= n


def _track_all_cells(widget, qtbot, frames=""):
    """Preview the seeds on frame 0 and track all cells, divisions off (random weights
    fragment masks: the run's lineage stays flat, so a test knows what to expect)."""
    panel = widget.population_panel
    widget.viewer.dims.set_current_step(0, 0)
    panel.divisions.setChecked(False)
    panel.redetect_frames.setText(frames)
    panel.preview_button.click()
    panel.track_button.click()
    qtbot.waitUntil(lambda: widget.controller.idle, timeout=120_000)


def _select(widget, obj):
    panel = widget.objects_panel.list
    row = next(i for i in range(panel.count()) if panel.item(i).data(256) == obj)  # Qt.UserRole
    panel.setCurrentRow(row)
    assert widget.controller.objects.selected == obj


def test_a_division_marked_by_hand_is_one_undo_step_and_the_tracks_layer_follows_undo(widget, qtbot):
    controller, panel, viewer = widget.controller, widget.population_panel, widget.viewer
    _track_all_cells(widget, qtbot)
    labels = controller.labels_layer
    mother = max(controller.population.lineage.tracks, key=lambda o: (labels.data[3] == o).sum())
    before_labels = np.array(labels.data)
    tracks_before = viewer.layers["SAM 2 tracks"].data.copy()
    _select(widget, mother)
    viewer.dims.set_current_step(0, 3)
    panel.divide_button.click()
    assert panel.pick.text().startswith(f"Click the first daughter of object {mother} on frame 3")
    ys, xs = np.nonzero(labels.data[3] == mother)
    controller.add_click([3, ys.mean(), xs.min() + 2])  # the path of a canvas click
    assert panel.pick.text() == "Now click the second daughter on frame 3."
    assert len(controller.points_layer.data) == 0  # daughters are not prompts
    controller.add_click([3, ys.mean(), xs.max() - 2])
    assert panel.pick.text() == "" and not panel.cancel_pick_button.isEnabled()
    qtbot.waitUntil(lambda: controller.idle, timeout=120_000)
    lineage = controller.population.lineage
    daughters = lineage.children(mother)
    assert len(daughters) == 2 and lineage.tracks[mother].last == 2
    assert not (labels.data[3:] == mother).any() and (labels.data[:3] == mother).any()
    assert all((labels.data[3] == d).any() for d in daughters)
    assert widget.run_panel.note.text().startswith(f"Cell {mother} divides on frame 3")
    graph = viewer.layers["SAM 2 tracks"].graph
    assert all(graph[d] == [mother] for d in daughters)
    assert any(
        f"daughter of object {mother}" in widget.objects_panel.list.item(i).text()
        for i in range(widget.objects_panel.list.count())
    )

    labels.undo()  # Ctrl-Z: the division, as one step; the lineage and the Tracks layer follow
    assert (np.asarray(labels.data) == before_labels).all()
    assert controller.population.lineage.tracks[mother].last == 5 and not set(daughters) & set(
        controller.population.lineage.tracks
    )
    assert not viewer.layers["SAM 2 tracks"].graph and len(viewer.layers["SAM 2 tracks"].data) == len(tracks_before)
    assert not set(daughters) & {o for o, _ in controller.objects.items()}
    qtbot.waitUntil(lambda: controller.idle, timeout=60_000)
    session = controller.owner.peek_session()  # the worker's session followed: no daughters, the mother lives on
    assert not set(daughters) & set(session.object_ids) and session._objects[mother].exists_on(5)
    labels.redo()
    assert controller.population.lineage.children(mother) == daughters
    labels.selected_label = daughters[0]  # napari's label picker selects the cell in the tracker too
    assert controller.objects.selected == daughters[0]


def test_undo_division_and_join_are_label_edits_the_ctc_validator_accepts(widget, qtbot, tmp_path, monkeypatch):
    from ctc_metrics.scripts.validate import validate_sequence

    controller, panel, viewer = widget.controller, widget.population_panel, widget.viewer
    _track_all_cells(widget, qtbot)
    labels = controller.labels_layer
    mother = max(controller.population.lineage.tracks, key=lambda o: (labels.data[3] == o).sum())
    _select(widget, mother)
    viewer.dims.set_current_step(0, 3)
    ys, xs = np.nonzero(labels.data[3] == mother)
    panel.divide_button.click()
    controller.add_click([3, ys.mean(), xs.min() + 2])
    controller.add_click([3, ys.mean(), xs.max() - 2])
    qtbot.waitUntil(lambda: controller.idle, timeout=120_000)
    first, second = controller.population.lineage.children(mother)
    after_division = np.array(labels.data)

    _select(widget, second)  # from a daughter: the division did not happen
    panel.undo_division_button.click()
    lineage = controller.population.lineage
    assert lineage.children(mother) == [] and lineage.tracks[mother].last == 5
    daughters_pixels = np.isin(after_division[3:], [first, second])
    assert (np.asarray(labels.data)[3:][daughters_pixels] == mother).all()
    labels.undo()
    assert (np.asarray(labels.data) == after_division).all()
    assert controller.population.lineage.children(mother) == [first, second]

    _select(widget, mother)  # the mother continues as the first daughter; the second has no parent
    panel.join_button.click()
    assert "click the cell that continues" in panel.pick.text()
    viewer.dims.set_current_step(0, 4)
    fy, fx = np.nonzero(labels.data[4] == first)
    controller.add_click([4, fy[len(fy) // 2], fx[len(fx) // 2]])  # a pixel of the first daughter
    lineage = controller.population.lineage
    assert first not in lineage.tracks and lineage.tracks[mother].last == 5 and lineage.tracks[second].parent == 0
    assert not (np.asarray(labels.data) == first).any()
    assert lineage.check_against(np.asarray(labels.data)) == []
    monkeypatch.setattr(
        "napari_sam2.widgets._population_panel.QFileDialog.getSaveFileName", lambda *a, **k: (str(tmp_path / "r"), "")
    )
    panel._on_ctc()
    assert validate_sequence(str(tmp_path / "r"), threads=1)["Valid"] == 1


def test_corrections_refused_in_one_line(widget, qtbot, monkeypatch):
    controller, panel, viewer = widget.controller, widget.population_panel, widget.viewer
    errors = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: errors.append(m))
    _track_all_cells(widget, qtbot)
    cell = min(controller.population.lineage.tracks)
    _select(widget, cell)
    viewer.dims.set_current_step(0, 0)
    panel.divide_button.click()  # a cell cannot divide on the frame it starts
    panel.undo_division_button.click()  # she never divided
    panel.redetect_frames.setText("three")
    panel.track_button.click()
    assert errors == [
        f"Cell {cell} is tracked on frames 0–5: a division must be on a later frame than its first, up to 6.",
        f"Cell {cell} has neither a mother nor daughters: there is no division to undo.",
        "'three' is not a list of frame numbers (for example: 12, 30).",
    ]
    assert panel.pick.text() == ""


def test_new_cells_are_found_in_the_seed_labels_layer_on_the_frames_named(widget, qtbot):
    """Seeds from a Labels layer with a plane per frame (say, stardist run on every frame):
    re-detection reads the same layer, on the frames typed in the panel."""
    from napari_sam2.core.seeders import threshold_seeds

    controller, panel, viewer = widget.controller, widget.population_panel, widget.viewer
    stack = viewer.layers["cells"].data
    planes = np.zeros(stack.shape, np.uint16)
    for t in range(len(stack)):
        for obj, mask in threshold_seeds(stack[t].astype(np.float32)).items():
            planes[t][mask] = obj
    planes[4, 125:150, 10:35] = 99  # a cell that enters on frame 4, where no tracked cell is
    viewer.add_labels(planes, name="nuclei")
    panel.refresh()
    choose(panel.seeder, "labels: nuclei")
    panel.redetect_frames.setText("4")
    _track_all_cells(widget, qtbot, frames="4")
    lineage = controller.population.lineage
    assert set(lineage.tracks) >= {int(i) for i in np.unique(planes[0]) if i}  # the seeds' ids kept
    seeds = {int(i) for i in np.unique(planes[0]) if i}
    newcomers = {t.id for t in lineage.tracks.values() if t.first <= 4 and not t.parent and t.id not in seeds}
    data = np.asarray(controller.labels_layer.data)
    [newcomer] = newcomers & set(np.unique(data[4, 125:150, 10:35]))
    first = lineage.tracks[newcomer].first  # tracked back from frame 4 while it is there
    assert not (data[:first] == newcomer).any() and all((data[t] == newcomer).any() for t in range(first, 5))
