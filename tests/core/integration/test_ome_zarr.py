"""OME-Zarr images in (formats issue): NGFF 0.4 and 0.5 stores written by ome-zarr-py are read
lazily at full resolution, with the T axis and the pixel size from their metadata, tracked
by the CLI, and left byte for byte as they were; stores that are not images are one line."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2.cli import main
from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.images import read_image
from napari_sam2.core.sample import make_timelapse
from tests.helpers import assert_meaningful

zarr = pytest.importorskip("zarr")
ome_writer = pytest.importorskip("ome_zarr.writer")
ome_format = pytest.importorskip("ome_zarr.format")


def _ome_image(path: Path, stack: np.ndarray, version: str) -> Path:
    """A time-lapse as ome-zarr-py writes it: two levels, 2 s a frame, 0.5 µm pixels."""
    fmt = ome_format.FormatV04() if version == "0.4" else ome_format.FormatV05()
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    ome_writer.write_image(
        stack, root, axes="tyx", fmt=fmt, scale_factors=(2,), scale={"t": 2.0, "y": 0.5, "x": 0.5},
        axes_units={"t": "second", "y": "micrometer", "x": "micrometer"},
    )  # fmt: skip
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(Path(root, name).relative_to(folder)): hashlib.sha256(Path(root, name).read_bytes()).hexdigest()
        for root, _, names in os.walk(folder)
        for name in names
    }


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_image_is_read_lazily_at_full_resolution_with_axes_and_scale(tmp_path, version):
    stack, _ = make_timelapse(4)
    image = read_image(_ome_image(tmp_path / "cells.zarr", stack, version))
    assert image.axes == "TYX" and image.scale == {"T": 2.0, "Y": 0.5, "X": 0.5} and image.unit == "µm"
    assert isinstance(image.data, zarr.Array) and image.data.shape == stack.shape  # level 0, not read yet
    assert (np.asarray(image.data[2]) == stack[2]).all()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_cli_tracks_an_ome_zarr_image_and_never_touches_it(tmp_path, reduced_model_dir, version):
    stack, prompts = make_timelapse(5)
    store = _ome_image(tmp_path / "cells.zarr", stack, version)
    before = _digest(store)
    csv = tmp_path / "prompts.csv"
    csv.write_text("object_id,frame,y,x\n" + "".join(f"{p.object_id},{p.frame},{p.y},{p.x}\n" for p in prompts))
    out = tmp_path / "labels.tif"
    code = main(
        ["track", str(store), "--prompts", str(csv), "--out", str(out), "--model", str(reduced_model_dir), "--quiet"]
    )
    assert code == 0
    with tifffile.TiffFile(out) as tif:
        labels = tif.asarray()
        assert tif.series[0].axes == "TYX" and tif.imagej_metadata["finterval"] == 2.0
        assert tif.pages[0].tags["XResolution"].value == (2, 1)  # 0.5 µm a pixel
    assert labels.shape == stack.shape
    assert_meaningful(labels[4] > 0)
    assert _digest(store) == before  # the image's arrays and metadata, byte for byte
    assert json.loads(out.with_suffix(".json").read_text())["input"]["frame_axis"] == 0


def test_stores_that_are_not_images_are_one_line(tmp_path):
    plate = zarr.open_group(str(tmp_path / "plate.zarr"), mode="w", zarr_format=2)
    plate.attrs["plate"] = {"rows": [{"name": "A"}], "columns": [{"name": "1"}], "version": "0.4"}
    with pytest.raises(Sam2InputError, match="is an OME-Zarr plate: give one of its images"):
        read_image(tmp_path / "plate.zarr")
    broken = zarr.open_group(str(tmp_path / "broken.zarr"), mode="w", zarr_format=3)
    broken.attrs["ome"] = {"version": "0.5"}
    broken.create_array("0", shape=(2, 8, 8), dtype="uint8")
    with pytest.raises(Sam2InputError, match="is OME-Zarr but has no multiscales image to read"):
        read_image(tmp_path / "broken.zarr")
