"""How a job ends: the exit status of ``track`` and ``batch``, and what a stack's run did."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """The exit statuses of ``napari-sam2 track`` and ``batch`` (README, *Exit status*)."""

    DONE = 0  # every frame tracked (track); every stack done or skipped (batch)
    FAILED = 1  # a file failed while working, an unusable installation, a bug; a stack failed otherwise
    USER_ERROR = 2  # bad input, found before anything was written; only user errors (batch)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: finished frames kept


@dataclass(frozen=True)
class TrackOutcome:
    """How one stack's run ended."""

    code: ExitStatus
    frames_done: int
    frames: int  # in the stack
    status: str  # complete, interrupted, or failed: <reason>
    review_items: int | None = None  # places to look in LABELS_review.csv (None: no review)
