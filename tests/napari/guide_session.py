"""The user guide's workflows 1 and 2, step by step, in a real napari window: run in a fresh
process by test_guide_workflows.py.

As the guide says: the stack is opened with napari's own File › Open (napari's TIFF reader),
the tracker is opened from the Plugins menu, the model is typed into the model box and loads
lazily on the first click, clicks land on the canvas, runs are started with the widget's
buttons, Ctrl-Z is a key press, and *Save labels…* and *Export prompts…* go through their
file dialogs. Prints one JSON line of findings; the test then runs ``napari-sam2 track`` on
the exported prompts and compares its labels with napari's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import click, wait_until  # noqa: E402
from tests.napari.population_session import press, select_in_list  # noqa: E402


def _open(path: Path, model: str):
    """napari with the stack opened through File › Open and the tracker from the Plugins menu."""
    from qtpy.QtWidgets import QApplication

    import napari

    viewer = napari.Viewer(title="napari-sam2: user guide")
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.open(str(path))  # what File › Open does with the chosen file (napari's reader)
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)  # typed in, as a user names a folder
    app = QApplication.instance()
    app.processEvents()
    return app, viewer, widget


def _dialogs(folder: Path) -> None:
    """The file dialogs answer as a user typing a name would."""
    from napari_sam2.widgets import _run_panel

    class Dialog:
        @staticmethod
        def getSaveFileName(parent, title, name, *_):  # noqa: N802 (Qt's name)
            return str(folder / name), ""

    _run_panel.QFileDialog = Dialog


def _button(widget, text: str):
    from qtpy.QtWidgets import QPushButton

    return next(b for b in widget.findChildren(QPushButton) if b.text() == text)


def zstack(model: str, folder: Path) -> dict:
    """Workflow 1: one nucleus in a z-stack, corrected on one slice, saved, exported."""
    import numpy as np

    from napari_sam2.cli import main as cli

    assert cli(["sample", str(folder), "--kind", "zstack", "--frames", "15"]) == 0
    _dialogs(folder)
    app, viewer, widget = _open(folder / "zstack.tif", model)
    controller, run = widget.controller, widget.run_panel
    idle = lambda: controller.idle and not controller.propagating  # noqa: E731
    found = {"axis": widget.image_panel.axis_combo.currentText(), "loaded_before": controller.loaded is not None}
    nucleus = [line.split(",") for line in (folder / "zstack_prompts.csv").read_text().splitlines()[1:]][1]
    frame, y, x = int(nucleus[1]), float(nucleus[2]), float(nucleus[3])
    viewer.dims.set_current_step(0, frame)
    click(viewer, y, x)  # the nucleus on the middle slice
    wait_until(app, lambda: controller.loaded is not None and idle())
    labels = controller.labels_layer
    found["preview"] = int((np.asarray(labels.data[frame]) == 1).sum())
    run.direction_buttons["both"].click()
    wait_until(app, idle)
    found["slices_after_both"] = int(sum(np.asarray(labels.data[z]).any() for z in range(labels.data.shape[0])))
    viewer.dims.set_current_step(0, frame + 3)
    click(viewer, y + 12, x + 12, shift=True)  # this slice includes too much: not this
    wait_until(app, idle)
    run.direction_buttons["both"].click()
    wait_until(app, idle)
    _button(widget, "Save labels…").click()
    _button(widget, "Export prompts…").click()
    found["status"] = widget.status.text()
    np.save(folder / "napari.npy", np.asarray(labels.data))
    viewer.close()
    return found


def timelapse(model: str, folder: Path) -> dict:
    """Workflow 2: several cells, cancel and resume, a cell added later, a correction From
    here, a run undone with Ctrl-Z, saved and exported."""
    import numpy as np
    from qtpy.QtCore import Qt

    from napari_sam2.cli import main as cli

    assert cli(["sample", str(folder), "--kind", "timelapse", "--frames", "12", "--objects", "4"]) == 0
    _dialogs(folder)
    app, viewer, widget = _open(folder / "timelapse.tif", model)
    controller, run = widget.controller, widget.run_panel
    idle = lambda: controller.idle and not controller.propagating  # noqa: E731
    cells = [[float(v) for v in line.split(",")] for line in (folder / "timelapse_prompts.csv").read_text().split()[1:]]
    found = {"axis": widget.image_panel.axis_combo.currentText()}
    frame = int(cells[0][1])
    viewer.dims.set_current_step(0, frame)
    click(viewer, cells[0][2], cells[0][3])  # 1. one cell ...
    wait_until(app, lambda: controller.loaded is not None and idle())
    widget.objects_panel.add_button.click()  # ... Add, and the next
    click(viewer, cells[1][2], cells[1][3])
    wait_until(app, idle)
    cancel = lambda p: p.state == "running" and p.done == 2 and run.cancel_button.click()  # noqa: E731
    controller.events.progress.connect(cancel)
    run.direction_buttons["forward"].click()  # 2. Forward, Cancel, Forward again
    wait_until(app, idle)
    controller.events.progress.disconnect(cancel)
    found["cancelled"] = run.progress.text()
    run.direction_buttons["forward"].click()
    wait_until(app, idle)
    found["resumed"] = run.note.text()
    widget.objects_panel.add_button.click()  # 3. a cell added later is tracked alone
    click(viewer, cells[2][2], cells[2][3])
    wait_until(app, idle)
    run.direction_buttons["forward"].click()
    wait_until(app, idle)
    found["alone"] = run.note.text()
    viewer.dims.set_current_step(0, frame + 3)  # 4. a correction, then From here
    select_in_list(app, widget, 1)
    click(viewer, cells[0][2] + 10, cells[0][3] + 10, shift=True)
    wait_until(app, idle)
    before_from_here = np.asarray(controller.labels_layer.data).copy()
    run.from_here_button.click()
    wait_until(app, idle)
    press(viewer, Qt.Key.Key_Z)  # 5. a bad run: one Ctrl+Z
    app.processEvents()
    found["undone"] = bool((np.asarray(controller.labels_layer.data) == before_from_here).all())
    run.direction_buttons["both"].click()
    wait_until(app, idle)
    _button(widget, "Export prompts…").click()  # 6. export, and save
    _button(widget, "Save labels…").click()
    found["status"] = widget.status.text()
    labels = np.asarray(controller.labels_layer.data)
    found["objects_present"] = sorted(int(i) for i in np.unique(labels) if i)
    np.save(folder / "napari.npy", labels)
    viewer.close()
    return found


if __name__ == "__main__":
    workflow = {"zstack": zstack, "timelapse": timelapse}[sys.argv[1]]
    result = workflow(sys.argv[2], Path(sys.argv[3]))
    print("FINDINGS " + json.dumps(result), flush=True)
