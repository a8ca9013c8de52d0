"""Results of another day opened as napari files, in a real window: run in a fresh process by
test_reopen_window.py (formats issue, point 1).

``napari-sam2 track --seeds threshold --ctc RES --geff cells.geff`` tracked the sample
time-lapse. Then, as a user: *File › Open* the movie and ``RES/res_track.txt``: the masks come
back as labels with a Tracks layer; the tracker, told to *write into* them, has their cells and
lineage, which *Save labels…* keeps. A new window *File › Open*s ``cells.geff`` (napari-sam2 chosen in napari's reader
dialog): a Tracks layer with the lineage. A broken ``res_track.txt`` fails in one line.
Prints one line ``FINDINGS {json}``; with a third argument, saves the CTC window's screenshot
there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.napari.review_session import choose  # noqa: E402
from tests.napari.window_session import settle  # noqa: E402


def yesterday(model: str, folder: Path) -> None:
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    subprocess.run([*cli, "sample", str(folder), "--frames", "6"], check=True, capture_output=True)
    subprocess.run(
        [*cli, "track", str(folder / "timelapse.tif"), "--seeds", "threshold", "--redetect-every", "2",
         "--out", str(folder / "result.tif"), "--ctc", str(folder / "RES"), "--geff", str(folder / "cells.geff"),
         "--model", model, "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip


def _rows(rows):
    return sorted((r["id"], r["first"], r["last"], r["parent"]) for r in rows)


def main(model: str, out: str, screenshot: str | None = None) -> dict:
    import numpy as np
    import tifffile
    from qtpy.QtWidgets import QApplication

    import napari

    folder = Path(out)
    yesterday(model, folder)
    truth = [line.split() for line in (folder / "RES" / "res_track.txt").read_text().splitlines()]
    truth_rows = _rows([dict(zip(("id", "first", "last", "parent"), map(int, row))) for row in truth])
    viewer = napari.Viewer()
    app = QApplication.instance()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.open(str(folder / "timelapse.tif"))
    opened = viewer.open(str(folder / "RES" / "res_track.txt"), plugin=None)  # only napari-sam2 reads it
    settle(app)
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)
    settle(app)
    choose(widget.image_panel.labels_combo, "RES")
    settle(app)
    controller = widget.controller
    labels = viewer.layers["RES"]
    found: dict = {
        "ctc": {
            "opened": sorted(type(layer).__name__ for layer in opened),
            "labels_values": sorted(int(i) for i in np.unique(np.asarray(labels.data)) if i),
            "bound": controller.labels_layer == labels,
            "lineage": _rows(controller.population.lineage.as_dict()) == truth_rows,
            "objects": sorted(o for o, _ in controller.objects.items()) == [r[0] for r in truth_rows],
            "tracks_layers": sum(type(layer).__name__ == "Tracks" for layer in viewer.layers),
        }
    }
    controller.save_labels(folder / "again.tif")  # Save labels… with no run since: the lineage goes along
    saved = json.loads((folder / "again.json").read_text())
    found["ctc"]["saved_lineage"] = _rows(saved.get("lineage", [])) == truth_rows
    if screenshot:
        viewer.dims.set_current_step(0, 5)
        settle(app)
        viewer.screenshot(screenshot, canvas_only=False)
    broken = folder / "BROKEN"
    broken.mkdir()
    (broken / "mask000.tif").write_bytes((folder / "RES" / "mask000.tif").read_bytes())
    (broken / "res_track.txt").write_text("1 0 0 0\n2 zero 3 0\n")
    try:
        viewer.open(str(broken / "res_track.txt"), plugin=None)
        found["broken"] = "opened"
    except Exception as exc:  # napari wraps the reader's error: what the user reads is ours
        cause = exc.__cause__ or getattr(exc, "original_error", None)
        found["broken"] = f"{type(cause).__name__}: {cause}"
    viewer.close()

    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    viewer.open(str(folder / "timelapse.tif"))
    opened = viewer.open(str(folder / "cells.geff"), plugin="napari-sam2")  # the reader dialog's choice
    settle(app)
    tracks = next(layer for layer in opened if type(layer).__name__ == "Tracks")
    named = [layer for layer in opened if type(layer).__name__ == "Labels"]  # the segmentation it names
    found["geff"] = {
        "opened": sorted(type(layer).__name__ for layer in opened),
        "labels_are_the_result": bool(named)
        and bool((np.asarray(named[0].data) == tifffile.imread(folder / "result.tif")).all()),
        "graph": {int(k): [int(p) for p in v] for k, v in tracks.graph.items()},
        "track_ids": sorted({int(i) for i in tracks.data[:, 0]}),
        "ctc_parents": {r[0]: r[3] for r in truth_rows if r[3]},
        "ctc_ids": [r[0] for r in truth_rows],
    }
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    settle(app)
    controller = widget.controller  # it writes into the labels the store names, with its lineage
    found["geff"]["bound"] = bool(named) and controller.labels_layer == named[0]
    found["geff"]["lineage"] = _rows(controller.population.lineage.as_dict()) == truth_rows
    viewer.close()
    return found


if __name__ == "__main__":
    print("FINDINGS " + json.dumps(main(*sys.argv[1:])), flush=True)
