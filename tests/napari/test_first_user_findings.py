"""What a first-time user met in the plugin (issue: the plugin as a first-time user meets it).

These run on a bare ViewerModel; tests/napari/test_first_user.py drives the same path in a
real window.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from napari_sam2.core import outputs  # noqa: E402
from napari_sam2.core.errors import Sam2FileError, Sam2InputError  # noqa: E402
from tests.helpers import assert_meaningful, moving_blob_stack  # noqa: E402
from tests.napari.conftest import choose  # noqa: E402


def test_an_image_of_another_shape_gets_its_own_labels_layer(make_tracker):
    viewer, controller, wait = make_tracker(moving_blob_stack(4), name="small")
    first_labels = controller.labels_layer
    other = viewer.add_image(moving_blob_stack(5, shape=(100, 120)), name="other")
    controller.set_image_layer(other)
    assert controller.labels_layer is not first_labels and controller.labels_layer.data.shape == (5, 100, 120)
    controller.add_click([2, 45, 40])
    wait()
    assert_meaningful(controller.labels_layer.data[2] == controller.objects.selected)
    assert first_labels in viewer.layers and not first_labels.data.any()


def test_a_zstack_is_saved_as_z_with_its_step_and_partial_work_is_not_complete(make_tracker, tmp_path):
    _, controller, wait = make_tracker(moving_blob_stack(6), name="nuclei", scale=(2.0, 0.5, 0.5))
    controller.image_layer.axis_labels = ("z", "y", "x")
    controller.add_click([2, 40, 35])
    wait()
    controller.save_labels(tmp_path / "labels.tif")
    with tifffile.TiffFile(tmp_path / "labels.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX" and tif.imagej_metadata["spacing"] == 2.0
    sidecar = outputs.read_sidecar(tmp_path / "labels.tif")
    assert sidecar["complete"] is False and sidecar["frames_done"] == [2]
    controller.propagate("both")
    wait()
    controller.save_labels(tmp_path / "all.tif")
    assert outputs.read_sidecar(tmp_path / "all.tif")["complete"] is True


def test_saving_never_replaces_the_image_file_and_a_full_disk_loses_nothing(make_tracker, tmp_path, monkeypatch):
    viewer, controller, wait = make_tracker(moving_blob_stack(3), name="cells")
    stack = tmp_path / "cells.tif"
    tifffile.imwrite(stack, moving_blob_stack(3))
    from napari.layers._source import layer_source

    with layer_source(path=str(stack)):  # as napari's reader marks a layer opened from a file
        image = viewer.add_image(tifffile.imread(stack), name="from file")
    controller.set_image_layer(image)
    controller.add_click([0, 40, 35])
    wait()
    before = stack.read_bytes()
    with pytest.raises(Sam2InputError, match="is the input"):
        controller.save_labels(stack)
    assert stack.read_bytes() == before
    controller.save_labels(tmp_path / "labels.tif")
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(Sam2FileError, match="the disk is full"):
        controller.save_labels(tmp_path / "labels.tif")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == kept
    with pytest.raises(Sam2InputError, match="does not exist"):
        controller.save_labels(tmp_path / "missing" / "labels.tif")


def test_saved_labels_open_in_the_same_place(make_tracker, tmp_path):
    _, controller, wait = make_tracker(moving_blob_stack(4), name="cells")
    controller.add_click([1, 40, 35])
    wait()
    controller.save_labels(tmp_path / "labels.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "labels.tif"), controller.labels_layer.data)


def test_deleted_tracker_layers_are_recreated_and_closing_recreates_nothing(qtbot, reduced_model, reduced_model_dir):
    from napari.components import ViewerModel

    from napari_sam2.widgets import TrackerWidget

    viewer = ViewerModel()
    viewer.add_image(moving_blob_stack(4), name="cells")
    widget = TrackerWidget(viewer)
    qtbot.addWidget(widget)
    controller = widget.controller
    controller.set_model(str(reduced_model_dir), "cpu")
    controller.use_loaded_model(reduced_model)
    qtbot.waitUntil(lambda: controller.loaded is not None, timeout=60_000)
    controller.add_click([1, 40, 35])
    qtbot.waitUntil(lambda: controller.idle, timeout=60_000)
    old_points = controller.points_layer
    viewer.layers.remove(old_points)
    qtbot.waitUntil(lambda: controller.points_layer is not None and controller.points_layer in viewer.layers)
    points = controller.points_layer
    np.testing.assert_array_equal(points.data, old_points.data)  # the prompt survived
    assert controller._on_click in points.mouse_drag_callbacks  # clicks work again
    viewer.add_image(moving_blob_stack(3, shape=(60, 70)), name="other")
    choose(widget.image_panel.image_combo, "other")
    qtbot.wait(50)
    assert sum(layer.name.startswith("SAM 2 prompts") for layer in viewer.layers) <= 2
    viewer.layers.clear()  # what closing the viewer does
    qtbot.wait(50)
    assert len(viewer.layers) == 0
    widget.close_tracker()
