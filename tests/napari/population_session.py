"""A biologist's "every cell" session in a real napari window, run in a fresh process by
test_first_user.py.

Only what a user touches: the widget's buttons, the object list, canvas clicks and Ctrl-Z.
The model loads lazily when the first run starts, after napari made its OpenGL context.
The image is a dividing population (tests/helpers.py, ``known_population``). Prints one
JSON line of findings; with a second argument, saves a screenshot there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import canvas_point, click, wait_until  # noqa: E402


def press(viewer, key, *, shift: bool = False) -> None:
    """Ctrl-<key> (Ctrl-Shift-<key>) on the canvas, where napari's key bindings listen."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    canvas, _ = canvas_point(viewer, 0, 0)
    modifiers = Qt.KeyboardModifier.ControlModifier
    if shift:
        modifiers |= Qt.KeyboardModifier.ShiftModifier
    canvas.setFocus()
    QTest.keyClick(canvas, key, modifiers)


def select_in_list(app, widget, obj: int) -> None:
    """Click the object's row in the object list."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    listing = widget.objects_panel.list
    row = next(i for i in range(listing.count()) if listing.item(i).data(Qt.ItemDataRole.UserRole) == obj)
    listing.scrollToItem(listing.item(row))
    app.processEvents()
    point = listing.visualItemRect(listing.item(row)).center()
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def main(model: str, screenshot: str | None = None) -> dict:
    import numpy as np
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    import napari
    from tests.helpers import known_population, render_fluorescence

    truth, _ = known_population()
    viewer = napari.Viewer(title="napari-sam2: every cell")
    viewer.add_image(render_fluorescence(truth), name="cells", axis_labels=("t", "y", "x"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1400, 900)
    viewer.window.show()
    app.processEvents()
    controller, panel = widget.controller, widget.population_panel
    idle = lambda: controller.idle and not controller.propagating  # noqa: E731
    found = {"model_loaded_before_run": controller.loaded is not None}

    viewer.dims.set_current_step(0, 0)
    panel.preview_button.click()
    found["seeds"] = panel.found.text()
    panel.redetect.setValue(2)
    panel.track_button.click()
    wait_until(app, lambda: controller.loaded is not None and idle(), timeout=300)
    labels = controller.labels_layer
    lineage = controller.population.lineage
    found["tracks"] = len(lineage)
    found["frames_labelled"] = int(sum(np.asarray(labels.data[t]).any() for t in range(labels.data.shape[0])))
    found["tracks_layer_points"] = len(viewer.layers["SAM 2 tracks"].data)
    found["graph_before_divide"] = {str(k): v for k, v in viewer.layers["SAM 2 tracks"].graph.items()}

    # Cell 1 of the truth divides on frame 5: select the tracked cell there, Divide…, two clicks.
    mother = max(lineage.tracks, key=lambda o: (np.asarray(labels.data[4]) == o).sum())
    select_in_list(app, widget, mother)
    found["selected"] = controller.objects.selected == mother
    viewer.dims.set_current_step(0, 5)
    panel.divide_button.click()
    found["pick_first"] = panel.pick.text()
    click(viewer, 23, 30)
    found["pick_second"] = panel.pick.text()
    click(viewer, 38, 30)
    wait_until(app, idle)
    lineage = controller.population.lineage
    daughters = lineage.children(mother)
    found["mother"], found["daughter_ids"], found["daughters"] = mother, daughters, len(daughters)
    found["mother_last"] = lineage.tracks[mother].last
    found["daughters_on_frame_5"] = [int((np.asarray(labels.data[5]) == d).sum()) for d in daughters]
    found["graph"] = {str(k): v for k, v in viewer.layers["SAM 2 tracks"].graph.items()}
    found["note"] = widget.run_panel.note.text()
    if screenshot:
        viewer.layers.selection.active = viewer.layers["SAM 2 tracks"]
        app.processEvents()
        viewer.screenshot(screenshot, canvas_only=False)
        viewer.layers.selection.active = controller.points_layer
    press(viewer, Qt.Key.Key_Z)  # Ctrl-Z: the division goes, the lineage and Tracks layer follow
    app.processEvents()
    found["after_undo_mother_last"] = controller.population.lineage.tracks[mother].last
    found["after_undo_graph"] = {str(k): v for k, v in viewer.layers["SAM 2 tracks"].graph.items()}
    found["after_undo_daughter_pixels"] = int(np.isin(np.asarray(labels.data), daughters).sum())
    press(viewer, Qt.Key.Key_Z, shift=True)  # and back
    app.processEvents()
    found["after_redo_daughters"] = controller.population.lineage.children(mother)
    viewer.close()
    return found


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print("FINDINGS " + json.dumps(result), flush=True)
