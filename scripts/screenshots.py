"""Screenshots for docs/user-guide.md, from a real napari window (run under xvfb-run with a
screen of at least 1920x1080: ``xvfb-run -a -s "-screen 0 1920x1080x24" python
scripts/screenshots.py``).

Uses the reduced random-weight model so it runs in seconds without weights: the masks are
meaningless; the screenshots show the interface, not segmentation quality. The guide's
pictures are taken on a laptop's screen (1366x768); the dock is also shown on a desktop's
(1920x1080). ``python scripts/screenshots.py docs/images reopened`` retakes only the pictures
of results opened again (a CTC folder, a GEFF store, a label TIFF).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qtpy.QtWidgets import QApplication


def settle(seconds: float = 0.5):
    import time

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def wait(controller):
    while not controller.idle:
        settle(0.1)


def laptop(viewer, width: int = 1366, height: int = 768) -> None:
    """The window as a maximised window on a laptop's screen, the image fitted."""
    viewer.window._qt_window.resize(width, height)
    viewer.window.show()
    settle()
    viewer.reset_view()


def main(outdir: str = "docs/images") -> None:
    from napari_sam2.core.models import load_model, save_random_model
    from napari_sam2.core.sample import make_timelapse
    from napari_sam2.plugin._demo import open_demo

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = save_random_model("reduced", Path(tempfile.mkdtemp()) / "m")
    viewer, widget = open_demo()
    laptop(viewer)
    controller = widget.controller
    widget.model_panel.choose_model(str(model_dir))  # typed in, as a user names a local model
    controller.use_loaded_model(load_model(str(model_dir)))
    wait(controller)
    _, prompts = make_timelapse(24)
    viewer.dims.set_current_step(0, prompts[0].frame)
    for p in prompts[:2]:
        controller.add_object()
        controller.add_click([p.frame, p.y, p.x])
        wait(controller)
    controller.select_object(1)
    controller.add_click([prompts[0].frame, prompts[0].y + 22, prompts[0].x], positive=False)
    wait(controller)
    settle()
    viewer.screenshot(str(out / "01-click-preview.png"), canvas_only=False)
    widget.run_panel.direction_buttons["forward"].click()
    wait(controller)
    viewer.dims.set_current_step(0, 20)
    settle()
    viewer.screenshot(str(out / "02-after-propagation.png"), canvas_only=False)
    viewer.close()

    from napari_sam2.core.sample import make_zstack

    viewer, widget = open_demo("zstack")
    laptop(viewer)
    controller = widget.controller
    widget.model_panel.choose_model(str(model_dir))  # typed in, as a user names a local model
    controller.use_loaded_model(load_model(str(model_dir)))
    wait(controller)
    _, nuclei = make_zstack(21)
    nucleus = nuclei[1]
    viewer.dims.set_current_step(0, nucleus.frame)
    controller.add_object("nucleus")
    controller.add_click([nucleus.frame, nucleus.y, nucleus.x])
    wait(controller)
    widget.run_panel.direction_buttons["both"].click()
    wait(controller)
    settle()
    viewer.screenshot(str(out / "03-zstack-both-ways.png"), canvas_only=False)
    viewer.close()

    viewer, widget = open_demo()  # every cell: seeds, one run, the Tracks layer
    laptop(viewer)
    widget.tabs.setCurrentIndex(1)  # All cells
    controller = widget.controller
    widget.model_panel.choose_model(str(model_dir))
    controller.use_loaded_model(load_model(str(model_dir)))
    wait(controller)
    viewer.dims.set_current_step(0, 0)
    widget.population_panel.preview_button.click()
    settle()
    widget.population_panel.redetect.setValue(6)
    widget.population_panel.track_button.click()
    wait(controller)
    viewer.dims.set_current_step(0, 16)
    settle()
    viewer.screenshot(str(out / "04-every-cell-tracks.png"), canvas_only=False)
    divide_by_hand(viewer, widget, out / "05-division-by-hand.png")
    viewer.close()
    desktop_and_laptop(model_dir, out)


