"""*Track all cells* in a real napari window and ``napari-sam2 track --seeds`` on the same
movie: run in a fresh process by test_lineage_parity.py (division issue).

The movie is the sample time-lapse (``napari-sam2 sample``), opened with *File › Open*. In the
window: the tracker's image, *seeds from: threshold*, *Preview seeds* on frame 0, *new cells
every* 2, *Track all cells*. On the command line: ``track --seeds threshold
--redetect-every 2`` with the contrast limits the window showed. Saves the window's labels
as ``window.npy`` and prints one line ``FINDINGS {json}`` with the window's lineage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import wait_until  # noqa: E402
from tests.napari.review_session import choose  # noqa: E402
from tests.napari.window_session import settle  # noqa: E402

FRAMES, EVERY = 8, int(__import__("os").environ.get("PARITY_EVERY", 2))


def command_line(model: str, folder: Path, contrast) -> Path:
    """The same run on the command line, with the contrast the window showed (the plugin
    feeds SAM 2 the image as the layer shows it)."""
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    result = folder / "cli.tif"
    subprocess.run(
        [*cli, "track", str(folder / "timelapse.tif"), "--seeds", "threshold", "--redetect-every", str(EVERY),
         "--contrast-limits", *map(str, contrast), "--out", str(result), "--model", model, "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip
    return result


def main(model: str, out: str) -> dict:
    import numpy as np
    from qtpy.QtWidgets import QApplication

    import napari

    folder = Path(out)
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    subprocess.run([*cli, "sample", str(folder), "--frames", str(FRAMES)], check=True, capture_output=True)
    viewer = napari.Viewer()
    app = QApplication.instance()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.open(str(folder / "timelapse.tif"))  # File › Open, napari's reader
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)
    settle(app)
    controller, panel = widget.controller, widget.population_panel
    viewer.dims.set_current_step(0, 0)
    choose(panel.seeder, "threshold (bright nuclei)")
    panel.preview_button.click()
    settle(app)
    seeds = panel.found.text()
    panel.redetect.setValue(EVERY)
    panel.track_button.click()
    wait_until(app, lambda: controller.loaded is not None and controller.idle and not controller.propagating, 600)
    np.save(folder / "window.npy", np.asarray(controller.labels_layer.data))
    rows = controller.population.lineage.as_dict()
    contrast = list(viewer.layers["timelapse"].contrast_limits)
    viewer.close()
    command_line(model, folder, contrast)
    return {"seeds": seeds, "lineage": rows}


if __name__ == "__main__":
    print("FINDINGS " + json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
