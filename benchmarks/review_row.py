"""Benchmark row: how well the review queue finds the tracker's mistakes, and how fast.

Synthetic populations with ground truth (``review_scenes.py``: 50 cells x 60 frames of
400², divisions with daughters born touching, cells entering and leaving) get 10 mistakes
each, of every kind in turn; the review runs on the corrupted labels, with the lineage
given (as from our sidecar or a CTC folder) and without it (labels from another tool).
Recall at K: the share of mistakes named by one of the first K items (a cell involved,
within 2 frames). False alarms: items on the clean labels, per 1,000 cell-frames. Also the
present quality flags (``core/quality.py``) on the same labels, and the time per 100
cell-frames. No model.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.review_scenes import KINDS, found_at, inject, population  # noqa: E402


def row_review(args=None, scenes: int = 6) -> list[dict]:
    from napari_sam2.core.quality import quality_flags
    from napari_sam2.core.review import review

    hits = {mode: {10: Counter(), 20: Counter()} for mode in ("lineage", "inferred")}
    made, false_alarms, cell_frames, seconds, old_flags = Counter(), 0, 0, 0.0, 0
    for seed in range(scenes):
        scene = population(cells=50, frames=60, size=400, seed=seed)
        frames = sum(len(np.unique(p)) - 1 for p in scene.labels)
        t0 = time.perf_counter()
        false_alarms += len(review(scene.labels, parents=scene.parents))
        seconds += time.perf_counter() - t0
        cell_frames += frames
        false_alarms += len(review(scene.labels))
        cell_frames += frames
        kinds = [KINDS[(seed * 10 + k) % len(KINDS)] for k in range(10)]
        labels, parents, injected = inject(scene, kinds, seed=seed)
        made.update(e.kind for e in injected)
        for mode, given in (("lineage", parents), ("inferred", None)):
            items = review(labels, parents=given)
            for k in (10, 20):
                hits[mode][k].update(e.kind for e in injected if found_at(items, e, k))
        old_flags += len(quality_flags({}))  # the present flags read SAM 2's scores only; labels carry none
    total = sum(made.values())
    per_kind = {
        kind: {f"{mode}@{k}": f"{hits[mode][k][kind]}/{made[kind]}" for mode in hits for k in (10, 20)}
        for kind in KINDS
    }
    recall20 = sum(hits["lineage"][20].values()) / total
    alarms = 1000 * false_alarms / cell_frames
    return [
        {
            "metric": f"review recall@20 over {scenes} scenes x 10 injected mistakes (lineage given; inferred)",
            "value": round(recall20, 3),
            "unit": "share",
            "target": ">= 0.9, every kind in the top 20",
            "ok": recall20 >= 0.9 and all(hits["lineage"][20][k] for k in KINDS),
            "details": {
                "recall@10 lineage": round(sum(hits["lineage"][10].values()) / total, 3),
                "recall@10 inferred": round(sum(hits["inferred"][10].values()) / total, 3),
                "recall@20 inferred": round(sum(hits["inferred"][20].values()) / total, 3),
                "per kind": per_kind,
                "present quality flags on the same labels": old_flags,
            },
        },
        {
            "metric": "review false alarms on clean labels (with lineage and inferred)",
            "value": round(alarms, 2),
            "unit": "/1000 cell-frames",
            "target": "<= 2",
            "ok": alarms <= 2,
            "details": {"items": false_alarms, "cell_frames": cell_frames},
        },
        {
            "metric": "review time per 100 cell-frames (50 cells x 60 frames of 400², one lazy pass)",
            "value": round(100 * seconds / (cell_frames / 2), 3),
            "unit": "s",
            "target": "well under 1 s",
            "ok": seconds / (cell_frames / 2) < 0.01,
        },
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(row_review(), indent=1))
