"""Prompts: a click, a box, one object's prompts on one frame, and prompt rows into a session.

``validate_prompts`` checks prompt files against the stack *before* a model is loaded, so a
typo costs a second rather than a model download. ``apply_prompts`` groups rows by object
and frame into :class:`PromptGroup` s (the session keeps each as a :class:`FramePrompts`,
which may also hold a mask) and hands each group to the session in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import Sam2InputError
from .prompt_files import BoxRow, PointRow

if TYPE_CHECKING:
    from .frames import FrameSource


@dataclass(frozen=True)
class Point:
    """A click in full-frame pixel coordinates ``(y, x)``; napari's row/column order."""

    y: float
    x: float
    positive: bool = True


@dataclass
class PromptGroup:
    """The clicks (in the order given) and the box of one object on one frame."""

    points: list[Point] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None  # y0, x0, y1, x1

    def key(self) -> tuple:
        """Equal keys, equal prompts: what the plugin compares to find changed groups."""
        return (tuple(self.points), self.box)

    def is_empty(self) -> bool:
        return not self.points and self.box is None


@dataclass
class FramePrompts(PromptGroup):
    """Everything one object was given on one frame: its clicks and box, or a mask."""

    mask: np.ndarray | None = None
    #: The frame's mask logits before its first prompt (a tracked frame's), which the first
    #: click refines; kept so that the prompts can be replayed from the same start.
    base_logits: Any = None
    #: A mask given for memory only (the last good frame of a result reopened from disk):
    #: the object's masks there stay as they were, and passes do not start there.
    anchor: bool = False

    def is_empty(self) -> bool:
        return super().is_empty() and self.mask is None


def box_corners(y0: float, x0: float, y1: float, x1: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box's first and last pixel centre ``(y, x)``: boxes are half-open, so ``y1`` and
    ``x1`` may equal the frame size, and the far corner is taken just inside."""
    return (y0, x0), (y1 - 1e-3, x1 - 1e-3)


def as_point(p: Point | tuple) -> Point:
    if isinstance(p, Point):
        return p
    if len(p) == 2:
        return Point(float(p[0]), float(p[1]), True)
    return Point(float(p[0]), float(p[1]), bool(p[2]))


def validate_prompts(source: FrameSource, points: list[PointRow], boxes: list[BoxRow]) -> None:
    """Raise :class:`Sam2InputError` for any prompt the session would refuse later.

    A prompt on a missing frame or outside the image (or region), an object id too large
    for a label image, or two boxes for one object on one frame.
    """
    from .labels import label_dtype

    if not points and not boxes:
        raise Sam2InputError("No prompts were given: add at least one point or box.")
    n = len(source)
    for kind, rows in (("point", points), ("box", boxes)):
        for row in rows:
            if not 0 <= row.frame < n:
                raise Sam2InputError(
                    f"A {kind} of object {row.object_id} is on frame {row.frame}, "
                    f"but the stack has frames 0 to {n - 1}."
                )
            corners = [(row.y, row.x)] if kind == "point" else list(box_corners(row.y0, row.x0, row.y1, row.x1))
            for y, x in corners:
                source.to_roi_xy(y, x, f"A {kind} of object {row.object_id} on frame {row.frame}")
    label_dtype(max(row.object_id for row in [*points, *boxes]))
    group_prompts(points, boxes)


Groups = dict[tuple[int, int], PromptGroup]  # (object id, frame) -> its prompts


def group_prompts(points: list[PointRow], boxes: list[BoxRow]) -> Groups:
    """Rows grouped by ``(object_id, frame)``; one box per group."""
    grouped: Groups = {}
    for p in points:
        grouped.setdefault((p.object_id, p.frame), PromptGroup()).points.append(Point(p.y, p.x, p.positive))
    for b in boxes:
        group = grouped.setdefault((b.object_id, b.frame), PromptGroup())
        if group.box is not None:
            raise Sam2InputError(f"Object {b.object_id} has more than one box on frame {b.frame}.")
        group.box = (b.y0, b.x0, b.y1, b.x1)
    return grouped


def apply_prompts(session, points: list[PointRow], boxes: list[BoxRow]) -> None:
    """Give every (object, frame) group of prompts to ``session``."""
    for (obj_id, frame), group in sorted(group_prompts(points, boxes).items()):
        session.set_prompts(obj_id, frame, points=group.points, box=group.box)


def rows_from_groups(groups: Groups) -> tuple[list[PointRow], list[BoxRow]]:
    """The CSV rows of these prompts, frame by frame, each frame's clicks in their order."""
    points, boxes = [], []
    for (obj, frame), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        points += [PointRow(obj, frame, p.y, p.x, p.positive) for p in group.points]
        if group.box is not None:
            boxes.append(BoxRow(obj, frame, *group.box))
    return points, boxes


def session_groups(session) -> Groups:
    """The session's point and box prompts (mask prompts are not exported)."""
    return {
        (obj_id, frame): PromptGroup(list(prompts.points), prompts.box)
        for obj_id, frames in session.prompts().items()
        for frame, prompts in frames.items()
    }


def session_masks(session) -> list[tuple[int, int]]:
    """``(object id, frame)`` of every mask prompt."""
    return [(o, f) for o, frames in session.prompts().items() for f, pr in frames.items() if pr.mask is not None]
