"""Provenance: what a tracking job ran with and what it gave, for the JSON sidecar.

:func:`provenance` gathers what is needed to rerun a job and judge its result: the model
and its revision, the input and how the model saw it, the prompts, the settings, which
frames are done and every object's score on every frame. :func:`track_options` says, as
``napari-sam2 track`` options, how a frame source shows the model its frames.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .frames import FrameSource
from .prompt_files import TRACK_OPTION_KEYS  # noqa: F401 (the keys of track_options)
from .prompts import Groups, rows_from_groups, session_groups, session_masks

if TYPE_CHECKING:
    from .session import TrackingSession


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
