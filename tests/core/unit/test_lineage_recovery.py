"""The population rules recover a known lineage when the masks follow the cells.

A linking-rules test, not a tracking test: SAM 2's propagation is replaced by an *oracle*
that, for each tracked object, returns the ground-truth cells its previous mask overlaps
(both daughters, as one mask, right after a division; nothing once the cell is gone): the
"covers" oracle of ``benchmarks/division_scenes.py``, shared with the division harness.
What runs for real is everything that decides from masks: :class:`PopulationTracker`'s
ends, divisions and new cells from a label seeder given the ground truth on every frame,
the lineage, and the Cell Tracking Challenge export, scored by py-ctcmetrics against the
ground truth. That SAM 2's masks follow cells needs real weights (tests/core/integration/
test_real_weights.py); the mechanics with the real model are in test_population.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.division_scenes import ground_truth_folder, run_on_oracle

from napari_sam2.core.ctc import write_ctc
from napari_sam2.core.population import PopulationOptions
from tests.helpers import known_population

pytest.importorskip("ctc_metrics")


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
