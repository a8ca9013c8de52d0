"""Going on where you left off, in real napari windows: run in a fresh process by
test_resume_window.py (formats issue, point 1).

Yesterday, in a window: *File › Open* the sample time-lapse, *Track all cells* (threshold
seeds), *Save labels…*, close napari. Today, in a new window: *File › Open* the movie and
``result.json``; the labels come back with a Tracks layer; the tracker, told to *write into*
them, has the cells, their names, the lineage and the scores. A click corrects a cell on a
middle frame and *Forward* propagates from there: the session goes on from the reopened masks
(the click refines the cell's mask there, the frame before is remembered as a mask prompt and
left as it was). *Save labels…* keeps the ids and lineage, and the CTC export validates. A
sidecar of another run opens its TIFF as plain labels with one notification. Prints one line
``FINDINGS {json}``.
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

FRAMES = 6


def window(model: str):
    from qtpy.QtWidgets import QApplication

    import napari

    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1366, 768)
    viewer.window.show()
    return viewer, QApplication.instance()


def tracker(viewer, app, model: str):
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    widget.model_panel.choose_model(model)
    settle(app)
    return widget


def yesterday(model: str, folder: Path) -> Path:
    """Track every cell in a window, save, close napari."""
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    subprocess.run([*cli, "sample", str(folder), "--frames", str(FRAMES)], check=True, capture_output=True)
    viewer, app = window(model)
    viewer.open(str(folder / "timelapse.tif"))  # File › Open, napari's reader
    widget = tracker(viewer, app, model)
    controller, panel = widget.controller, widget.population_panel
    viewer.dims.set_current_step(0, 0)
    choose(panel.seeder, "threshold (bright nuclei)")
    panel.preview_button.click()
    settle(app)
    panel.redetect.setValue(2)
    panel.track_button.click()
    wait_until(app, lambda: controller.loaded is not None and controller.idle and not controller.propagating, 600)
    result = folder / "result.tif"
    controller.save_labels(result)
    viewer.close()
    return result


def main(model: str, out: str) -> dict:
    import numpy as np
    import tifffile
    from ctc_metrics.scripts.validate import validate_sequence

    from napari_sam2.plugin import _notify

    folder = Path(out)
    result = yesterday(model, folder)
    saved = json.loads(result.with_suffix(".json").read_text())
    before = tifffile.imread(result)
    said: list[str] = []
    _notify._show = lambda message, error: said.append(message)
    viewer, app = window(model)
    viewer.open(str(folder / "timelapse.tif"))  # File › Open, napari's reader
    # File › Open lets napari choose the reader (plugin=None); for a sidecar only ours matches
    opened = viewer.open(str(result.with_suffix(".json")), plugin=None)
    settle(app)
    labels = next(layer for layer in opened if type(layer).__name__ == "Labels")
    found: dict = {
        "opened": sorted(type(layer).__name__ for layer in opened),
        "same_labels": bool((np.asarray(labels.data) == before).all()),
    }
    widget = tracker(viewer, app, model)  # it writes into the result opened: no empty labels beside it
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
        "labels_layers": sum(type(layer).__name__ == "Labels" for layer in viewer.layers),
    }
    # Go on: on a middle frame, a click on the cell nearest the centre that was there the
    # frame before corrects it; Forward propagates from there.
    frame = FRAMES // 2
    plane = before[frame]
    centre = np.array(plane.shape) / 2
    there = [c for c in np.unique(plane) if c and (before[frame - 1] == c).any()]
    cell = int(min(there, key=lambda c: np.hypot(*(np.argwhere(plane == c).mean(0) - centre))))
    viewer.dims.set_current_step(0, frame)
    ys, xs = np.nonzero(plane == cell)
    controller.select_object(cell)
    settle(app)
    click(viewer, ys.mean(), xs.mean())  # a positive point on the cell: refines its mask there
    wait_until(app, lambda: controller.idle, timeout=300)
    settle(app)
    found["corrected_pixels"] = int((np.asarray(labels.data[frame]) != plane).sum())
    widget.run_panel.direction_buttons["forward"].click()  # propagates from the click
    wait_until(app, lambda: controller.idle and not controller.propagating, timeout=300)
    settle(app)
    after = np.asarray(labels.data)
    again = folder / "today.tif"
    controller.save_labels(again)
    today = json.loads(again.with_suffix(".json").read_text())
    ids_before, ids_after = set(np.unique(before)) - {0}, set(np.unique(after)) - {0}
    spans = {int(c): [int(f) for f in range(FRAMES) if (after[f] == c).any()] for c in ids_after}
    found["went_on"] = {
        "earlier_frames_kept": bool((after[:frame] == before[:frame]).all()),
        "cell_tracked_on": spans.get(cell, []),
        "changed_after": int((after[frame + 1 :] != before[frame + 1 :]).sum()),
        "new_ids": sorted(int(c) for c in ids_after - ids_before),
        "lineage_kept": today.get("lineage") == saved["lineage"],
        # every cell's pixels lie within its track (no mother after her division, no
        # daughter before her birth), and every cell in the labels has a track
        "labels_within_lineage": all(
            set(spans.get(r["id"], [])) <= set(range(r["first"], r["last"] + 1)) for r in today["lineage"]
        )
        and ids_after <= {r["id"] for r in today["lineage"]},
        "unreplayable": controller.state.workspace.history.export(labels).unreplayable,
    }
    import napari_sam2.widgets._population_panel as panel_module

    panel_module.QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: (str(folder / "01_RES"), ""))
    widget.population_panel._on_ctc()  # Export CTC…
    settle(app)
    found["ctc_valid"] = validate_sequence(str(folder / "01_RES"), threads=1)["Valid"] == 1
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
