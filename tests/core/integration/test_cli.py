"""``napari-sam2`` end to end, and every bad-input case the CLI promises to handle."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sam2.cli import main
from napari_sam2.core import prompt_files
from napari_sam2.core.session import TrackingSession
from tests.helpers import assert_meaningful, moving_blob_stack


@pytest.fixture()
def sample(tmp_path):
    assert main(["sample", str(tmp_path), "--frames", "6", "--objects", "2"]) == 0
    return tmp_path / "timelapse.tif", tmp_path / "timelapse_prompts.csv"


def _track(model_dir, image, prompts, out, *extra):
    return main(
        [
            "track",
            str(image),
            "--prompts",
            str(prompts),
            "--out",
            str(out),
            "--model",
            str(model_dir),
            "--quiet",
            *extra,
        ]
    )


def test_track_sample_end_to_end(reduced_model_dir, sample, tmp_path):
    image, prompts = sample
    out = tmp_path / "labels.tif"
    assert _track(reduced_model_dir, image, prompts, out) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TYX"
        labels = tif.asarray()
    assert labels.shape == (6, 160, 224) and labels.dtype == np.uint16
    assert set(np.unique(labels)) <= {0, 1, 2} and {1, 2} <= set(np.unique(labels[3]))
    assert_meaningful(labels[5] > 0)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["complete"] and sidecar["frames_done"] == list(range(6))
    assert sidecar["model"]["revision"].startswith("sha256:") and sidecar["model"]["source"] == "local"
    assert sidecar["input"]["contrast_limits"] and sidecar["settings"]["direction"] == "both"
    assert len(sidecar["prompts"]["points"]) == 2 and set(sidecar["scores"]["5"]) == {"1", "2"}
    assert sidecar["napari_sam2_version"]


def test_precision_auto_tracks_in_bf16_on_a_cpu_with_native_bf16_and_in_fp32_without(
    reduced_model_dir, sample, tmp_path, monkeypatch
):
    """The CPU's answer is forced both ways (this machine's own is not what is tested): bf16
    is recorded in the sidecar, and its masks stay close to fp32's."""
    image, prompts = sample
    found = {}
    for native in ("1", "0"):
        monkeypatch.setenv("NAPARI_SAM2_CPU_BF16", native)
        out = tmp_path / f"labels-{native}.tif"
        assert _track(reduced_model_dir, image, prompts, out, "--device", "cpu") == 0
        sidecar = json.loads(out.with_suffix(".json").read_text())
        found[native] = (tifffile.imread(out), sidecar["model"]["autocast_dtype"])
    (bf16, dtype_bf16), (fp32, dtype_fp32) = found["1"], found["0"]
    assert dtype_bf16 == "bfloat16" and dtype_fp32 is None
    assert_meaningful(bf16 > 0)
    agree = np.logical_and(bf16 > 0, fp32 > 0).sum() / np.logical_or(bf16 > 0, fp32 > 0).sum()
    assert agree > 0.9, agree


def test_a_rerun_with_the_disk_feature_cache_gives_the_same_labels(reduced_model_dir, sample, tmp_path):
    image, prompts = sample
    cache = tmp_path / "features"
    runs = [tmp_path / f"run{i}.tif" for i in range(3)]
    assert _track(reduced_model_dir, image, prompts, runs[0]) == 0
    assert _track(reduced_model_dir, image, prompts, runs[1], "--feature-cache", str(cache)) == 0
    (model_folder,) = cache.iterdir()
    entries = sorted(model_folder.glob("*.zarr"))
    stamps = [e.stat().st_mtime_ns for e in entries]
    assert len(entries) == 6  # one per frame
    assert _track(reduced_model_dir, image, prompts, runs[2], "--feature-cache", str(cache)) == 0
    assert sorted(model_folder.glob("*.zarr")) == entries  # nothing new was encoded
    assert [e.stat().st_mtime_ns for e in entries] != stamps  # every entry was read (and touched)
    labels = [tifffile.imread(r) for r in runs]
    assert_meaningful(labels[0][5] > 0)
    np.testing.assert_array_equal(labels[0], labels[1])
    np.testing.assert_array_equal(labels[0], labels[2])


