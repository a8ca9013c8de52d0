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
    found.update(cancel_resume_and_a_second_object(app, viewer, widget, idle))
    return found


def frames_with(labels, obj) -> list[int]:
    import numpy as np

    return [f for f in range(labels.data.shape[0]) if (np.asarray(labels.data[f]) == obj).any()]


def cancel_resume_and_a_second_object(app, viewer, widget, idle) -> dict:
    """Cancel after two frames, press Forward again (it resumes); then add an object with the
    widget's button and one click, and track it (alone)."""
    import numpy as np

    controller, run, found = widget.controller, widget.run_panel, {}
    labels, obj = controller.labels_layer, controller.objects.selected
    progress = []

    def cancel_after_two(p):
        progress.append(p)
        if p.state == "running" and p.done == 2 and len(progress) < 5:
            run.cancel_button.click()

    controller.events.progress.connect(cancel_after_two)
    run.direction_buttons["forward"].click()
    wait_until(app, idle)
    controller.events.progress.disconnect(cancel_after_two)
    found["after_cancel"] = run.progress.text()
    found["frames_before_resume"] = frames_with(labels, obj)
    progress.clear()
    controller.events.progress.connect(progress.append)
    run.direction_buttons["forward"].click()
    wait_until(app, idle)
    found["resume_note"] = run.note.text()
    found["resume_total"] = progress[0].total
    found["resume_first_done"] = progress[0].done
    found["first_estimate"] = progress[1].text()
    found["frames_after_resume"] = frames_with(labels, obj)

    first_object = np.asarray(labels.data) == obj
    widget.objects_panel.add_button.click()
    click(viewer, 42, 158)  # another cell
    wait_until(app, idle)
    run.direction_buttons["forward"].click()
    wait_until(app, idle)
    found["alone_note"] = run.note.text()
    found["second_object_frames"] = len([f for f in frames_with(labels, obj + 1) if f >= 3])
    found["first_object_unchanged"] = bool(((np.asarray(labels.data) == obj) == first_object).all())
    panel = widget.objects_panel.list
    found["object_list"] = [panel.item(i).text() for i in range(panel.count())]
    return found


if __name__ == "__main__":
    result = main(sys.argv[1])
    print("FINDINGS " + json.dumps(result), flush=True)
