"""The review queue: where the tracker most likely went wrong, ranked for the biologist.

SAM 2 tracks well but not perfectly, and checking every cell on every frame by eye is the
slowest part of getting a trusted lineage. The review reads a result and lists the few
places worth a look, each with a one-line reason.

* :mod:`.measures`: one lazy pass over the label frames measures each cell on each frame
  (area, centre, overlap with the frame before, pieces, contact with neighbours);
* :mod:`.signs`: rules on those measures (area and position jumps, identity switches,
  swaps, merges, splits, blobs, flicker, outline jitter) and on the run's object scores;
* :mod:`.events`: rules on the lineage (ends and starts away from the border, short tracks,
  odd divisions), with the lineage inferred from the labels when none is given;
* :mod:`.ranking`: signs on one place merged into one :class:`ReviewItem` and ranked;
* :mod:`.results`: a label TIFF (with its sidecar or without) or a CTC folder opened for
  the review, and the ``review.csv`` written from it.

No napari and no model: it runs on labels from any tool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .events import lineage_signs, spans
from .measures import Measures, measure
from .ranking import ReviewItem, rank
from .signs import Sign, shape_signs

__all__ = ["ReviewItem", "Sign", "review", "review_measures"]


def review(
    labels: Sequence,
    *,
    scores: dict[int, dict[int, float]] | None = None,
    parents: dict[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ReviewItem]:
    """The review queue of a label stack (frames first), best first.

    ``scores``: the run's ``frame -> cell -> object score`` (the sidecar's), when known;
    ``parents``: ``cell -> parent`` of the lineage (0: none), or ``None`` to infer
    divisions from the labels; ``progress(done, total)`` after each frame read.
    """
    total = len(labels)

    def frames():
        for t in range(total):
            yield labels[t]
            if progress is not None:
                progress(t + 1, total)

    return review_measures(measure(frames()), scores=scores, parents=parents)


def review_measures(
    measures: Measures,
    *,
    scores: dict[int, dict[int, float]] | None = None,
    parents: dict[int, int] | None = None,
) -> list[ReviewItem]:
    """The queue from measures already taken (the plugin re-measures only what changed)."""
    signs = shape_signs(measures) + lineage_signs(measures, spans(measures, parents))
    signs += _score_signs(scores or {})
    return rank(signs)


def _score_signs(scores: dict[int, dict[int, float]]) -> list[Sign]:
    from ..quality import quality_flags

    out = []
    for flag in quality_flags(scores):
        if flag.reason == "lost":
            out.append(Sign("lost", flag.object_id, flag.frame, 0.6, f"SAM 2 scored it absent ({flag.score:.1f})"))
        else:
            out.append(Sign("score_drop", flag.object_id, flag.frame, 0.5,
                            f"SAM 2's confidence fell to {flag.score:.1f}"))  # fmt: skip
    return out
