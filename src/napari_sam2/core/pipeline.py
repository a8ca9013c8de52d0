"""Glue shared by the CLI and the plugin: prompts into a session, provenance out.

``validate_prompts`` checks prompt files against the stack *before* a model is loaded,
so a typo costs a second rather than a model download. ``apply_prompts`` groups rows by
object and frame into :class:`~napari_sam2.core.session.PromptGroup` s (the session keeps
each as a ``FramePrompts``, a ``PromptGroup`` that may also hold a mask) and hands each
group to the session in one call.
``provenance`` gathers what is needed to rerun.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from typing import Any

from .errors import Sam2InputError
from .frames import FrameSource
from .io import BoxRow, PointRow
from .session import Point, PromptGroup, TrackingSession, box_corners


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


def apply_prompts(session: TrackingSession, points: list[PointRow], boxes: list[BoxRow]) -> None:
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


def session_groups(session: TrackingSession) -> Groups:
    """The session's point and box prompts (mask prompts are not exported)."""
    return {
        (obj_id, frame): PromptGroup(list(prompts.points), prompts.box)
        for obj_id, frames in session.prompts().items()
        for frame, prompts in frames.items()
    }


def session_masks(session: TrackingSession) -> list[tuple[int, int]]:
    """``(object id, frame)`` of every mask prompt."""
    return [(o, f) for o, frames in session.prompts().items() for f, pr in frames.items() if pr.mask is not None]


def track_options(source: FrameSource, *, model: str, fill_hole_area: int) -> dict[str, Any]:
    """The ``napari-sam2 track`` options under which the CLI sees what ``source`` shows the
    model (axis, held indices, contrast limits, region), with the model and hole filling."""
    roi = source.roi
    whole = (roi.y0, roi.x0, roi.y1, roi.x1) == (0, 0, *source.full_frame_shape)
    contrast = None if source.is_uint8 or source.contrast_limits is None else source.contrast_limits
    return {
        "axis": source.frame_axis,
        "hold": [f"{axis}={index}" for axis, index in sorted(source.held.items())],
        "contrast_limits": None if contrast is None else [float(v) for v in contrast],
        "roi": None if whole else [roi.y0, roi.x0, roi.y1, roi.x1],
        "model": model,
        "model_config": None,
        "fill_hole_area": int(fill_hole_area),
    }


@dataclass(frozen=True)
class RunRecord:
    """What a provenance record says about the model and input: copied off a session, so
    the plugin's main thread can write a record without touching the worker's session."""

    model: dict[str, Any]
    random_weights: bool
    input: dict[str, Any]
    fill_hole_area: int

    @classmethod
    def of(cls, session: TrackingSession) -> RunRecord:
        loaded = session.loaded
        return cls(loaded.describe(), bool(loaded.is_random), session.source.describe(), session.fill_hole_area)


def provenance(
    *,
    session: TrackingSession,
    settings: dict[str, Any],
    frames_done: list[int],
    complete: bool,
    status: str = "complete",
) -> dict[str, Any]:
    """Everything needed to rerun a tracking job and judge its result."""
    return provenance_record(
        record=RunRecord.of(session),
        groups=session_groups(session),
        masks=session_masks(session),
        scores=session.scores,
        settings=settings,
        frames_done=frames_done,
        complete=complete,
        status=status,
    )


def provenance_record(
    *,
    record: RunRecord,
    groups: Groups,
    masks: list[tuple[int, int]],
    scores: dict[int, dict[int, float]],
    settings: dict[str, Any],
    frames_done: list[int],
    complete: bool,
    status: str = "complete",
) -> dict[str, Any]:
    """:func:`provenance` from copies of what a session holds."""
    from .. import __version__

    points, boxes = rows_from_groups(groups)
    return {
        "napari_sam2_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": status,
        "complete": complete,
        "random_weights": record.random_weights,
        "warning": "random weights: these masks are meaningless" if record.random_weights else None,
        "model": record.model,
        "input": record.input,
        "settings": settings,
        "fill_hole_area": record.fill_hole_area,
        "prompts": {
            "points": [p.__dict__ for p in points],
            "boxes": [b.__dict__ for b in boxes],
            "masks": [{"object_id": o, "frame": f} for o, f in sorted(masks)],
        },
        "frames_done": sorted(frames_done),
        "scores": {
            str(frame): {str(o): round(s, 4) for o, s in sorted(per.items())} for frame, per in sorted(scores.items())
        },
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
    }