def test_cli_entry_point_and_help():
    result = subprocess.run(
        [sys.executable, "-m", "napari_sam2.cli", "track", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for option in (
        "--prompts",
        "--boxes",
        "--model",
        "--axis",
        "--direction",
        "--device",
        "--contrast-limits",
        "--roi",
    ):
        assert option in result.stdout


def test_random_model_is_marked_on_stderr_and_in_json(sample, tmp_path, capfd):
    image, prompts = sample
    out = tmp_path / "r.tif"
    assert (
        main(
            [
                "track",
                str(image),
                "--prompts",
                str(prompts),
                "--out",
                str(out),
                "--model",
                "random:reduced",
                "--quiet",
                "--direction",
                "forward",
            ]
        )
        == 0
    )
    assert "random weights" in capfd.readouterr().err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["random_weights"] is True and "meaningless" in sidecar["warning"]


def test_napari_points_csv_boxes_roi_and_contrast(reduced_model_dir, tmp_path):
    stack = moving_blob_stack(5, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    (tmp_path / "pts.csv").write_text("index,axis-0,axis-1,axis-2,object_id,positive\n0,2,40,40,1,True\n")
    (tmp_path / "boxes.csv").write_text("object_id,frame,y0,x0,y1,x1\n2,2,60,100,88,138\n")
    out = tmp_path / "l.tif"
    code = main(
        [
            "track",
            str(tmp_path / "s.tif"),
            "--prompts",
            str(tmp_path / "pts.csv"),
            "--boxes",
            str(tmp_path / "boxes.csv"),
            "--out",
            str(out),
            "--model",
            str(reduced_model_dir),
            "--quiet",
            "--roi",
            "5",
            "5",
            "89",
            "139",
            "--contrast-limits",
            "8000",
            "40000",
        ]
    )
    assert code == 0
    labels = tifffile.imread(out)
    assert {1, 2} <= set(np.unique(labels[2])) and (labels[:, :5] == 0).all() and (labels[:, :, :5] == 0).all()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["input"]["contrast_limits"] == [8000.0, 40000.0] and sidecar["input"]["roi"] == [5, 5, 89, 139]
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].axes == "ZYX"


def test_hyperstack_along_z_at_a_held_time(reduced_model_dir, tmp_path):
    tzyx = np.stack([moving_blob_stack(4, seed=s) for s in range(3)])  # T=3, Z=4
    tifffile.imwrite(tmp_path / "h.tif", tzyx, imagej=True, metadata={"axes": "TZYX"})
    prompt_files.write_point_prompts(tmp_path / "p.csv", [prompt_files.PointRow(1, 1, 40, 40, True)])
    out = tmp_path / "l.tif"
    assert _track(reduced_model_dir, tmp_path / "h.tif", tmp_path / "p.csv", out, "--axis", "1", "--hold", "0=2") == 0
    labels = tifffile.imread(out)
    assert labels.shape == (4, 90, 140)
    assert json.loads(out.with_suffix(".json").read_text())["input"]["held"] == {"0": 2}


def _interrupt_at(monkeypatch, n, exc):
    original = TrackingSession._track_frame
    calls = []

    def wrapped(self, *args, **kwargs):
        if len(calls) == n:
            raise exc
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrackingSession, "_track_frame", wrapped)


def test_interruption_keeps_finished_frames(reduced_model_dir, sample, tmp_path, monkeypatch):
    image, prompts = sample
    out = tmp_path / "labels.tif"
    _interrupt_at(monkeypatch, 2, KeyboardInterrupt())
    assert _track(reduced_model_dir, image, prompts, out, "--direction", "forward") == 130
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["complete"] is False and sidecar["status"] == "interrupted" and sidecar["frames_done"] == [3, 4]
    labels = tifffile.imread(out)
    assert (labels[3] > 0).any() and (labels[4] > 0).any() and not labels[5].any()


def test_a_crash_keeps_finished_frames_and_shows_the_bug(reduced_model_dir, sample, tmp_path, monkeypatch):
    image, prompts = sample
    out = tmp_path / "labels.tif"
    _interrupt_at(monkeypatch, 3, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        _track(reduced_model_dir, image, prompts, out)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["status"].startswith("failed: RuntimeError") and sidecar["frames_done"] == [3, 4, 5]


def _bad_inputs(tmp_path, sample):
    image, prompts = sample
    p = tmp_path
    (p / "text.tif").write_text("not an image")
    (p / "empty.csv").write_text("")
    (p / "malformed.csv").write_text("object_id,frame,y,x,positive\n1,zero,3,4,1\n")
    (p / "outside.csv").write_text("object_id,frame,y,x,positive\n1,0,500,20,1\n")
    (p / "noframe.csv").write_text("object_id,frame,y,x,positive\n1,99,20,20,1\n")
    nan = np.full((4, 30, 30), np.nan, np.float32)
    np.save(p / "nan.npy", nan)
    np.save(p / "constant.npy", np.full((4, 30, 30), 5, np.uint16))
    (p / "exists.tif").write_bytes(b"precious")
    return {
        "missing input": ([str(p / "nope.tif"), "--prompts", str(prompts)], "does not exist"),
        "not an image": ([str(p / "text.tif"), "--prompts", str(prompts)], "not a readable TIFF"),
        "empty prompts": ([str(image), "--prompts", str(p / "empty.csv")], "is empty"),
        "malformed prompts": (
            [str(image), "--prompts", str(p / "malformed.csv")],
            "line 2: column 'frame' should be a number",
        ),
        "prompt outside": ([str(image), "--prompts", str(p / "outside.csv")], "outside the 160x224 image"),
        "frame missing": ([str(image), "--prompts", str(p / "noframe.csv")], "frames 0 to 5"),
        "all NaN": ([str(p / "nan.npy"), "--prompts", str(prompts)], "no finite values"),
        "constant": ([str(p / "constant.npy"), "--prompts", str(prompts)], "constant"),
        "unknown model": ([str(image), "--prompts", str(prompts), "--model", "sam9-huge"], "Unknown model"),
        "no prompts": ([str(image)], "Give prompts"),
        "threads": ([str(image), "--prompts", str(prompts), "--threads", "0"], "--threads must be at least 1"),
        "cache folder": (
            [str(image), "--prompts", str(prompts), "--feature-cache", str(p / "exists.tif" / "cache")],
            "as the feature cache folder",
        ),
    }


def test_every_bad_input_is_one_line_and_leaves_no_output(tmp_path, sample, capfd):
    for case, (args, message) in _bad_inputs(tmp_path, sample).items():
        out = tmp_path / f"out-{case.replace(' ', '_')}.tif"
        code = main(["track", *args, "--out", str(out), "--quiet"])
        err = capfd.readouterr().err.strip().splitlines()
        assert code == 2, case
        assert len(err) == 1 and err[0].startswith("napari-sam2: error:") and message in err[0], (case, err)
        assert not out.exists() and not out.with_suffix(".json").exists(), case
    assert not list(tmp_path.glob(".*partial"))


def test_existing_output_is_not_overwritten(tmp_path, sample, capfd):
    image, prompts = sample
    (tmp_path / "exists.tif").write_bytes(b"precious")
    assert main(["track", str(image), "--prompts", str(prompts), "--out", str(tmp_path / "exists.tif")]) == 2
    assert "--overwrite" in capfd.readouterr().err
    assert (tmp_path / "exists.tif").read_bytes() == b"precious"


def test_bad_input_in_a_fresh_process_has_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_sam2.cli",
            "track",
            str(tmp_path / "nope.tif"),
            "--prompts",
            "x.csv",
            "--out",
            str(tmp_path / "o.tif"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"napari-sam2: error: Input {tmp_path / 'nope.tif'} does not exist."


def test_models_lists_registry_and_cache(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "sam2.1-tiny" in out and "facebook/sam2.1-hiera-large" in out and "cache:" in out


def test_download_offline_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert main(["download", "sam2.1-tiny"]) == 2
    err = capsys.readouterr().err
    assert "facebook/sam2.1-hiera-tiny" in err and "napari-sam2 download sam2.1-tiny" in err


def test_sigterm_from_a_scheduler_keeps_finished_frames(reduced_model_dir, sample, tmp_path, monkeypatch):
    import os
    import signal

    image, prompts = sample
    out = tmp_path / "labels.tif"
    original, calls = TrackingSession._track_frame, []

    def terminated(self, *args, **kwargs):
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends at the time limit
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrackingSession, "_track_frame", terminated)
    assert _track(reduced_model_dir, image, prompts, out, "--direction", "forward") == 130
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["status"] == "interrupted" and sidecar["frames_done"][:2] == [3, 4]
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back
