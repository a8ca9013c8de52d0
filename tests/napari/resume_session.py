"""Going on where you left off, in a real napari window: run in a fresh process by
test_resume_window.py (formats issue, point 1).

Yesterday: ``napari-sam2 track --seeds threshold`` tracked every cell of the sample time-lapse
and wrote ``result.tif`` + ``result.json`` (lineage, scores, names). Today: *File › Open* the
movie and ``result.json``; the labels come back with a Tracks layer; the tracker, told to
*write into* them, has the cells, their names, the lineage and the scores; a click corrects a
cell; *Save labels…* keeps the lineage. A sidecar of another run opens its TIFF as plain
labels with one notification. Prints one line ``FINDINGS {json}``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.first_user_session import click, wait_until  # noqa: E402
from tests.napari.review_session import choose  # noqa: E402
from tests.napari.window_session import settle  # noqa: E402


def yesterday(model: str, folder: Path) -> Path:
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    subprocess.run([*cli, "sample", str(folder), "--frames", "4"], check=True, capture_output=True)
    result = folder / "result.tif"
    subprocess.run(
        [*cli, "track", str(folder / "timelapse.tif"), "--seeds", "threshold", "--redetect-every", "2",
         "--out", str(result), "--model", model, "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip
    return result


def main(model: str, out: str) -> dict:
    import numpy as np
    import tifffile
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_sam2.plugin import _notify

    folder = Path(out)
    result = yesterday(model, folder)
    saved = json.loads(result.with_suffix(".json").read_text())
    said: list[str] = []
    _notify._show = lambda message, error: said.append(message)
    viewer = napari.Viewer()
    app = QApplication.instance()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.open(str(folder / "timelapse.tif"))  # File › Open, napari's reader
    # File › Open lets napari choose the reader (plugin=None); for a sidecar only ours matches
    opened = viewer.open(str(result.with_suffix(".json")), plugin=None)
    settle(app)
    labels = next(layer for layer in opened if type(layer).__name__ == "Labels")
    found: dict = {
        "opened": sorted(type(layer).__name__ for layer in opened),
        "same_labels": bool((np.asarray(labels.data) == tifffile.imread(result)).all()),
    }
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)
    settle(app)
    choose(widget.image_panel.labels_combo, labels.name)
    settle(app)
    controller = widget.controller
    lineage = controller.population.lineage
    found["tracker"] = {
        "bound": controller.labels_layer == labels,
        "objects": len(controller.objects),
        "cells_listed": sorted(o for o, _ in controller.objects.items()) == sorted(r["id"] for r in saved["lineage"]),
        "lineage": sorted((t.id, t.first, t.last, t.parent) for t in lineage.tracks.values())
        == sorted((r["id"], r["first"], r["last"], r["parent"]) for r in saved["lineage"]),
        "scores": controller.state.workspace.scores.get(3) == {int(o): s for o, s in saved["scores"]["3"].items()},
        "tracks_layers": sum(type(layer).__name__ == "Tracks" for layer in viewer.layers),
    }
    # Go on: a click on the first cell on the last frame corrects it there.
    frame = max(range(4), key=lambda t: len(np.unique(np.asarray(labels.data[t]))))  # where most cells are
    plane = np.asarray(labels.data[frame])
    centre = np.array(plane.shape) / 2
    cell = int(
        min((c for c in np.unique(plane) if c), key=lambda c: np.hypot(*(np.argwhere(plane == c).mean(0) - centre)))
    )
    viewer.dims.set_current_step(0, frame)
    ys, xs = np.nonzero(plane == cell)
    before = plane.copy()
    controller.select_object(cell)
    settle(app)
    click(viewer, ys.mean(), xs.mean())  # a positive point on the cell: SAM 2 predicts it again
    wait_until(app, lambda: controller.idle, timeout=300)
    settle(app)
    found["corrected_pixels"] = int((np.asarray(labels.data[frame]) != before).sum())
    again = folder / "today.tif"
    controller.save_labels(again)
    today = json.loads(again.with_suffix(".json").read_text())
    found["saved_lineage_kept"] = today.get("lineage") == saved["lineage"]
    # A sidecar of another run beside a TIFF: plain labels and one line.
    other = folder / "other"
    other.mkdir()
    tifffile.imwrite(other / "result.tif", tifffile.imread(result), imagej=True, metadata={"axes": "TYX"})
    shutil.copy(result.with_suffix(".json"), other / "result.json")
    said.clear()
    plain = viewer.open(str(other / "result.json"), plugin=None)
    found["other_run"] = {
        "layers": [type(layer).__name__ for layer in plain],
        "metadata": bool(plain[0].metadata.get("napari_sam2")),
        "said": said,
    }
    viewer.close()
    return found


if __name__ == "__main__":
    print("FINDINGS " + json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
