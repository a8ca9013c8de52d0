"""``napari-sam2 track --seeds``: a population run from the command line, its exports read by
the real tools (py-ctcmetrics, geff), and bad seeds refused before the model loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sam2.cli import main
from napari_sam2.core.models import ModelLoader


@pytest.fixture()
def stack(tmp_path):
    assert main(["sample", str(tmp_path), "--frames", "6"]) == 0
    return tmp_path / "timelapse.tif"


def _track(capfd, *args):
    code = main(["track", *map(str, args), "--quiet"])
    return code, capfd.readouterr().err.strip().splitlines()


def test_threshold_seeds_track_with_redetection_and_export_ctc_and_geff(stack, tmp_path, reduced_model_dir, capfd):
    import geff
    from ctc_metrics.scripts.validate import validate_sequence

    code, _ = _track(
        capfd, stack, "--seeds", "threshold", "--redetect-every", "2", "--redetect-frames", "5",
        "--out", tmp_path / "labels.tif",
        "--ctc", tmp_path / "01_RES", "--geff", tmp_path / "cells.geff", "--model", reduced_model_dir,
    )  # fmt: skip
    assert code == 0
    sidecar = json.loads((tmp_path / "labels.json").read_text())
    assert sidecar["complete"] is True and sidecar["settings"]["seeds"] == "threshold"
    labels = tifffile.imread(tmp_path / "labels.tif")
    tracks = {row["id"] for row in sidecar["lineage"]}
    assert set(np.unique(labels)) - {0} <= tracks and len(tracks) >= 3
    assert validate_sequence(str(tmp_path / "01_RES"), threads=1)["Valid"] == 1
    geff.validate_structure(tmp_path / "cells.geff")
    graph, meta = geff.read(tmp_path / "cells.geff")
    assert graph.number_of_nodes() == sum(len(np.unique(frame)) - 1 for frame in labels)
    (masks,) = meta.related_objects  # the store names the label TIFF as its segmentation
    assert (masks.type, masks.path, masks.node_prop) == ("labels", "../labels.tif", "seg_id")


def test_objects_together_on_the_command_line_give_the_same_labels(stack, tmp_path, reduced_model_dir, capfd):
    """``--objects-together on`` (the default on a GPU) against ``off`` (the CPU's) on a CPU."""
    for mode in ("on", "off"):
        code, _ = _track(
            capfd, stack, "--seeds", "threshold", "--redetect-every", "2", "--objects-together", mode,
            "--out", tmp_path / f"{mode}.tif", "--model", reduced_model_dir,
        )  # fmt: skip
        assert code == 0
    on, off = tifffile.imread(tmp_path / "on.tif"), tifffile.imread(tmp_path / "off.tif")
    assert len(np.unique(on[-1])) >= 4  # several cells, tracked to the last frame
    np.testing.assert_array_equal(on, off)
    assert json.loads((tmp_path / "on.json").read_text())["settings"]["objects_together"] == "on"
    assert (
        json.loads((tmp_path / "on.json").read_text())["lineage"]
        == json.loads((tmp_path / "off.json").read_text())["lineage"]
    )


def test_label_seeds_keep_their_ids(stack, tmp_path, reduced_model_dir, capfd):
    seeds = np.zeros(tifffile.imread(stack).shape[1:], np.uint16)
    seeds[60:80, 50:75], seeds[30:50, 150:170] = 7, 12
    tifffile.imwrite(tmp_path / "seeds.tif", seeds)
    code, _ = _track(
        capfd, stack, "--seeds", tmp_path / "seeds.tif", "--out", tmp_path / "l.tif", "--model", reduced_model_dir
    )
    assert code == 0
    assert set(np.unique(tifffile.imread(tmp_path / "l.tif")[0])) == {0, 7, 12}


def test_bad_seeds_and_options_are_one_line_before_the_model_loads(stack, tmp_path, capfd, monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(ModelLoader, "load", refuse)
    shape = tifffile.imread(stack).shape
    tifffile.imwrite(tmp_path / "float.tif", np.ones(shape[1:], np.float32))
    tifffile.imwrite(tmp_path / "small.tif", np.ones((10, 10), np.uint16))
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros(shape[1:], np.uint16))
    one = np.zeros(shape[1:], np.uint16)
    one[10:30, 10:30] = 1
    tifffile.imwrite(tmp_path / "one.tif", one)
    (tmp_path / "early.csv").write_text("cell,frame,y1,x1,y2,x2\n1,0,10,10,20,20\n")
    (tmp_path / "taken").mkdir()
    out = ["--out", tmp_path / "l.tif"]
    cases = [
        (["--seeds", tmp_path / "float.tif"], "whole numbers"),
        (["--seeds", tmp_path / "small.tif"], "has shape (10, 10)"),
        (["--seeds", tmp_path / "empty.tif"], "empty"),
        (["--seeds", stack], "intensity image"),
        (["--seeds", "threshold", "--seed-frame", "9"], "--seed-frame 9 does not exist"),
        (["--seeds", "threshold", "--direction", "both"], "leave out --direction"),
        (["--seeds", "threshold", "--redetect-frames", "0"], "--redetect-frames 0 is not after the seed frame"),
        (["--seeds", "threshold", "--ctc", tmp_path / "taken"], "exists already"),
        (["--seeds", "threshold", "--geff", tmp_path / "no" / "g.geff"], "does not exist"),
        (["--ctc", tmp_path / "new", "--prompts", tmp_path / "timelapse_prompts.csv"], "give --seeds too"),
        (["--seeds", tmp_path / "one.tif", "--prompts", tmp_path / "timelapse_prompts.csv"], "uses ids [1]"),
        (["--seeds", "threshold", "--prompts", tmp_path / "missing.csv"], "missing.csv"),
        (["--seeds", "threshold", "--divide", tmp_path / "early.csv"], "frame 0 is not after the run's first frame 0"),
        (["--divide", tmp_path / "early.csv", "--prompts", tmp_path / "timelapse_prompts.csv"], "give --seeds too"),
    ]
    for options, message in cases:
        code, err = _track(capfd, stack, *options, *out)
        assert code == 2 and len(err) == 1 and message in err[0], (options, err)
    assert not (tmp_path / "l.tif").exists()


def test_sam_seeds_that_find_nothing_say_so_and_leave_no_file(stack, tmp_path, reduced_model_dir, capfd):
    # The random-weight model's masks fail SAM's default quality thresholds: no seed at all.
    code, err = _track(capfd, stack, "--seeds", "sam", "--out", tmp_path / "l.tif", "--model", reduced_model_dir)
    assert code == 2 and err[-1] == "napari-sam2: error: SAM 2 found no cell on frame 0 (--seeds sam)."
    assert not list(tmp_path.glob("l.*")) and not list(tmp_path.glob(".l.*"))


def test_prompted_objects_join_the_population_on_their_first_prompted_frame(stack, tmp_path, reduced_model_dir, capfd):
    """Seeds on frame 4, two clicked cells on frame 3 (the sample's prompts): the run starts
    on frame 3 with the clicked cells, the seeds join on frame 4, and threshold seeds are
    numbered above the clicked ids."""
    code, _ = _track(
        capfd, stack, "--seeds", "threshold", "--seed-frame", "4", "--prompts", tmp_path / "timelapse_prompts.csv",
        "--out", tmp_path / "l.tif", "--model", reduced_model_dir,
    )  # fmt: skip
    assert code == 0
    labels = tifffile.imread(tmp_path / "l.tif")
    sidecar = json.loads((tmp_path / "l.json").read_text())
    tracks = {row["id"]: row for row in sidecar["lineage"]}
    assert tracks[1]["first"] == tracks[2]["first"] == 3  # the clicks are on the middle frame
    seeded = [t for t in tracks.values() if t["id"] > 2 and not t["parent"]]
    assert seeded and all(t["first"] == 4 for t in seeded)
    assert not labels[:3].any() and set(np.unique(labels[3])) - {0} <= {1, 2}
    assert sidecar["complete"] is True and sidecar["frames_done"] == [3, 4, 5]


def test_a_division_marked_in_a_file_splits_the_cell_on_its_frame(stack, tmp_path, reduced_model_dir, capfd):
    """--divide: divisions marked by hand (one click per daughter), applied when the run
    reaches their frame; a cell that is not tracked there is skipped with a line."""
    seeds = np.zeros(tifffile.imread(stack).shape[1:], np.uint16)
    seeds[60:90, 45:85], seeds[30:50, 150:170] = 7, 12
    tifffile.imwrite(tmp_path / "seeds.tif", seeds)
    (tmp_path / "divide.csv").write_text("cell,frame,y1,x1,y2,x2\n7,3,75,55,75,75\n99,4,10,10,20,20\n")
    code, err = _track(
        capfd, stack, "--seeds", tmp_path / "seeds.tif", "--divisions", "off", "--divide", tmp_path / "divide.csv",
        "--out", tmp_path / "l.tif", "--model", reduced_model_dir,
    )  # fmt: skip
    assert code == 0
    assert "napari-sam2: --divide: cell 99 is not tracked on frame 4; skipped." in err
    sidecar = json.loads((tmp_path / "l.json").read_text())
    tracks = {row["id"]: row for row in sidecar["lineage"]}
    daughters = [t for t in tracks.values() if t["parent"] == 7]
    assert tracks[7]["last"] == 2 and len(daughters) == 2 and all(d["first"] == 3 for d in daughters)
    labels = tifffile.imread(tmp_path / "l.tif")
    assert not (labels[3:] == 7).any() and (labels[:3] == 7).any()
    assert all((labels[3] == d["id"]).any() for d in daughters)
    assert sidecar["settings"]["divide_file"] == str(tmp_path / "divide.csv")
