"""The passes of a propagation: which frames, in which order, in which direction.

Needs no model, so the command line checks a run with it before loading one. *Both* is the
reference order: a forward pass, then a backward pass, each from the start frame.
"""

from __future__ import annotations

from .errors import Sam2InputError

DIRECTIONS = ("forward", "backward", "both")


def plan_passes(
    n_frames: int, direction: str, *, start: int, frame_range: tuple[int, int] | None = None
) -> list[tuple[bool, range]]:
    """The passes ``(reverse, frames)`` of a propagation over ``n_frames``; user errors raise.

    Needs no model, so the CLI checks a run with it before loading one.
    """
    if direction not in DIRECTIONS:
        raise Sam2InputError(f"Direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}.")
    first, last = (0, n_frames - 1) if frame_range is None else (int(frame_range[0]), int(frame_range[1]))
    for what, frame in (("first frame of the range", first), ("last frame of the range", last), ("start frame", start)):
        if not 0 <= frame < n_frames:
            raise Sam2InputError(f"The {what}, {frame}, does not exist; the stack has frames 0 to {n_frames - 1}.")
    if first > last:
        raise Sam2InputError(f"The frame range {first}..{last} is empty; the first frame must come first.")
    if not first <= start <= last:
        raise Sam2InputError(f"The start frame {start} is outside the frame range {first}..{last}.")
    if direction == "backward" and start == first:
        raise Sam2InputError(
            f"Tracking backward from frame {start} tracks nothing: it is the first frame"
            f"{' of the range' if first else ''}. Track forward, or start from a later frame."
        )
    passes = []
    if direction in ("forward", "both"):
        passes.append((False, range(start, last + 1)))
    if direction in ("backward", "both") and start > first:
        passes.append((True, range(start, first - 1, -1)))
    return passes
