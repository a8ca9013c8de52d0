"""The dock on real screens, and closing napari while a reopened tracker works: run in a
fresh process by test_real_window_moves.py (faults 11 and 14 of the plugin issue).

For each screen size the window is resized to the whole screen, as a maximised window on a
laptop (1366×768) and on a desktop (1920×1080); every tab of the dock must fit without
scrolling, every button must lie inside the dock, and the canvas must keep most of its
width. Then the dock is closed and opened again, a click loads the model, and napari is
closed while the reopened tracker encodes frames ahead. Prints one JSON line of findings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import click, wait_until  # noqa: E402

SCREENS = ((1366, 768), (1920, 1080))


def settle(app, seconds: float = 0.4) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def fits(widget) -> dict:
    """What of the dock is out of sight on the current tab (empty lists when it all fits)."""
    from qtpy.QtWidgets import QAbstractButton, QComboBox

    body, viewport = widget.widget(), widget.viewport()
    hidden = []
    # one type per call: PySide6 takes no tuple of types
    children = [*body.findChildren(QAbstractButton), *body.findChildren(QComboBox)]
    for child in children:
        if not child.isVisibleTo(body) or child.parent() is widget.tabs.tabBar():
            continue
        corner = child.mapTo(viewport, child.rect().bottomRight())
        if corner.x() > viewport.width() or corner.y() > viewport.height():
            hidden.append(child.text() if hasattr(child, "text") else type(child).__name__)
    return {"scrolls": widget.verticalScrollBar().isVisible(), "hidden": hidden}


def main(model: str, shots: str | None = None) -> dict:
    from qtpy.QtWidgets import QApplication

    from napari_sam2.plugin._demo import open_demo

    viewer, widget = open_demo(model=model)
    app, win = QApplication.instance(), viewer.window._qt_window
    viewer.window.show()
    found: dict = {"dock_titles": list(viewer.window.dock_widgets.keys())}
    for width, height in SCREENS:
        win.resize(width, height)
        viewer.reset_view()
        settle(app)
        for tab in range(widget.tabs.count()):
            widget.tabs.setCurrentIndex(tab)
            settle(app, 0.2)
            found[f"{width}x{height} {widget.tabs.tabText(tab)}"] = fits(widget)
        widget.tabs.setCurrentIndex(0)
        canvas = viewer.window._qt_viewer.canvas.native
        found[f"{width}x{height} canvas"] = [canvas.width(), canvas.height(), win.width(), win.height()]
        if shots:
            viewer.screenshot(str(Path(shots) / f"dock-{width}x{height}.png"), canvas_only=False)
    # Closed and opened again; the reopened tracker encodes ahead when napari is closed.
    viewer.window.remove_dock_widget(widget)
    _, again = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    found["reopened_model"] = again.model_panel.spec() == model  # it remembers the model chosen
    viewer.dims.set_current_step(0, 3)
    click(viewer, 75, 65)
    controller = again.controller
    wait_until(app, lambda: controller.loaded is not None and controller.jobs.kind in ("encode", None))
    found["encoding_when_closed"] = controller.jobs.kind
    viewer.close()
    settle(app, 1.0)
    return found


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print("FINDINGS " + json.dumps(result), flush=True)
