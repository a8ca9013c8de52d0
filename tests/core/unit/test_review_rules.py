"""The review's rules on synthetic label stacks (ground-truth populations with mistakes put in).

No model: these prove the rules that rank mistakes from masks, on label stacks built by
``benchmarks/review_scenes.py`` (cells that move, grow, divide, enter and leave) and on
hand-drawn discs. The recall and false-alarm figures over many scenes are a benchmark row
(``benchmarks/review_row.py``, docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.review_scenes import KINDS, found_at, inject, population

from napari_sam2.core.review import review
from napari_sam2.core.review.ranking import LISTED


@pytest.fixture(scope="module")
def scene():
    return population(cells=24, frames=36, size=288, seed=11, divisions=4)


def test_clean_labels_with_their_divisions_and_border_traffic_give_almost_nothing(scene):
    cell_frames = sum(len(np.unique(p)) - 1 for p in scene.labels)
    with_lineage = review(scene.labels, parents=scene.parents)
    inferred = review(scene.labels)  # labels from another tool: divisions are inferred
    assert len(with_lineage) * 1000 / cell_frames <= 2, [i.reason for i in with_lineage]
    assert len(inferred) * 1000 / cell_frames <= 2, [i.reason for i in inferred]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_mistake_is_among_the_first_items(scene, kind):
    for seed in range(3):  # a mistake needs a cell it can be made on; try a few places
        labels, parents, made = inject(scene, [kind], seed=seed)
        if made:
            break
    assert made, f"no place to make a {kind}"
    for given in (parents, None):
        items = review(labels, parents=given)
        assert found_at(items, made[0], 3), (kind, made, [i.reason for i in items[:5]])
        assert all(i.score >= LISTED for i in items)


def _discs(frames: int, size: int, centres: dict[int, list[tuple[int, int]]], radius: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((frames, size, size), np.uint16)
    for cell, path in centres.items():
        for t, centre in enumerate(path):
            if centre is not None:
                out[t][(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2] = cell
    return out


def test_two_cells_trading_places_is_one_swap_item_naming_both():
    a = [(40, 30 + 2 * t) for t in range(10)]
    b = [(40, 60 + 2 * t) for t in range(10)]
    labels = _discs(10, 100, {1: a[:5] + b[5:], 2: b[:5] + a[5:]})
    items = review(labels)
    assert [(i.kind, set(i.cells), i.frame) for i in items] == [("swap", {1, 2}, 5)]


def test_a_cell_leaving_at_the_border_is_not_flagged_but_one_vanishing_inside_is():
    leaving = [(50, 80 + 6 * t) for t in range(8)]  # out of the 100-pixel frame by frame 4
    vanishing = [(30, 30)] * 4 + [None] * 4
    steady = [(75, 30)] * 8
    labels = _discs(8, 100, {1: leaving, 2: vanishing, 3: steady})
    items = review(labels)
    assert [(i.kind, i.cell, i.frame) for i in items] == [("end_inside", 2, 3)]


def test_a_division_is_not_a_mistake_with_its_lineage_or_without_it():
    mother = [(50, 50)] * 5 + [None] * 5
    left = [None] * 5 + [(50, 42 - t) for t in range(5)]
    right = [None] * 5 + [(50, 58 + t) for t in range(5)]
    labels = _discs(10, 100, {1: mother, 2: left, 3: right}, radius=7)
    assert review(labels, parents={1: 0, 2: 1, 3: 1}) == []
    assert review(labels) == []  # the daughters start inside the mother's last mask


def test_an_absent_frame_between_present_ones_is_flicker_and_object_scores_add_evidence():
    path = [(50, 50)] * 3 + [None] + [(50, 50)] * 4
    labels = _discs(8, 100, {1: path, 2: [(20, 20)] * 8})
    items = review(labels)
    assert [(i.kind, i.cell, i.frame) for i in items] == [("flicker", 1, 3)]
    scores = {t: {1: 5.0, 2: 5.0} for t in range(8)} | {3: {1: -2.0, 2: 5.0}, 6: {1: 5.0, 2: 0.5}}
    scored = review(labels, scores=scores)
    assert scored[0].cell == 1 and scored[0].score > items[0].score
    assert ("score_drop", 2, 6) in [(i.kind, i.cell, i.frame) for i in scored]


def test_the_review_reads_one_frame_at_a_time():
    labels = _discs(6, 80, {1: [(40, 40)] * 6})

    class OneFrame:  # refuses anything but one frame, as a lazy label file does
        reads = 0

        def __len__(self):
            return len(labels)

        def __getitem__(self, t):
            assert isinstance(t, int)
            OneFrame.reads += 1
            return labels[t]

    done = []
    assert review(OneFrame(), progress=lambda i, n: done.append((i, n))) == []
    assert OneFrame.reads == 6 and done[-1] == (6, 6)
