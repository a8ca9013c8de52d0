"""A first-time user's session in a real napari window, run in a fresh process by test_first_user.py.

It starts from the README's demo entry point, picks a model in the widget, and then only
uses what a user touches: mouse clicks on the canvas, the widget's buttons, Ctrl-Z. The
model loads lazily on the first click, after napari made its OpenGL context (that order
crashed under Mesa when triton was imported). Prints one JSON line of findings.
"""

from __future__ import annotations

import json
import sys
import time


def canvas_point(viewer, row: float, col: float):
    """Canvas pixel of a world (row, col) position on a 2-D view."""
    from qtpy.QtCore import QPoint

    canvas = viewer.window._qt_viewer.canvas.native
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    center, zoom = camera.center[-2:], camera.zoom
    x = (col - center[1]) * zoom + canvas.width() / 2
    y = (row - center[0]) * zoom + canvas.height() / 2
    return canvas, QPoint(int(round(x)), int(round(y)))


def click(viewer, row: float, col: float, *, shift: bool = False) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    canvas, point = canvas_point(viewer, row, col)
    modifier = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, modifier, point)


def wait_until(app, condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the tracker did not finish in time")
        app.processEvents()
        time.sleep(0.02)


def main(model: str) -> dict:
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_sam2.plugin._demo import open_demo

    viewer, widget = open_demo(model=model)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1200, 800)
    viewer.window.show()
    app.processEvents()
    controller = widget.controller
    labels = controller.labels_layer
    idle = lambda: controller.idle and not controller.propagating  # noqa: E731
    found = {"model_loaded_before_click": controller.loaded is not None}

    # Paint a stroke by hand first: it must stay undoable after runs.
    labels.selected_label = 9
    labels.paint((3, 10, 10), 9)
    found["painted"] = int((np.asarray(labels.data[3]) == 9).sum())

    viewer.dims.set_current_step(0, 3)
    click(viewer, 75, 65)  # a cell of the sample
    wait_until(app, lambda: controller.loaded is not None and idle())
    obj = controller.objects.selected
    found["object"] = obj
    found["preview_pixels"] = int((np.asarray(labels.data[3]) == obj).sum())
    found["frame_pixels"] = int(np.prod(labels.data.shape[-2:]))
    found["n_frames"] = int(labels.data.shape[0])
    widget.run_panel.direction_buttons["forward"].click()
    wait_until(app, idle)
    found["tracked_frames"] = int(sum((np.asarray(labels.data[f]) == obj).any() for f in range(labels.data.shape[0])))
    widget.run_panel.direction_buttons["both"].click()  # a second run, reaching frames 0-2 too
    wait_until(app, idle)
    for _ in range(3):  # the two runs and the preview
        controller.undo()
    found["after_undoing_runs_and_preview"] = int((np.asarray(labels.data) == obj).sum())
    found["paint_kept"] = int((np.asarray(labels.data[3]) == 9).sum())
    controller.undo()  # the paint stroke
    found["paint_after_undo"] = int((np.asarray(labels.data[3]) == 9).sum())
    return found


if __name__ == "__main__":
    result = main(sys.argv[1])
    print("FINDINGS " + json.dumps(result), flush=True)
