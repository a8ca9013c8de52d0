"""Unit tests of the population linking rules on synthetic masks with known answers.

These test the rules that decide from masks (new cells, ends, divisions) and the lineage
built from them; no model is involved. That SAM 2 produces such masks is tested elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.lineage import Lineage
from napari_sam2.core.linking import Absences, LinkingRules, division_by_detection, new_cells, split_parts


def disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_rule_a_detection_no_tracked_mask_covers_is_a_new_cell():
    tracked = np.zeros((60, 80), np.uint16)
    tracked[disk(tracked.shape, 20, 20, 8)] = 1
    detections = np.zeros_like(tracked)
    detections[disk(tracked.shape, 21, 20, 8)] = 1  # the tracked cell, seen again
    detections[disk(tracked.shape, 40, 60, 7)] = 2  # a cell that entered
    detections[disk(tracked.shape, 50, 10, 1)] = 3  # noise below the minimum area
    found = new_cells(detections, tracked)
    assert len(found) == 1 and found[0][40, 60] and not found[0][20, 20]


def test_rule_a_mask_split_into_two_sizeable_parts_is_a_division_and_a_fragment_is_not():
    shape = (60, 80)
    mother_area = int(disk(shape, 30, 40, 12).sum())
    split = disk(shape, 30, 28, 8) | disk(shape, 30, 52, 8)
    parts = split_parts(split, mother_area)
    assert parts is not None and {p[30, 28] for p in parts} == {True, False}
    fragment = disk(shape, 30, 40, 11) | disk(shape, 5, 5, 2)
    assert split_parts(fragment, mother_area) is None


def test_rule_a_shrinking_cell_with_a_touching_new_detection_divides():
    shape = (60, 80)
    before = int(disk(shape, 30, 40, 12).sum())
    now = disk(shape, 30, 32, 8)
    detections = np.zeros(shape, np.uint16)
    detections[disk(shape, 30, 48, 7)] = 5
    parts = division_by_detection(now, before, detections)
    assert parts is not None and parts[0][30, 32] and parts[1][30, 48]
    assert division_by_detection(disk(shape, 30, 40, 12), before, detections) is None  # did not shrink


def test_rule_an_object_absent_for_m_frames_ends_at_its_last_present_frame():
    absences = Absences(LinkingRules(absent_frames=3))
    present = [True, True, False, True, False, False, False]
    ends = [absences.update(7, f, p) for f, p in enumerate(present)]
    assert ends == [None, None, None, None, None, None, 3]


def test_lineage_agrees_with_labels_and_names_what_disagrees():
    labels = np.zeros((5, 20, 20), np.uint16)
    labels[0:3, 2:6, 2:6] = 1  # the mother, frames 0-2
    labels[3:5, 2:5, 2:5] = 2  # daughters from frame 3
    labels[3:5, 10:14, 10:14] = 3
    lineage = Lineage()
    lineage.start(1, 0)
    for f in (1, 2):
        lineage.seen(1, f)
    lineage.end(1, 2)
    for d in (2, 3):
        lineage.start(d, 3, parent=1)
        lineage.seen(d, 4)
    assert lineage.check_against(labels) == []
    assert lineage.graph() == {2: [1], 3: [1]} and lineage.children(1) == [2, 3]
    labels[4, 10:14, 10:14] = 0  # daughter 3 vanished from the labels
    assert lineage.check_against(labels) == ["track 3: frames [3]… not 3..4"]
    with pytest.raises(Sam2InputError, match="exists already"):
        lineage.start(2, 4)
    assert Lineage.from_dict(lineage.as_dict()).as_dict() == lineage.as_dict()


def test_rule_no_track_divides_on_the_frame_it_starts():
    """A cell joining the run (a click, a seed) on frame 3 may not divide on frame 3: her
    track would end before it began."""
    rules = LinkingRules()
    assert not rules.may_divide(3, 3, has_parent=False)
    assert rules.may_divide(3, 4, has_parent=False)  # a seed may be anywhere in her cycle
    assert not rules.may_divide(3, 4, has_parent=True)  # a daughter waits a cell cycle
    assert rules.may_divide(3, 3 + rules.min_cycle_frames, has_parent=True)
