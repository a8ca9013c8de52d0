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


# -- labels out, into the image's labels/ group ---------------------------------------------------
def _image_files(store: Path) -> dict[str, str]:
    """Every file of the store but its labels/ group: the image's arrays and metadata."""
    return {k: v for k, v in _digest(store).items() if not k.startswith("labels")}


def _track_population(store: Path, model_dir, *extra) -> int:
    return main(
        ["track", str(store), "--seeds", "threshold", "--redetect-every", "2", "--out", str(store),
         "--model", str(model_dir), "--quiet", *extra]
    )  # fmt: skip


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_go_into_the_images_labels_group_where_ome_zarr_tools_read_them(tmp_path, reduced_model_dir, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import open_ome_zarr

    stack, _ = make_timelapse(5)
    store = _ome_image(tmp_path / "cells.zarr", stack, version)
    before = _image_files(store)
    assert _track_population(store, reduced_model_dir, "--ctc", str(tmp_path / "RES")) == 0
    assert _image_files(store) == before  # the image's arrays and metadata, byte for byte
    assert not [p for p in store.rglob("*") if p.name.endswith((".partial", ".old"))]
    nodes = {str(n.zarr.path).rstrip("/").split("/")[-1]: n for n in Reader(parse_url(str(store)))()}
    label = nodes["napari-sam2"]  # ome-zarr-py finds the label image through labels/
    assert [type(s).__name__ for s in label.specs] == ["Label", "Multiscales"]
    level0 = np.asarray(label.data[0])
    assert level0.shape == stack.shape and len(label.data) >= 2  # a pyramid
    assert_meaningful(level0[4] > 0)
    assert type(open_ome_zarr(str(store / "labels" / "napari-sam2"))).__name__ == "ImageLabel"  # validated
    group = zarr.open_group(str(store / "labels" / "napari-sam2"), mode="r")
    attrs = dict(group.attrs)
    ome = attrs["ome"] if version == "0.5" else attrs
    sidecar = attrs["napari_sam2"]
    parents = {r["id"]: r["parent"] for r in sidecar["lineage"]}
    properties = {p["label-value"]: p for p in ome["image-label"]["properties"]}
    assert set(properties) == {int(v) for v in np.unique(level0) if v}
    assert all(p["track_id"] == v and p["parent"] == parents.get(v, 0) for v, p in properties.items())
    assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 0.5, 0.5]
    assert group["0"].chunks == (1, *stack.shape[1:])  # a chunk per frame, written frame by frame
    assert (tmp_path / "RES" / "res_track.txt").exists() and (tmp_path / "cells_napari-sam2_review.csv").exists()


def test_an_existing_label_image_is_replaced_only_on_request_and_stays_listed_once(tmp_path, reduced_model_dir, capfd):
    stack, _ = make_timelapse(4)
    store = _ome_image(tmp_path / "cells.zarr", stack, "0.4")
    assert _track_population(store, reduced_model_dir) == 0
    first = _digest(store / "labels")
    assert _track_population(store, reduced_model_dir) != 0
    assert "labels/napari-sam2 already exists; pass --overwrite" in capfd.readouterr().err
    assert _digest(store / "labels") == first
    assert _track_population(store, reduced_model_dir, "--overwrite") == 0
    assert json.loads((store / "labels" / ".zattrs").read_text())["labels"] == ["napari-sam2"]
    named = tmp_path / "cells.zarr" / "labels" / "nuclei"  # --out STORE/labels/NAME names it
    assert main(["track", str(store), "--seeds", "threshold", "--out", str(named), "--model",
                 str(reduced_model_dir), "--quiet"]) == 0  # fmt: skip
    assert json.loads((store / "labels" / ".zattrs").read_text())["labels"] == ["napari-sam2", "nuclei"]


def test_bad_ome_zarr_outputs_are_one_line_and_touch_nothing(tmp_path, reduced_model_dir, capfd):
    stack, _ = make_timelapse(3)
    store = _ome_image(tmp_path / "cells.zarr", stack, "0.5")
    before = _digest(store)
    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=3)
    plain.create_array("0", shape=(3, 8, 8), dtype="uint8")
    other = _ome_image(tmp_path / "other.zarr", stack, "0.4")
    for out, said in (
        (store / "s0", "is the input"),  # the input's own arrays
        (other / "s0" / "labels.tif", "lies inside the OME-Zarr store other.zarr"),
        (tmp_path / "plain.zarr", "plain.zarr is no OME-Zarr image (no multiscales)"),
        (tmp_path / "missing.zarr", "missing.zarr does not exist"),
        (store / "labels" / ".hidden", "is not a name for a label image"),
    ):
        code = main(["track", str(store), "--seeds", "threshold", "--out", str(out), "--model",
                     str(reduced_model_dir), "--quiet"])  # fmt: skip
        err = capfd.readouterr().err
        assert code != 0 and said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert _digest(store) == before


def test_a_killed_runs_partial_goes_and_a_running_ones_stops_the_next(tmp_path, reduced_model_dir, capfd):
    import fcntl

    stack, _ = make_timelapse(3)
    store = _ome_image(tmp_path / "cells.zarr", stack, "0.4")
    name = "well[B2]"  # names are taken literally, never as patterns
    killed = store / f".{name}.0123456789ab.partial"
    killed.mkdir()
    (killed / ".lock").write_bytes(b"")
    lookalike = store / ".wellB2.0123456789ab.partial"  # another label image's: left alone
    lookalike.mkdir()
    out = store / "labels" / name
    args = ["track", str(store), "--seeds", "threshold", "--out", str(out), "--model", str(reduced_model_dir)]
    assert main([*args, "--quiet"]) == 0
    assert not killed.exists() and lookalike.exists() and (out / "0").exists()
    running = store / f".{name}.ba9876543210.partial"
    running.mkdir()
    with open(running / ".lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main([*args, "--quiet", "--overwrite"]) != 0
    assert "is writing cells.zarr/labels/well[B2] right now" in capfd.readouterr().err
