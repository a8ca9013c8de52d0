"""The rest of the first-user findings: progress, 2-D images, a reopened tracker, failed
loads, a closed tracker, following frames, colours and axis names.

On a bare ViewerModel with the random-weight test model; the widget where the finding was
about the widget.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core import outputs  # noqa: E402
from napari_sam2.core.errors import Sam2SetupError  # noqa: E402
from napari_sam2.plugin import axis_name  # noqa: E402
from tests.helpers import assert_meaningful, moving_blob_stack  # noqa: E402


def _notifications(monkeypatch) -> list[str]:
    messages: list[str] = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append(m))
    return messages


def test_both_counts_each_frame_once_and_the_json_records_the_run(make_tracker, tmp_path):
    _, controller, wait = make_tracker(moving_blob_stack(7), name="nuclei")
    progress = []
    controller.events.progress.connect(progress.append)
    controller.add_click([3, 40, 50])
    wait()
    controller.propagate("both")
    wait()
    assert [p.total for p in progress] == [7] * len(progress)  # not 8: the start frame is written once
    assert progress[-1].text() == "frame 7 of 7 — done"
    done = [p.done for p in progress]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 7
    controller.save_labels(tmp_path / "labels.tif")
    sidecar = outputs.read_sidecar(tmp_path / "labels.tif")
    assert sidecar["complete"] is True
    assert sidecar["settings"]["runs"] == [{"direction": "both", "start": None, "frame_range": None}]


def test_a_2d_image_is_a_stack_of_one_frame(make_tracker, tmp_path):
    _, controller, wait = make_tracker(moving_blob_stack(1)[0], name="one image")
    assert controller.labels_layer.data.shape == (90, 140) and controller.frame_count() == 1
    controller.add_click([40, 35])
    wait()
    assert_meaningful(controller.labels_layer.data == 1)
    preview = controller.labels_layer.data.copy()
    controller.propagate("forward")
    wait()
    np.testing.assert_array_equal(controller.labels_layer.data, preview)  # the prompted frame keeps its mask
    controller.save_labels(tmp_path / "labels.tif")
    assert outputs.read_sidecar(tmp_path / "labels.tif")["complete"] is True


def test_a_missing_device_is_said_plainly_and_the_click_does_not_stay(make_tracker, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _, controller, wait = make_tracker(moving_blob_stack(4), name="cells")
    statuses, messages = [], _notifications(monkeypatch)
    controller.events.status.connect(statuses.append)
    controller.set_model(controller.settings.model, "cuda")
    controller.add_click([1, 40, 35])
    wait()
    assert messages == ["The cuda device was chosen, but no CUDA GPU is available here: choose auto or cpu."]
    assert statuses[-1] == f"model not loaded: {messages[0]}"  # not stuck on "Loading …"
    assert len(controller.points_layer.data) == 0  # the refused click is not left behind


def test_a_click_that_failed_offline_leaves_no_duplicate_point(make_tracker, monkeypatch):
    _, controller, wait = make_tracker(moving_blob_stack(4), name="cells")
    messages = _notifications(monkeypatch)
    controller.set_model("sam2.1-tiny", "cpu")  # not downloaded: the first click needs the hub
    loader, real_load, calls = controller.owner._loader, controller.owner._loader.load, []

    def offline_once(spec, **kwargs):
        calls.append(spec)
        if len(calls) == 1:
            raise Sam2SetupError("sam2.1-tiny is not downloaded yet and the hub cannot be reached.")
        return real_load("random:sam2.1-tiny", **kwargs)

    monkeypatch.setattr(loader, "load", offline_once)
    controller.add_click([1, 40, 35])
    wait()
    assert "cannot be reached" in messages[0] and len(controller.points_layer.data) == 0
    controller.add_click([1, 40, 35])  # the user clicks again once online
    wait()
    assert len(controller.points_layer.data) == 1 and (controller.labels_layer.data[1] == 1).any()


def test_a_closed_tracker_writes_nothing_more(make_tracker):
    viewer, controller, wait = make_tracker(moving_blob_stack(8), name="cells")
    controller.add_click([0, 40, 35])
    wait()
    at_close = {}

    def close_after_first_frame(progress):
        if progress.done == 1 and not at_close:
            at_close["labels"] = controller.labels_layer.data.copy()
            controller.close()
            viewer.layers.clear()  # what closing the viewer does

    controller.events.progress.connect(close_after_first_frame)
    labels = controller.labels_layer
    controller.propagate("forward")
    wait()
    np.testing.assert_array_equal(labels.data, at_close["labels"])


def test_follow_shows_each_frame_as_it_is_tracked(make_tracker):
    viewer, controller, wait = make_tracker(moving_blob_stack(6), name="cells")
    controller.add_click([0, 40, 35])
    wait()
    controller.set_follow(True)
    shown = []
    controller.events.progress.connect(lambda p: p.state == "running" and p.done and shown.append(viewer.dims.point[0]))
    controller.propagate("forward")
    wait()
    assert shown == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_object_colours_are_seen_on_dark_and_bright_cells_and_told_apart_and_axes_are_named(make_tracker):
    """Object 1 was a dark brown (0.18) on dark fluorescence, object 2 near white on bright
    nuclei, and objects 3, 4 and 8 hard to tell apart."""
    viewer, controller, _ = make_tracker(moving_blob_stack(4), name="cells", axis_labels=("t", "y", "x"))
    colours = np.array([controller.colour(obj)[:3] for obj in range(1, 11)])
    luminance = colours @ np.array([0.2126, 0.7152, 0.0722])
    assert (luminance > 0.4).all() and (luminance < 0.8).all(), luminance
    apart = np.linalg.norm(colours[:, None] - colours[None], axis=-1) + np.eye(10)
    assert apart.min() > 0.3, apart.min()  # in RGB from 0 to 1: no two of the first ten look alike
    assert axis_name(controller.image_layer, viewer, 0) == "axis 0 (t)"


def test_reopening_the_tracker_keeps_its_renamed_layers_and_objects(qtbot, reduced_model, reduced_model_dir):
    from napari_sam2.widgets import TrackerWidget

    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(4), name="cells")
    first = TrackerWidget(viewer)
    qtbot.addWidget(first)
    first.controller.set_model(str(reduced_model_dir), "cpu")
    first.controller.use_loaded_model(reduced_model)
    first.controller.add_object("mother cell")
    first.controller.add_click([1, 40, 35])
    qtbot.waitUntil(lambda: first.controller.idle and (first.controller.labels_layer.data == 1).any(), timeout=60_000)
    first.close_tracker()
    first.controller.labels_layer.name = "my cells"  # renamed by the user: still the tracker's
    names_before = [layer.name for layer in viewer.layers]
    second = TrackerWidget(viewer)
    qtbot.addWidget(second)
    assert [layer.name for layer in viewer.layers] == names_before  # no "SAM 2 labels [1]"
    assert second.controller.labels_layer is first.controller.labels_layer
    objects = [second.objects_panel.list.item(i).text() for i in range(second.objects_panel.list.count())]
    assert objects == ["mother cell"]  # its name too
    assert second.model_panel.spec() == str(reduced_model_dir)  # and the model chosen
    assert second.image_panel.axis_combo.currentText() == "axis 0, 4 frames"
    second.close_tracker()


def test_the_widget_offers_a_2d_image_as_one_frame(qtbot):
    from napari_sam2.widgets import TrackerWidget

    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(1)[0], name="one image")
    widget = TrackerWidget(viewer)
    qtbot.addWidget(widget)
    assert widget.image_panel.axis_combo.currentText() == "single image (one frame)"
    assert widget.controller.labels_layer.data.shape == (90, 140)
    widget.close_tracker()
