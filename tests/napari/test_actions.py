"""Save labels, export prompts for the CLI and load them back; writer and reader contributions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")


from napari_sam2.cli import main  # noqa: E402
from napari_sam2.plugin._npe2 import get_prompts_reader, write_labels  # noqa: E402
from tests.helpers import assert_differs, assert_meaningful, moving_blob_stack  # noqa: E402


@pytest.fixture()
def tracked(make_tracker):
    _, controller, wait = make_tracker(moving_blob_stack(6), name="cells", scale=(1, 0.5, 0.5))
    controller.add_click([0, 40, 35])
    controller.add_click([0, 80, 130], positive=False)
    controller.add_object()
    controller.shapes_layer.add_rectangles(np.array([[2, 50, 90], [2, 50, 135], [2, 85, 135], [2, 85, 90]]))
    wait()
    controller.propagate("forward")
    wait()
    return controller, wait


def test_save_labels_writes_tiff_and_provenance(tracked, tmp_path):
    controller, _ = tracked
    written = controller.save_labels(tmp_path / "labels.tif")
    labels = tifffile.imread(written[0])
    np.testing.assert_array_equal(labels, controller.labels_layer.data)
    sidecar = json.loads((tmp_path / "labels.json").read_text())
    assert sidecar["frames_done"] == list(range(6)) and len(sidecar["prompts"]["points"]) == 2
    box = {"object_id": 2, "frame": 2, "y0": 50.0, "x0": 90.0, "y1": 85.0, "x1": 135.0}
    assert sidecar["prompts"]["boxes"] == [box]
    with tifffile.TiffFile(written[0]) as tif:
        assert tif.is_imagej and tif.pages[0].tags["XResolution"].value == (2, 1)


def test_exported_prompts_repeat_the_run_headlessly(tracked, tmp_path, reduced_model_dir):
    controller, _ = tracked
    controller.export_prompts(tmp_path / "prompts.csv")
    tifffile.imwrite(tmp_path / "cells.tif", controller.image_layer.data, imagej=True, metadata={"axes": "TYX"})
    assert (tmp_path / "prompts_boxes.csv").exists()
    code = main(
        [
            "track",
            str(tmp_path / "cells.tif"),
            "--prompts",
            str(tmp_path / "prompts.csv"),
            "--boxes",
            str(tmp_path / "prompts_boxes.csv"),
            "--out",
            str(tmp_path / "cli.tif"),
            "--model",
            str(reduced_model_dir),
            "--direction",
            "forward",
            "--quiet",
        ]
    )
    assert code == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "cli.tif"), controller.labels_layer.data)


def test_loaded_prompts_give_the_same_preview(tracked, tmp_path, make_tracker):
    controller, _ = tracked
    controller.export_prompts(tmp_path / "prompts.csv")
    _, fresh, wait = make_tracker(controller.image_layer.data)
    assert fresh.load_prompts(tmp_path / "prompts.csv") == 3
    wait()
    # Frame 0 holds object 1's preview in both; after propagation, object 2 (tracked from the
    # earliest prompted frame, as SAM 2 does) may also have taken pixels there.
    fresh0, tracked0 = fresh.labels_layer.data[0], controller.labels_layer.data[0]
    assert_meaningful(fresh0 == 1)
    assert ((fresh0 == 1) == ((tracked0 == 1) | ((tracked0 == 2) & (fresh0 == 1)))).all()
    assert len(fresh.shapes_layer.data) == 1 and (fresh.labels_layer.data[2] == 2).any()
    assert list(fresh.points_layer.features["positive"]) == [True, False]


def _track(tmp_path, *extra) -> np.ndarray:
    out = tmp_path / f"cli{len(list(tmp_path.glob('cli*.tif')))}.tif"
    argv = ["track", str(tmp_path / "cells.tif"), "--prompts", str(tmp_path / "prompts.csv"), "--out", str(out)]
    assert main([*argv, "--quiet", *extra]) == 0
    return tifffile.imread(out)


def test_exported_settings_make_track_repeat_a_uint16_run_exactly(make_tracker, tmp_path, reduced_model_dir):
    """napari maps intensities through the layer's contrast limits, the CLI by default through
    percentiles: the export carries the limits (and axis, region, model), and ``track`` uses them."""
    stack = moving_blob_stack(5, dtype=np.uint16) + 300
    limits = (250.0, 2200.0)
    _, controller, wait = make_tracker(stack, name="cells", contrast_limits=limits)
    controller.add_click([0, 40.37, 35.81])  # a click between pixel centres, as a mouse gives
    controller.add_click([0, 70.5, 120.25], positive=False)
    wait()
    controller.propagate("forward")
    wait()
    napari_labels = controller.labels_layer.data.copy()
    assert all((napari_labels[f] == 1).any() for f in range(5))
    written = controller.export_prompts(tmp_path / "prompts.csv")
    settings = json.loads((tmp_path / "prompts_settings.json").read_text())
    assert settings["contrast_limits"] == list(limits) and settings["model"] == str(reduced_model_dir)
    assert settings["axis"] == 0 and written[-1].name == "prompts_settings.json"
    tifffile.imwrite(tmp_path / "cells.tif", stack, imagej=True, metadata={"axes": "TYX"})
    np.testing.assert_array_equal(_track(tmp_path, "--direction", "forward"), napari_labels)
    # Without the exported settings the CLI estimates percentiles, and the masks differ.
    (tmp_path / "prompts_settings.json").unlink()
    assert_differs(_track(tmp_path, "--direction", "forward", "--model", str(reduced_model_dir)), napari_labels)


def test_writer_and_reader_contributions(tmp_path):
    labels = np.zeros((3, 10, 12), np.uint16)
    labels[1, 2:5, 3:7] = 4
    written = write_labels(str(tmp_path / "l.tif"), labels, {"scale": (1, 1, 1), "metadata": {}})
    assert tifffile.imread(written[0])[1, 3, 4] == 4 and written[1].endswith(".json")
    (tmp_path / "p.csv").write_text("object_id,frame,y,x,positive\n2,1,3.5,4,0\n")
    reader = get_prompts_reader(str(tmp_path / "p.csv"))
    [(data, meta, kind)] = reader(str(tmp_path / "p.csv"))
    assert kind == "points" and data.tolist() == [[1.0, 3.5, 4.0]] and meta["features"]["positive"] == [False]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert get_prompts_reader(str(tmp_path / "other.csv")) is None
