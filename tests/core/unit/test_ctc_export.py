"""The Cell Tracking Challenge export, checked by py-ctcmetrics (the CTC's own validity rules
and TRA/DET), not by our own reader."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from napari_sam2.core.ctc import ctc_tracks, write_ctc
from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.lineage import Lineage

ctc_metrics = pytest.importorskip("ctc_metrics")


def disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def dividing_population():
    """Cell 1 divides into 2 and 3 at frame 3; cell 4 enters at frame 2 and is missed on frame 4."""
    shape, labels, lineage = (64, 96), np.zeros((7, 64, 96), np.uint16), Lineage()
    for t in range(7):
        if t < 3:
            labels[t][disk(shape, 30, 20 + 2 * t, 9)] = 1
        else:
            labels[t][disk(shape, 22, 24 + t, 6)] = 2
            labels[t][disk(shape, 40, 24 + t, 6)] = 3
        if t >= 2 and t != 4:
            labels[t][disk(shape, 30, 75, 7)] = 4
    lineage.start(1, 0)
    lineage.end(1, 2)
    for d in (2, 3):
        lineage.start(d, 3, parent=1)
        lineage.seen(d, 6)
    lineage.start(4, 2)
    lineage.seen(4, 6)
    return labels, lineage


def as_ground_truth(result, gt):
    (gt / "TRA").mkdir(parents=True)
    for mask in sorted(result.glob("mask*.tif")):
        shutil.copy(mask, gt / "TRA" / mask.name.replace("mask", "man_track"))
    shutil.copy(result / "res_track.txt", gt / "TRA" / "man_track.txt")


def test_export_is_valid_and_scores_one_against_itself(tmp_path):
    from ctc_metrics.scripts.evaluate import evaluate_sequence
    from ctc_metrics.scripts.validate import validate_sequence

    labels, lineage = dividing_population()
    folder = write_ctc(tmp_path / "01_RES", labels, lineage)
    rows = set((folder / "res_track.txt").read_text().splitlines())
    assert rows == {"1 0 2 0", "2 3 6 1", "3 3 6 1", "4 2 3 0", "5 5 6 4"}  # 4's gap: a new track, parent 4
    assert validate_sequence(str(folder), threads=1)["Valid"] == 1
    as_ground_truth(folder, tmp_path / "01_GT")
    scores = evaluate_sequence(str(folder), str(tmp_path / "01_GT"), metrics=["TRA", "DET"], threads=1)
    assert scores["TRA"] == pytest.approx(1.0) and scores["DET"] == pytest.approx(1.0)


def test_a_broken_export_is_caught_by_the_ctc_validator(tmp_path):
    from ctc_metrics.scripts.validate import validate_sequence

    labels, lineage = dividing_population()
    folder = write_ctc(tmp_path / "ok", labels, lineage)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    text = (broken / "res_track.txt").read_text()
    (broken / "res_track.txt").write_text(text.replace("2 3 6 1", "2 3 6 4"))  # a wrong parent
    assert validate_sequence(str(broken), threads=1)["Valid"] == 0
    gap = tmp_path / "gap"
    shutil.copytree(folder, gap)
    (gap / "res_track.txt").write_text(text.replace("4 2 3 0", "4 2 6 0"))  # a track with a gap
    assert validate_sequence(str(gap), threads=1)["Valid"] == 0


def test_tracks_follow_the_labels_and_bad_exports_are_refused(tmp_path):
    labels, lineage = dividing_population()
    out, tracks = ctc_tracks(labels, lineage)
    split = Lineage.from_dict([t.__dict__ for t in tracks])
    assert split.check_against(out) == []
    with pytest.raises(Sam2InputError, match="exists already"):
        write_ctc(tmp_path, labels, lineage)
    with pytest.raises(Sam2InputError, match=r"\(T, Y, X\)"):
        write_ctc(tmp_path / "flat", labels[0], lineage)
    assert not list(tmp_path.glob(".*partial"))
