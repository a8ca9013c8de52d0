"""Divisions found however the daughters are born (division issue), on masks from ground truth.

A linking-rules test, not a tracking test: SAM 2's propagation is replaced by an oracle that
gives each object the true cells its previous mask overlaps, covering both daughters or
following one (``benchmarks/division_scenes.py``); the population rules, the lineage and the
CTC export run for real; py-ctcmetrics and traccuracy (two independent evaluators) score them
against the truth.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from benchmarks.division_scenes import scene, score

from napari_sam2.core.linking import LinkingRules, detection_floor, division_by_detection, split_parts

pytest.importorskip("ctc_metrics")
pytest.importorskip("traccuracy", reason="scripts/install-traccuracy.sh installs it")

GEOMETRIES = {"touching": -3, "1 px apart": 1, "3 px apart": 3, "6 px apart": 6}


@pytest.mark.parametrize("redetect_every", [1, 3, 5])
@pytest.mark.parametrize("behaviour", ["covers", "follows"])
@pytest.mark.parametrize("birth", list(GEOMETRIES))
def test_every_birth_geometry_is_a_division_on_its_frame_and_lookalikes_are_not(
    tmp_path, birth, behaviour, redetect_every
):
    gt, parents = scene(GEOMETRIES[birth])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = score(tmp_path, gt, parents, behaviour, redetect_every)
    assert found["BC(0)"] >= 0.9 and found["TRA"] >= 0.95, found
    assert found["false_divisions"] == []  # the elongating cell and the one cut by noise
    assert found["CT"] >= 0.95, found  # the entering cell starts on the frame it enters
    second = found["traccuracy"]  # the second evaluator agrees
    assert second["BC(0)"] >= 0.9 and second["TRA"] >= 0.95, second


def _disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_rule_a_piece_with_a_waist_is_two_daughters_but_an_ellipse_and_a_cut_disc_are_one_cell():
    shape = (60, 80)
    peanut = _disk(shape, 30, 34, 7) | _disk(shape, 30, 45, 7)  # born touching: a waist between
    parts = split_parts(peanut, int(_disk(shape, 30, 40, 10).sum()))
    assert parts is not None and {p[30, 34] for p in parts} == {True, False}
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    ellipse = ((xx - 40) / 18) ** 2 + ((yy - 30) / 7) ** 2 <= 1  # elongated, no waist
    assert split_parts(ellipse, int(ellipse.sum())) is None
    cut = _disk(shape, 30, 40, 10) & (xx != 40)  # one line of noise through a cell
    assert split_parts(cut, int(_disk(shape, 30, 40, 10).sum())) is None


def test_rule_a_sister_is_beside_within_half_a_diameter_of_the_cell_that_shrank():
    shape = (60, 100)
    before = int(_disk(shape, 30, 40, 10).sum())  # diameter 20: half is 10 pixels
    now = _disk(shape, 30, 36, 7)
    for gap, expected in ((6, True), (14, False)):
        detections = np.zeros(shape, np.uint16)
        detections[_disk(shape, 30, 36 + 7 + gap + 7, 7)] = 3
        assert (division_by_detection(now, before, detections) is not None) is expected, gap


def test_rule_the_smallest_new_cell_scales_with_the_cells():
    rules = LinkingRules()
    assert detection_floor([400, 420, 380], rules) == pytest.approx(0.05 * 400)
    assert detection_floor([100, 120], rules) == pytest.approx(5.5)
    assert detection_floor([], rules) == rules.min_area and detection_floor([10], rules) == 4
