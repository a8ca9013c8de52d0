"""The "All cells" panel, used through its buttons: seeds previewed, the whole population
tracked as one undo step, a Tracks layer with the lineage, and CTC / GEFF exports that the
real tools read."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core.sample import make_timelapse  # noqa: E402


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
    monkeypatch.setattr("napari_sam2.widgets._common.notify", lambda m, error=False: errors.append(m))
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
    from napari_sam2.plugin import EVERYTHING

    loose = functools.partial(
        everything.EverythingOptions, points_per_side=8, pred_iou_thresh=0, stability_score_thresh=0
    )
    monkeypatch.setattr(everything, "EverythingOptions", loose)
    panel, viewer = widget.population_panel, widget.viewer
    viewer.dims.set_current_step(0, 0)
    panel.seeder.setCurrentText(EVERYTHING)
    panel.preview_button.click()
    assert panel.found.text() == "SAM 2 is segmenting this frame …"
    qtbot.waitUntil(lambda: widget.controller.idle and "SAM 2 seeds" in viewer.layers, timeout=60_000)
    n = len(np.unique(viewer.layers["SAM 2 seeds"].data)) - 1
    assert n >= 1 and panel.found.text().startswith(f"{n} seeds")
