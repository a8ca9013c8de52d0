"""The population rules recover a known lineage when the masks follow the cells.

A linking-rules test, not a tracking test: SAM 2's propagation is replaced by an *oracle*
that, for each tracked object, returns the ground-truth cells its previous mask overlaps
(both daughters, as one mask, right after a division; nothing once the cell is gone).
What runs for real is everything that decides from masks: :class:`PopulationTracker`'s
ends, divisions and new cells from a label seeder given the ground truth on every frame,
the lineage, and the Cell Tracking Challenge export, scored by py-ctcmetrics against the
ground truth. That SAM 2's masks follow cells needs real weights (tests/core/integration/
test_real_weights.py); the mechanics with the real model are in test_population.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from napari_sam2.core.ctc import write_ctc
from napari_sam2.core.frames import Roi
from napari_sam2.core.labels import merge_result
from napari_sam2.core.population import PopulationOptions, PopulationTracker
from napari_sam2.core.seeders import seeds_from_labels
from napari_sam2.core.session import FrameResult
from tests.helpers import POPULATION_SHAPE as SHAPE
from tests.helpers import known_population

pytest.importorskip("ctc_metrics")


class _Source:
    roi, full_frame_shape = Roi(0, 0, *SHAPE), SHAPE

    def __len__(self) -> int:
        return 15


class OracleSession:
    """Stands in for SAM 2's propagation (see the module docstring): an object's mask on the
    next frame is every ground-truth cell that overlaps its mask on the frame before."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        self.masks: dict[int, np.ndarray] = {}
        self.prompted: dict[int, dict[int, bool]] = {}
        self.source = _Source()

    object_ids = property(lambda self: list(self.masks))

    def prompts(self):
        return self.prompted

    def add_mask(self, obj, frame, mask):
        self.masks[obj] = np.asarray(mask, bool)
        self.prompted[obj] = {frame: True}
        return FrameResult(frame, [obj], self.masks[obj][None], np.array([1.0], np.float32), self.source.roi)

    def limit_object(self, obj, *, first=None, last=None):
        pass

    def propagate(self, direction, *, objects, start, frame_range):
        plane = self.truth[start]
        masks, scores = [], []
        for obj in objects:
            ids = [i for i in np.unique(plane[self.masks[obj]]) if i]
            mask = np.isin(plane, [i for i in ids if (plane[self.masks[obj]] == i).sum() >= 0.3 * (plane == i).sum()])
            if mask.any():
                self.masks[obj] = mask
            masks.append(mask)
            scores.append(1.0 if mask.any() else -1.0)
        yield FrameResult(start, list(objects), np.array(masks), np.array(scores, np.float32), self.source.roi)


def ground_truth_folder(tmp_path, gt, truth) -> None:
    """``tmp_path/01_GT/TRA``: the truth in the CTC's ground-truth layout."""
    truth_folder = write_ctc(tmp_path / "truth", gt, truth)
    (tmp_path / "01_GT" / "TRA").mkdir(parents=True)
    for mask in truth_folder.glob("mask*.tif"):
        shutil.copy(mask, tmp_path / "01_GT" / "TRA" / mask.name.replace("mask", "man_track"))
    shutil.copy(truth_folder / "res_track.txt", tmp_path / "01_GT" / "TRA" / "man_track.txt")


def run_on_oracle(gt, options):
    """The population run on the oracle's masks, the truth as the label seeder on every frame."""
    tracker = PopulationTracker(OracleSession(gt), detect=lambda frame: gt[frame], options=options)
    labels = np.zeros_like(gt)
    tracker.add_seeds(0, seeds_from_labels(gt[0]))
    for result in tracker.run(0):
        merge_result(labels[result.frame], result)
    return tracker, labels


def test_linking_rules_recover_a_known_lineage_from_masks_that_follow_the_cells(tmp_path):
    from ctc_metrics.scripts.evaluate import evaluate_sequence
    from ctc_metrics.scripts.validate import validate_sequence

    gt, truth = known_population()
    ground_truth_folder(tmp_path, gt, truth)

    tracker, labels = run_on_oracle(gt, PopulationOptions(redetect_every=1))
    assert tracker.lineage.check_against(labels) == []

    ours = write_ctc(tmp_path / "01_RES", labels, tracker.lineage)
    assert validate_sequence(str(ours), threads=1)["Valid"] == 1
    scores = evaluate_sequence(str(ours), str(tmp_path / "01_GT"), metrics=["TRA", "DET", "BC", "CT"], threads=1)
    assert scores["TRA"] == pytest.approx(1.0) and scores["DET"] == pytest.approx(1.0)
    assert scores["BC(0)"] == pytest.approx(1.0)  # both divisions, at the right frame, with the right parent
    assert scores["CT"] == pytest.approx(1.0)  # every track complete

    # The same lineage, up to ids: map each of our tracks to the truth cell it covers.
    to_truth = {t: int(np.bincount(gt[labels == t]).argmax()) for t in tracker.lineage.tracks}
    recovered = {(to_truth[t.id], t.first, t.last, to_truth.get(t.parent, 0)) for t in tracker.lineage.tracks.values()}
    assert recovered == {(t.id, t.first, t.last, t.parent) for t in truth.tracks.values()}


def test_without_the_division_rule_the_export_scores_worse(tmp_path):
    """The score above is earned by the rules: with divisions off, the mother follows both
    daughters as one mask and the branching score drops."""
    from ctc_metrics.scripts.evaluate import evaluate_sequence

    gt, truth = known_population()
    ground_truth_folder(tmp_path, gt, truth)
    tracker, labels = run_on_oracle(gt, PopulationOptions(redetect_every=1, divisions=False))
    ours = write_ctc(tmp_path / "01_RES", labels, tracker.lineage)
    scores = evaluate_sequence(str(ours), str(tmp_path / "01_GT"), metrics=["TRA", "BC"], threads=1)
    assert scores["BC(0)"] < 0.5 and scores["TRA"] < 1.0
