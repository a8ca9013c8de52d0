"""Glue shared by the CLI and the plugin: prompts into a session, provenance out.

``validate_prompts`` checks prompt files against the stack *before* a model is loaded,
so a typo costs a second rather than a model download. ``apply_prompts`` groups rows by
object and frame and hands each group to the session in one call (SAM 2 needs one
forward call per object and frame). ``provenance`` gathers what is needed to rerun.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections import defaultdict
from typing import Any

from .errors import Sam2InputError
from .frames import FrameSource
from .io import BoxRow, PointRow
from .session import Point, TrackingSession, box_corners


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


def group_prompts(points: list[PointRow], boxes: list[BoxRow]) -> dict[tuple[int, int], dict[str, Any]]:
    """Rows grouped by ``(object_id, frame)``: ``{"points": [...], "box": ...}``; one box per group."""
    grouped: dict[tuple[int, int], dict[str, Any]] = defaultdict(lambda: {"points": [], "box": None})
    for p in points:
        grouped[(p.object_id, p.frame)]["points"].append(Point(p.y, p.x, p.positive))
    for b in boxes:
        if grouped[(b.object_id, b.frame)]["box"] is not None:
            raise Sam2InputError(f"Object {b.object_id} has more than one box on frame {b.frame}.")
        grouped[(b.object_id, b.frame)]["box"] = (b.y0, b.x0, b.y1, b.x1)
    return dict(grouped)


def apply_prompts(session: TrackingSession, points: list[PointRow], boxes: list[BoxRow]) -> None:
    """Give every (object, frame) group of prompts to ``session``."""
    for (obj_id, frame), group in sorted(group_prompts(points, boxes).items()):
        session.set_prompts(obj_id, frame, points=group["points"], box=group["box"])


def prompt_rows(session: TrackingSession) -> tuple[list[PointRow], list[BoxRow]]:
    """The session's point and box prompts as CSV rows (mask prompts are not exported)."""
    points, boxes = [], []
    for obj_id, frames in session.prompts().items():
        for frame, prompts in frames.items():
            points += [PointRow(obj_id, frame, p.y, p.x, p.positive) for p in prompts.points]
            if prompts.box is not None:
                boxes.append(BoxRow(obj_id, frame, *prompts.box))
    return points, boxes


def provenance(
    *,
    session: TrackingSession,
    settings: dict[str, Any],
    frames_done: list[int],
    complete: bool,
    status: str = "complete",
) -> dict[str, Any]:
    """Everything needed to rerun a tracking job and judge its result."""
    from .. import __version__

    points, boxes = prompt_rows(session)
    loaded = session.loaded
    return {
        "napari_sam2_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": status,
        "complete": complete,
        "random_weights": loaded.is_random,
        "warning": "random weights: these masks are meaningless" if loaded.is_random else None,
        "model": loaded.describe(),
        "input": session.source.describe(),
        "settings": settings,
        "fill_hole_area": session.fill_hole_area,
        "prompts": {
            "points": [p.__dict__ for p in points],
            "boxes": [b.__dict__ for b in boxes],
            "masks": [
                {"object_id": o, "frame": f}
                for o, frames in session.prompts().items()
                for f, pr in frames.items()
                if pr.mask is not None
            ],
        },
        "frames_done": sorted(frames_done),
        "scores": {
            str(frame): {str(o): round(s, 4) for o, s in sorted(per.items())}
            for frame, per in sorted(session.scores.items())
        },
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
    }
