"""The Review tab in a real napari window, driven as a biologist does: run in a fresh process by
test_review_window.py.

A time-lapse of moving cells and its labels, with three mistakes in the labels: cell 3 is
missing on frame 5 (flicker), cells 1 and 2 trade ids on frame 8 (swap), and cell 5 ends in
the middle of the field on frame 6. The user opens the tracker, picks the labels in
*write into*, opens the Review tab and presses *Find likely mistakes*; then N and P on the
canvas, Accept, a brush stroke that paints cell 3 back on frame 5 (its item leaves the
queue), Ctrl-Z (it comes back), saving the labels, and opening the saved TIFF again as labels
(the accepted mark comes back from the sidecar). Prints one line ``FINDINGS {json}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import canvas_point, wait_until  # noqa: E402
from tests.napari.window_session import settle  # noqa: E402

FRAMES, SIZE, RADIUS = 12, 160, 9


def scene():
    import numpy as np

    yy, xx = np.mgrid[:SIZE, :SIZE]
    paths = {
        1: [(50, 40 + 2 * t) for t in range(FRAMES)],
        2: [(50, 90 + 2 * t) for t in range(FRAMES)],
        3: [(110, 50 + t) for t in range(FRAMES)],
        4: [(120, 110 - t) for t in range(FRAMES)],
        5: [(80, 70) for _ in range(FRAMES)],
    }
    truth = np.zeros((FRAMES, SIZE, SIZE), np.uint16)
    for cell, path in paths.items():
        for t, (y, x) in enumerate(path):
            truth[t][(yy - y) ** 2 + (xx - x) ** 2 <= RADIUS**2] = cell
    image = (truth > 0).astype(np.float32) * 180 + np.random.default_rng(0).normal(20, 5, truth.shape)
    labels = truth.copy()
    labels[5][labels[5] == 3] = 0  # flicker
    for t in range(8, FRAMES):  # swap
        one, two = labels[t] == 1, labels[t] == 2
        labels[t][one], labels[t][two] = 2, 1
    for t in range(7, FRAMES):  # ends inside
        labels[t][labels[t] == 5] = 0
    return image.clip(0, 255).astype(np.uint8), labels, paths


def choose(combo, text: str) -> None:
    """Pick ``text`` in a combo box as a user does (Qt says "activated")."""
    index = combo.findText(text)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def key(viewer, name: str) -> None:
    from qtpy.QtTest import QTest

    canvas, _ = canvas_point(viewer, 0, 0)
    canvas.setFocus()
    QTest.keyClick(canvas, name)


def paint_disc(viewer, labels, row: float, col: float) -> None:
    """One brush click of the selected label at (row, col) on the canvas."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    viewer.layers.selection.active = labels
    labels.mode = "paint"
    labels.brush_size = 2 * RADIUS + 1
    canvas, point = canvas_point(viewer, row, col)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    labels.mode = "pan_zoom"


def main(out_dir: str, shots: str | None = None) -> dict:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    import napari

    image, labels_data, paths = scene()
    viewer = napari.Viewer()
    app = QApplication.instance()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.add_image(image, name="cells")
    cells_labels = viewer.add_labels(labels_data, name="cell labels")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    settle(app)
    panel = widget.image_panel
    choose(panel.labels_combo, "cell labels")  # "write into": the labels to review
    settle(app)
    bound = widget.controller.labels_layer
    found: dict = {"bound": bound == cells_labels, "bound_name": getattr(bound, "name", None)}
    widget.tabs.setCurrentIndex(next(i for i in range(widget.tabs.count()) if widget.tabs.tabText(i) == "Review"))
    review = widget.review_panel
    centre_before = tuple(viewer.camera.center)
    QTest.mouseClick(review.find_button, Qt.MouseButton.LeftButton)
    settle(app)
    view = widget.controller.review.view
    found["items"] = [(i.kind, i.cell, i.frame) for i in view.items]
    first = view.current
    found["first"] = (first.kind, first.cell, first.frame)
    found["jumped"] = {
        "frame": int(viewer.dims.current_step[0]) == first.frame,
        "camera_moved": tuple(viewer.camera.center) != centre_before,
        "selected": int(cells_labels.selected_label) == first.cell,
        "reason_shown": review.reason.text() == first.reason,
    }
    if shots:  # the user guide's picture of the Review tab
        viewer.screenshot(str(Path(shots) / "06-review.png"), canvas_only=False)
    key(viewer, "n")
    settle(app)
    second = widget.controller.review.view.current
    key(viewer, "p")
    settle(app)
    found["n_then_p"] = [(second.cell, second.frame), (widget.controller.review.view.current.cell,)]
    found["back_to_first"] = widget.controller.review.view.current == first
    # Accept the item shown (the first), which moves on to the next one.
    QTest.mouseClick(review.accept_button, Qt.MouseButton.LeftButton)
    settle(app)
    view = widget.controller.review.view
    found["after_accept"] = {"open": len(view.open_items), "items": len(view.items), "summary": review.summary.text()}
    accepted_key = first.key
    # Fix the flicker: go to its item, paint cell 3 back where it was, on frame 5.
    flicker = next(i for i in view.items if i.kind == "flicker")
    widget.controller.review.go_to(flicker)
    settle(app)
    y, x = paths[3][5]
    paint_disc(viewer, cells_labels, y, x)
    settle(app, 1.2)  # the queue follows the labels half a second after a change
    kinds = lambda: [(i.kind, i.cell) for i in widget.controller.review.view.items]  # noqa: E731
    found["after_fix"] = kinds()
    found["painted_pixels"] = int((cells_labels.data[5] == 3).sum())
    viewer.layers.selection.active = cells_labels
    canvas, _ = canvas_point(viewer, 0, 0)
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(app, 1.2)
    found["after_undo"] = kinds()
    found["undone_pixels"] = int((cells_labels.data[5] == 3).sum())
    # Save, then open the saved TIFF again as labels: the accepted mark comes back.
    path = Path(out_dir) / "reviewed.tif"
    widget.controller.save_labels(path)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    found["saved_marks"] = sidecar.get("review")
    viewer.layers.remove(cells_labels)
    settle(app)
    reopened = viewer.open(str(path), layer_type="labels", plugin="napari")[0]
    settle(app)
    choose(panel.labels_combo, reopened.name)
    settle(app)
    QTest.mouseClick(review.find_button, Qt.MouseButton.LeftButton)
    settle(app)
    view = widget.controller.review.view
    found["reopened"] = {
        "bound": widget.controller.labels_layer == reopened,
        "source": str(reopened.source.path),
        "type": type(reopened).__name__,
        "accepted_again": accepted_key in view.reviewed,
        "open": len(view.open_items),
    }
    wait_until(app, lambda: widget.controller.idle, timeout=30)
    viewer.close()
    return found


if __name__ == "__main__":
    print("FINDINGS " + json.dumps(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)), flush=True)
