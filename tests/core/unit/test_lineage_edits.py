"""The user's corrections of a lineage: a division marked by hand, a division undone, two
tracks joined. Each edit says how the labels change; applied to the labels, the result is
a valid Cell Tracking Challenge export (py-ctcmetrics' validator) that agrees with the
lineage."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.ctc import write_ctc
from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.lineage import Lineage

SHAPE = (48, 64)


def disk(cy, cx, r):
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def automatic_result():
    """What a run gave: cell 1 (frames 0-3) divided into 2 and 3 on frame 4 (a fragment
    wrongly taken for a division); cell 5 lost on frame 5, found again as cell 6 on frame 7."""
    labels, lineage = np.zeros((9, *SHAPE), np.uint16), Lineage()
    for t in range(9):
        if t < 4:
            labels[t][disk(15, 15, 7)] = 1
        else:
            labels[t][disk(15, 15, 7) & ~disk(22, 15, 3)] = 2
            labels[t][disk(22, 15, 3)] = 3
        if t <= 5:
            labels[t][disk(35, 45, 6)] = 5
        if t >= 7:
            labels[t][disk(36, 47, 6)] = 6
    for track, first, last, parent in [(1, 0, 3, 0), (2, 4, 8, 1), (3, 4, 8, 1), (5, 0, 5, 0), (6, 7, 8, 0)]:
        lineage.start(track, first, parent)
        lineage.end(track, last)
    return labels, lineage


def relabelled(labels, relabel):
    return np.stack([relabel.apply(plane, t) for t, plane in enumerate(labels)])


def valid_ctc(tmp_path, name, labels, lineage) -> bool:
    from ctc_metrics.scripts.validate import validate_sequence

    return validate_sequence(str(write_ctc(tmp_path / name, labels, lineage)), threads=1)["Valid"] == 1


def test_undoing_a_division_gives_the_daughters_pixels_back_to_the_mother(tmp_path):
    pytest.importorskip("ctc_metrics")
    labels, lineage = automatic_result()
    relabel = lineage.undo_division(3)  # from either daughter (or the mother)
    after = relabelled(labels, relabel)
    assert set(lineage.tracks) == {1, 5, 6} and (lineage.tracks[1].first, lineage.tracks[1].last) == (0, 8)
    assert (after[4:] == 1).sum() == ((labels[4:] == 2) | (labels[4:] == 3)).sum()
    assert (after[:4] == labels[:4]).all()  # frames before the division are untouched
    assert lineage.check_against(after) == []
    assert valid_ctc(tmp_path, "undone", after, lineage)


def test_joining_two_tracks_makes_one_cell_across_the_gap(tmp_path):
    pytest.importorskip("ctc_metrics")
    labels, lineage = automatic_result()
    relabel = lineage.join(5, 6)
    after = relabelled(labels, relabel)
    assert 6 not in lineage.tracks and (lineage.tracks[5].first, lineage.tracks[5].last) == (0, 8)
    assert not (after == 6).any() and (after[7] == 5).any()
    assert valid_ctc(tmp_path, "joined", after, lineage)  # the gap on frame 6: a CTC track of its own
    with pytest.raises(Sam2InputError, match="must start after cell 2 ends"):
        lineage.join(2, 3)  # sisters live side by side: one cannot continue the other
    assert lineage.tracks[3].parent == 1 and 3 in lineage.tracks  # a refused edit changes nothing


def test_joining_a_daughter_to_her_mother_leaves_her_sister_without_a_parent(tmp_path):
    pytest.importorskip("ctc_metrics")
    labels, lineage = automatic_result()
    after = relabelled(labels, lineage.join(1, 2))
    assert lineage.tracks[1].last == 8 and lineage.tracks[3].parent == 0
    assert lineage.check_against(after) == []
    assert valid_ctc(tmp_path, "joined", after, lineage)


def test_a_division_marked_by_hand_ends_the_mother_and_drops_her_later_descendants():
    labels, lineage = automatic_result()
    lineage.undo_division(1)  # the fragment was not a division ...
    relabel = lineage.divide(1, 6, (7, 8))  # ... the real one is on frame 6
    assert (lineage.tracks[1].first, lineage.tracks[1].last) == (0, 5)
    assert {(t.id, t.first, t.parent) for t in lineage.tracks.values() if t.parent} == {(7, 6, 1), (8, 6, 1)}
    assert relabel.first == 6 and relabel.mapping == {1: 0}  # the daughters' masks come from tracking
    lineage_again = automatic_result()[1]
    relabel = lineage_again.divide(1, 4, (7, 8))  # other daughters: the automatic ones are dropped
    assert relabel.mapping == {1: 0, 2: 0, 3: 0} and not {2, 3} & set(lineage_again.tracks)
    with pytest.raises(Sam2InputError, match="tracked on frames 0–3"):
        automatic_result()[1].divide(1, 0, (7, 8))
    with pytest.raises(Sam2InputError, match="two new ids"):
        automatic_result()[1].divide(1, 2, (5, 8))


def test_label_centres_are_the_centres_of_mass_of_each_label():
    from scipy import ndimage

    from napari_sam2.core.lineage import label_centres

    labels, _ = automatic_result()
    plane = labels[5]
    found = label_centres(plane)
    ids = sorted(int(i) for i in np.unique(plane) if i)
    assert sorted(found) == ids
    for i, centre in zip(ids, ndimage.center_of_mass(np.ones(plane.shape), plane, ids)):
        assert np.allclose(found[i], centre)
    assert label_centres(np.zeros((4, 4), np.uint16)) == {}
