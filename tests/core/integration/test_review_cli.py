"""``napari-sam2 review`` and the review file that ``track`` writes (review issue).

The run is a real one (the reduced random-weight model, masks checked to be non-trivial);
the review's own rules are proven in tests/core/unit/test_review_rules.py.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import tifffile
from benchmarks.review_scenes import inject, population

from napari_sam2.cli import main
from napari_sam2.core.ctc import write_ctc
from napari_sam2.core.lineage import Lineage
from tests.helpers import assert_meaningful

HEADER = ["rank", "kind", "cell", "frame", "last_frame", "score", "reason"]


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_track_writes_its_review_beside_the_labels_and_review_reads_them_back(reduced_model_dir, tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--frames", "6", "--objects", "2"]) == 0
    out = tmp_path / "labels.tif"
    args = ["track", str(tmp_path / "timelapse.tif"), "--prompts", str(tmp_path / "timelapse_prompts.csv")]
    assert main([*args, "--out", str(out), "--model", str(reduced_model_dir), "--quiet"]) == 0
    assert_meaningful(tifffile.imread(out)[5] > 0)
    written = _rows(tmp_path / "labels_review.csv")
    assert written[0] == HEADER
    capsys.readouterr()
    assert main(["review", str(out), "--out", str(tmp_path / "again.csv")]) == 0
    printed = capsys.readouterr()
    assert "no sidecar" not in printed.err  # the sidecar's scores and lineage were used
    assert _rows(tmp_path / "again.csv") == written
    assert main([*args, "--out", str(tmp_path / "quiet.tif"), "--model", str(reduced_model_dir), "--quiet",
                 "--review-top", "0"]) == 0  # fmt: skip
    assert not (tmp_path / "quiet_review.csv").exists()
    sidecar = json.loads((tmp_path / "quiet.json").read_text())
    assert sidecar["settings"]["review_top"] == 0  # the new option reached the sidecar by itself


def _corrupted(tmp_path):
    scene = population(cells=16, frames=24, size=224, seed=5, divisions=2)
    labels, parents, made = inject(scene, ["swap", "flicker"], seed=2)
    return labels, parents, made


def test_review_of_labels_from_another_tool_and_of_a_ctc_folder(tmp_path, capsys):
    labels, parents, made = _corrupted(tmp_path)
    plain = tmp_path / "other tool [run 1].tif"
    tifffile.imwrite(plain, labels, imagej=True, metadata={"axes": "TYX"})
    assert main(["review", str(plain), "--top", "3", "--out", str(tmp_path / "plain.csv")]) == 0
    printed = capsys.readouterr()
    assert "has no sidecar: reviewed from the labels alone" in printed.err
    rows = _rows(tmp_path / "plain.csv")
    assert rows[0] == HEADER and [r[0] for r in rows[1:]] == [str(k) for k in range(1, len(rows))]
    named = {(r[1], int(r[2])) for r in rows[1:4]}
    assert {k for k, _ in named} >= {"swap", "flicker"}, rows
    assert "rank  kind" in printed.out and len(printed.out.strip().splitlines()) <= 3 + 3
    lineage = Lineage.from_dict(
        [{"id": c, "first": 0, "last": 0, "parent": p} for c, p in parents.items() if (labels == c).any()]
    )
    for cell in list(lineage.tracks):
        frames = np.flatnonzero((labels == cell).any(axis=(1, 2)))
        lineage.tracks[cell].first, lineage.tracks[cell].last = int(frames[0]), int(frames[-1])
    folder = write_ctc(tmp_path / "RES", labels, lineage)
    assert main(["review", str(folder), "--out", str(tmp_path / "ctc.csv")]) == 0
    ctc_rows = _rows(tmp_path / "ctc.csv")
    assert {r[1] for r in ctc_rows[1:3]} >= {"swap", "flicker"}


def test_bad_results_are_one_line_without_a_traceback(tmp_path, reduced_model_dir):
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros((4, 32, 32), np.uint16), imagej=True, metadata={"axes": "TYX"})
    broken = tmp_path / "RES"
    broken.mkdir()
    tifffile.imwrite(broken / "mask000.tif", np.zeros((32, 32), np.uint16))
    (broken / "res_track.txt").write_text("1 0 0 0\n2 zero 3 0\n")
    labels, _, _ = _corrupted(tmp_path)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, labels, imagej=True, metadata={"axes": "TYX"})
    (tmp_path / "other.json").write_text(json.dumps({"labels_run_id": "not this one", "scores": {}}))
    image = tmp_path / "image.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((3, 32, 32)).astype(np.float32))

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "napari_sam2.cli", "review", *args], capture_output=True, text=True, timeout=120
        )

    said = run(str(empty))
    assert said.returncode == 0 and "No likely mistakes found in 4 frames" in said.stdout
    for args, words in (
        ((str(broken),), "res_track.txt, line 2: expected four whole numbers"),
        ((str(tmp_path / "missing.tif"),), "does not exist"),
        ((str(image),), "not labels"),
        ((str(tmp_path),), "not a Cell Tracking Challenge result folder"),
        ((str(other), "--out", str(other)), "outside the result"),
    ):
        said = run(*args)
        assert said.returncode == 2, (args, said.stderr)
        assert words in said.stderr and "Traceback" not in said.stderr and len(said.stderr.splitlines()) == 1
    said = run(str(other))
    assert said.returncode == 0 and "does not belong to other.tif" in said.stderr and "swap" in said.stdout
    shutil.rmtree(broken)
