"""Quality flags: frames where a tracked object is lost or its score drops sharply."""

from __future__ import annotations

from dataclasses import dataclass

#: A score (object-score logit) at or below this means "object absent".
LOST_SCORE = 0.0
#: A fall of at least this much, and at least half the previous score, is "sharp".
DROP_SCORE = 2.0


@dataclass(frozen=True)
class QualityFlag:
    frame: int
    object_id: int
    reason: str  # "lost" or "score drop"
    score: float


def quality_flags(scores: dict[int, dict[int, float]]) -> list[QualityFlag]:
    """Flags from ``frame -> object id -> score``, sorted by frame then object."""
    flags = []
    objects = sorted({o for per in scores.values() for o in per})
    for obj in objects:
        previous = None
        for frame in sorted(f for f, per in scores.items() if obj in per):
            score = scores[frame][obj]
            if score <= LOST_SCORE:
                flags.append(QualityFlag(frame, obj, "lost", score))
            elif previous is not None and previous - score >= max(DROP_SCORE, 0.5 * previous):
                flags.append(QualityFlag(frame, obj, "score drop", score))
            previous = score
    return sorted(flags, key=lambda f: (f.frame, f.object_id))