def desktop_and_laptop(model_dir: Path, out: Path) -> None:
    """The dock on both screens and the Review tab (the real-window tests take the same pictures)."""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "tests" / "napari" / "window_session.py"
    subprocess.run([sys.executable, str(script), str(model_dir), str(out)], check=True, capture_output=True)
    review = script.with_name("review_session.py")  # the Review tab on its first item
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(review), tmp, str(out)], check=True, capture_output=True)


def divide_by_hand(viewer, widget, path: Path) -> None:
    """Select the largest cell, Divide… on frame 10, one click on each half of it."""
    import numpy as np

    controller, labels = widget.controller, widget.controller.labels_layer
    plane = np.asarray(labels.data[10])
    cell = max(controller.population.lineage.tracks, key=lambda o: (plane == o).sum())
    controller.select_object(cell)
    viewer.dims.set_current_step(0, 10)
    widget.population_panel.divide_button.click()
    ys, xs = np.nonzero(plane == cell)
    controller.add_click([10, ys.mean(), xs.min() + 0.25 * (xs.max() - xs.min())])
    controller.add_click([10, ys.mean(), xs.max() - 0.25 * (xs.max() - xs.min())])
    wait(controller)
    settle()
    viewer.screenshot(str(path), canvas_only=False)


def reopened(out: Path) -> None:
    """Results opened again beside their movie, the tracker writing into them: a CTC folder
    (``res_track.txt``), a GEFF store that names its labels, and a label TIFF through its
    sidecar. The known dividing population of the tests, so the masks and tracks are the
    truth's."""
    import tifffile

    import napari

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.helpers import known_population, render_fluorescence
    from tests.napari.review_session import choose

    from napari_sam2.core.ctc import write_ctc
    from napari_sam2.core.geff_export import write_geff
    from napari_sam2.plugin._npe2 import write_labels_file

    truth, lineage = known_population()
    with tempfile.TemporaryDirectory() as tmp:
        movie = Path(tmp) / "movie.tif"
        tifffile.imwrite(movie, render_fluorescence(truth), imagej=True, metadata={"axes": "TYX"})
        folder = write_ctc(Path(tmp) / "01_RES", truth, lineage)
        sidecar = {"napari_sam2_version": "screenshot", "source": "napari", "lineage": lineage.as_dict()}
        tiff = Path(write_labels_file(Path(tmp) / "cells.tif", truth, axes="TYX", sidecar=sidecar)[0])
        store = write_geff(Path(tmp) / "cells.geff", truth, lineage, segmentation=tiff)
        for opened, name, picture in (
            (folder / "res_track.txt", "01_RES", "07-reopened-ctc.png"),
            (store, None, "08-reopened-geff.png"),
            (tiff.with_suffix(".json"), "cells", "09-reopened-tiff.png"),
        ):
            viewer = napari.Viewer()
            laptop(viewer)
            viewer.open(str(movie))
            layers = viewer.open(str(opened), plugin="napari-sam2")  # File › Open (napari asks for a folder)
            _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
            labels = name or next(layer.name for layer in layers if type(layer).__name__ == "Labels")
            choose(widget.image_panel.labels_combo, labels)
            widget.tabs.setCurrentIndex(1)  # All cells
            tracks = [layer for layer in viewer.layers if type(layer).__name__ == "Tracks"]
            viewer.layers.selection.active = tracks[-1]
            viewer.dims.set_current_step(0, 12)
            viewer.reset_view()
            settle()
            viewer.screenshot(str(out / picture), canvas_only=False)
            viewer.close()


if __name__ == "__main__":
    if sys.argv[2:] == ["reopened"]:
        reopened(Path(sys.argv[1]))
    else:
        main(*sys.argv[1:])
