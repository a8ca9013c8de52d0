"""An OME-Zarr time-lapse opened by napari-ome-zarr (a multiscale layer, 2 s a frame, 0.5 µm
pixels) is tracked at full resolution: the click lands on its cell, the labels have level
0's shape and the image's scale, and the store is not touched; *Save labels…* offers the store
and writes the labels into its ``labels/`` group, where ome-zarr-py and napari-ome-zarr find
them, leaving the image's arrays as they were (formats issue)."""

from __future__ import annotations

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("napari_ome_zarr")

from napari_sam2.widgets._run_panel import FilesRow  # noqa: E402
from tests.core.integration.test_ome_zarr import _digest, _image_files, _ome_image  # noqa: E402
from tests.napari.conftest import canvas_click  # noqa: E402

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)


def test_an_ome_zarr_opened_by_napari_ome_zarr_is_tracked_at_full_resolution_and_saved_into_it(
    make_napari_viewer, qtbot, reduced_model, reduced_model_dir, tmp_path, monkeypatch
):
    from napari_sam2.core.sample import make_timelapse
    from tests.helpers import assert_meaningful

    stack, prompts = make_timelapse(4)
    store = _ome_image(tmp_path / "cells.zarr", stack, "0.5")
    before = _digest(store)
    viewer = make_napari_viewer()
    [image] = viewer.open(str(store), plugin="napari-ome-zarr")
    assert image.multiscale and tuple(image.data[0].shape) == stack.shape
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    controller = widget.controller
    controller.set_model(str(reduced_model_dir), "cpu")
    controller.use_loaded_model(reduced_model)
    qtbot.waitUntil(lambda: controller.loaded is not None, timeout=60_000)
    controller.add_object()
    p = prompts[0]
    viewer.dims.set_point(0, p.frame * 2.0)  # world time: 2 s a frame
    canvas_click(controller.points_layer, (p.frame * 2.0, p.y * 0.5, p.x * 0.5))
    qtbot.waitUntil(lambda: controller.idle, timeout=60_000)
    labels = controller.labels_layer
    assert labels.data.shape == stack.shape and tuple(labels.scale) == tuple(image.scale)
    mask = np.asarray(labels.data[p.frame]) == 1
    assert_meaningful(mask)
    assert mask[int(p.y), int(p.x)]  # the clicked cell, at full resolution
    assert _digest(store) == before
    # Save labels…: the dialog offers the image's store; the labels go into its labels/ group.
    offered = {}

    def dialog(parent, title, default, filters, *a, **k):
        offered.update(default=default, filters=filters)
        return default, ""

    monkeypatch.setattr("napari_sam2.widgets._run_panel.QFileDialog.getSaveFileName", dialog)
    widget.findChild(FilesRow)._on_save()
    assert offered["default"] == str(store) and offered["filters"].startswith("Into the OME-Zarr image")
    assert _image_files(store) == before  # the image's own arrays, byte for byte
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = {str(n.zarr.path).rstrip("/").split("/")[-1]: n for n in Reader(parse_url(str(store)))()}
    saved = np.asarray(nodes["napari-sam2"].data[0])  # ome-zarr-py finds them through labels/
    assert (saved == np.asarray(labels.data)).all()
    again = make_napari_viewer()
    kinds = {type(layer).__name__ for layer in again.open(str(store), plugin="napari-ome-zarr")}
    assert kinds == {"Image", "Labels"}  # napari-ome-zarr opens them with the image
    # File › Save Selected Layers with napari-sam2's writer chosen: the same, by the extension
    labels.data[:] = 0
    labels.save(str(store), plugin="napari-sam2")
    assert not np.asarray(zarr.open_group(str(store / "labels" / "napari-sam2"), mode="r")["0"]).any()
    assert _image_files(store) == before


def test_napari_ome_zarr_opens_the_image_with_the_labels_the_cli_wrote_into_it(
    make_napari_viewer, reduced_model_dir, tmp_path
):
    from napari_sam2.cli import main
    from napari_sam2.core.sample import make_timelapse

    stack, _ = make_timelapse(4)
    store = _ome_image(tmp_path / "cells.zarr", stack, "0.4")
    args = ["track", str(store), "--seeds", "threshold", "--out", str(store), "--model", str(reduced_model_dir)]
    assert main([*args, "--quiet"]) == 0
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-ome-zarr")
    kinds = {type(layer).__name__: layer for layer in layers}
    assert set(kinds) == {"Image", "Labels"}  # image and labels together
    import zarr

    written = np.asarray(zarr.open_group(str(store / "labels" / "napari-sam2"), mode="r")["0"])
    labels = kinds["Labels"]
    shown = np.asarray(labels.data[0] if labels.multiscale else labels.data)
    assert (shown == written).all() and tuple(labels.scale) == tuple(kinds["Image"].scale)
