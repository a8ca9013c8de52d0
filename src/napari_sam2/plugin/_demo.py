"""``python -m napari_sam2.plugin._demo``: napari with the sample time-lapse and the tracker docked."""

from __future__ import annotations

import sys


def open_demo(sample: str = "timelapse", model: str | None = None):
    import napari

    viewer = napari.Viewer(title="napari-sam2 demo")
    viewer.open_sample("napari-sam2", sample)
    clicks = viewer.layers["example clicks"]
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    if model:
        widget.model_panel.choose_model(model)
    viewer.layers.remove(clicks)  # the example clicks are shown in the docs; start clean
    return viewer, widget


def main() -> None:
    import napari

    open_demo(model=sys.argv[1] if len(sys.argv) > 1 else None)
    napari.run()


if __name__ == "__main__":
    main()
