"""A real napari viewer (OpenGL under Xvfb): the dock widget end to end, as a user drives it."""

from __future__ import annotations

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from tests.napari.conftest import canvas_click  # noqa: E402

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)


def test_dock_widget_click_preview_propagate_cancel_undo_correct_save(
    make_napari_viewer, qtbot, reduced_model, reduced_model_dir, tmp_path
):
    from tests.helpers import assert_meaningful, moving_blob_stack

    viewer = make_napari_viewer()
    viewer.add_image(moving_blob_stack(10), name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    controller = widget.controller
    assert controller.image_layer.name == "cells" and widget.image_panel.axis_combo.count() == 1
    controller.set_model(str(reduced_model_dir), "cpu")
    controller.use_loaded_model(reduced_model)
    qtbot.waitUntil(lambda: controller.loaded is not None, timeout=60_000)

    def wait():
        qtbot.waitUntil(lambda: controller.idle, timeout=60_000)

    controller.add_object()
    points, labels = controller.points_layer, controller.labels_layer
    canvas_click(points, (0, 40, 35))
    canvas_click(points, (0, 85, 135), modifiers=("Shift",))
    wait()
    assert list(points.features["positive"]) == [True, False]
    assert_meaningful(labels.data[0] == 1)
    assert widget.objects_panel.list.count() == 1

    cancel_at_4 = lambda p: p.done == 4 and controller.cancel()  # noqa: E731
    controller.events.progress.connect(cancel_at_4)
    widget.run_panel._on_propagate("forward")
    wait()
    controller.events.progress.disconnect(cancel_at_4)
    partial = [f for f in range(10) if (labels.data[f] == 1).any()]
    assert 4 <= len(partial) < 10
    labels.undo()
    assert [f for f in range(10) if (labels.data[f] == 1).any()] == [0]

    widget.run_panel._on_propagate("forward")
    wait()
    assert all((labels.data[f] == 1).any() for f in range(10))
    assert widget.run_panel.progress.value() == widget.run_panel.progress.maximum()

    viewer.dims.set_current_step(0, 5)
    canvas_click(points, (5, 50, 70), modifiers=("Shift",))
    wait()
    corrected = labels.data[5].copy()
    widget.run_panel._on_propagate("forward", from_current=True)
    wait()
    np.testing.assert_array_equal(labels.data[5], corrected)

    controller.save_labels(tmp_path / "labels.tif")
    assert (tmp_path / "labels.json").exists()
    [reloaded] = viewer.open(str(tmp_path / "labels.tif"), layer_type="labels", name="reloaded")
    np.testing.assert_array_equal(np.asarray(reloaded.data), labels.data)
    viewer.window.remove_dock_widget(widget)  # what napari's close button does
    assert controller._on_click not in points.mouse_drag_callbacks
    assert widget.controller.idle
