"""``napari-sam2 track`` against a hostile user: the input is never destroyed, errors come early.

Each test names the class of failure it guards against. Cases that must be refused before
the model loads run with a loader that fails the test if it is called.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile

from napari_sam2.cli import main
from napari_sam2.core import outputs, prompt_files
from napari_sam2.core.models import ModelLoader
from napari_sam2.core.session import TrackingSession
from tests.helpers import moving_blob_stack


@pytest.fixture()
def sample(tmp_path):
    assert main(["sample", str(tmp_path), "--frames", "6", "--objects", "2"]) == 0
    return tmp_path / "timelapse.tif", tmp_path / "timelapse_prompts.csv"


@pytest.fixture()
def no_model(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(ModelLoader, "load", refuse)


def _run(capfd, *args):
    code = main(["track", *map(str, args), "--quiet"])
    return code, capfd.readouterr().err.strip().splitlines()


def test_out_equal_to_the_input_never_destroys_it(tmp_path, sample, capfd, no_model):
    image, prompts = sample
    original = image.read_bytes()
    (tmp_path / "link.tif").symlink_to(image)
    os.link(image, tmp_path / "hard.tif")
    sub = tmp_path / "sub"
    sub.mkdir()
    for out in (image, sub / ".." / image.name, tmp_path / "link.tif", tmp_path / "hard.tif"):
        code, err = _run(capfd, image, "--prompts", prompts, "--out", out, "--overwrite")
        assert code == 2 and len(err) == 1 and "is the input" in err[0], (out, err)
    assert image.read_bytes() == original
    assert not list(tmp_path.glob(".*partial"))


def test_an_existing_sidecar_is_not_replaced_without_overwrite(tmp_path, sample, capfd, no_model):
    image, prompts = sample
    (tmp_path / "new.json").write_text('{"mine": 1}')
    code, err = _run(capfd, image, "--prompts", prompts, "--out", tmp_path / "new.tif")
    assert code == 2 and "new.json already exist" in err[0] and "--overwrite" in err[0]
    assert json.loads((tmp_path / "new.json").read_text()) == {"mine": 1}


def test_everything_checkable_is_refused_before_the_model_loads(tmp_path, sample, capfd, no_model):
    image, prompts = sample
    p = tmp_path
    (p / "big_id.csv").write_text(f"object_id,frame,y,x,positive\n{2**32},1,40,40,1\n")
    (p / "two_boxes.csv").write_text("object_id,frame,y0,x0,y1,x1\n1,1,10,10,40,40\n1,1,20,20,50,50\n")
    tzyx = np.stack([moving_blob_stack(4, seed=s) for s in range(3)])
    tifffile.imwrite(p / "h.tif", tzyx, imagej=True, metadata={"axes": "TZYX"})
    np.save(p / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(p / "tiny.npy", np.ones((4, 1, 1), np.uint16))
    np.save(p / "u8.npy", moving_blob_stack(4))
    h = [p / "h.tif", "--prompts", prompts]
    cases = {
        "range": ([image, "--prompts", prompts, "--range", "2", "9"], "last frame of the range, 9, does not exist"),
        "range order": ([image, "--prompts", prompts, "--range", "4", "2"], "is empty"),
        "start": ([image, "--prompts", prompts, "--start", "7"], "start frame, 7, does not exist"),
        "start outside range": ([image, "--prompts", prompts, "--range", "4", "5"], "outside the frame range"),
        "id too large": ([image, "--prompts", p / "big_id.csv"], "too large for a label image"),
        "two boxes": ([image, "--boxes", p / "two_boxes.csv"], "more than one box on frame 1"),
        "hold frame axis": ([*h, "--axis", "1", "--hold", "1=2"], "Axis 1 is the propagated axis"),
        "hold spatial axis": ([*h, "--axis", "1", "--hold", "3=2"], "Axis 3 is a spatial"),
        "hold twice": ([*h, "--axis", "1", "--hold", "0=1", "--hold", "0=2"], "held twice"),
        "hold twice by sign": ([*h, "--axis", "1", "--hold", "0=1", "--hold=-4=2"], "held twice"),
        "contrast on uint8": ([p / "u8.npy", "--prompts", prompts, "--contrast-limits", "0", "9"], "8-bit data"),
        "strings": ([p / "strings.npy", "--prompts", prompts], "not image intensities"),
        "1x1 frames": ([p / "tiny.npy", "--prompts", prompts], "too small for SAM 2"),
        "random unknown shape": ([image, "--prompts", prompts, "--model", "random:huge"], "Unknown model shape"),
        "roi outside": ([image, "--prompts", prompts, "--roi", "0", "0", "9999", "50"], "reaches outside the"),
        "roi upside down": ([image, "--prompts", prompts, "--roi", "50", "0", "10", "50"], "Y0 must be less than Y1"),
        "backward from 0": ([image, "--prompts", prompts, "--direction", "backward", "--start", "0"], "tracks nothing"),
        "config without .pt": ([image, "--prompts", prompts, "--model-config", "sam2-tiny"], "to a Meta checkpoint"),
        "model is a text file": ([image, "--prompts", prompts, "--model", p / "notes.txt"], "not a Meta checkpoint"),
    }
    (p / "notes.txt").write_text("not a model")
    for case, (args, message) in cases.items():
        out = p / f"out-{case.replace(' ', '_')}.tif"
        code, err = _run(capfd, *args, "--out", out)
        assert code == 2 and len(err) == 1 and message in err[0], (case, err)
        assert not out.exists() and not out.with_suffix(".json").exists(), case
    assert not list(p.glob(".*partial"))


def test_an_npy_of_objects_is_refused_without_unpickling(tmp_path, sample, capfd, no_model):
    _, prompts = sample
    marker = tmp_path / "pwned"
    np.save(tmp_path / "objects.npy", np.array([_Pickled(str(marker))], dtype=object), allow_pickle=True)
    code, err = _run(capfd, tmp_path / "objects.npy", "--prompts", prompts, "--out", tmp_path / "o.tif")
    assert code == 2 and "not a readable .npy" in err[0] and not marker.exists()


class _Pickled:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_truncated_imagej_tiff_is_reported_as_damaged(tmp_path, sample, capfd, no_model):
    image, prompts = sample
    data = image.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    code, err = _run(capfd, tmp_path / "cut.tif", "--prompts", prompts, "--out", tmp_path / "o.tif")
    assert code == 2 and len(err) == 1 and "is damaged" in err[0] and "declares 6 images" in err[0]


def test_a_corrupt_slice_mid_run_is_one_line_and_keeps_the_finished_frames(reduced_model_dir, tmp_path, capfd):
    stack = moving_blob_stack(6, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "z.tif", stack, compression="zlib", metadata={"axes": "TYX"})
    with tifffile.TiffFile(tmp_path / "z.tif") as tif:
        offset = tif.pages[4].dataoffsets[0]
    raw = bytearray((tmp_path / "z.tif").read_bytes())
    raw[offset + 8 : offset + 40] = b"\x00" * 32
    (tmp_path / "z.tif").write_bytes(raw)
    with pytest.raises(Exception, match="(?i)invalid|bad|error"):  # zlib's, or imagecodecs' if installed
        tifffile.imread(tmp_path / "z.tif", key=4)
    prompt_files.write_point_prompts(tmp_path / "p.csv", [prompt_files.PointRow(1, 1, 40, 40, True)])
    out = tmp_path / "l.tif"
    code, err = _run(
        capfd, tmp_path / "z.tif", "--prompts", tmp_path / "p.csv", "--out", out, "--model", reduced_model_dir,
        "--direction", "forward", "--contrast-limits", "0", "40000",
    )  # fmt: skip
    assert code == 1 and len(err) == 1, err
    assert "Cannot read frame 4 of" in err[0] and "z.tif" in err[0] and "damaged" in err[0]
    sidecar = outputs.read_sidecar(out)
    assert sidecar["complete"] is False and sidecar["frames_done"] == [1, 2, 3]
    assert (tifffile.imread(out)[1:4] > 0).any()


def test_quiet_silences_third_party_output(reduced_model_dir, sample, tmp_path, capfd):
    image, prompts = sample
    code, err = _run(capfd, image, "--prompts", prompts, "--out", tmp_path / "q.tif", "--model", reduced_model_dir)
    assert code == 0 and err == [line for line in err if line.startswith("napari-sam2: complete")], err


def test_a_full_disk_mid_run_is_one_line_and_leaves_nothing(reduced_model_dir, sample, tmp_path, capfd, monkeypatch):
    image, prompts = sample
    out = tmp_path / "l.tif"
    original = TrackingSession._track_frame

    def then_full(self, *args, **kwargs):
        monkeypatch.setattr(os, "pwrite", _disk_full)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrackingSession, "_track_frame", then_full)
    code, err = _run(capfd, image, "--prompts", prompts, "--out", out, "--model", reduced_model_dir)
    assert code == 1 and len(err) == 1 and "the disk is full" in err[0] and str(tmp_path) in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timelapse.tif", "timelapse_prompts.csv"]


def _disk_full(*_):
    raise OSError(28, "No space left on device")
