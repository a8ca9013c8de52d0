"""A tracking session's history, and its replay: what makes napari's labels repeatable.

napari records every step that changed the session or its labels, in order: the prompts the
session was given (each object's clicks and box on a frame), mask prompts, objects removed,
and each run's passes with the frames they reached (a cancelled run stops early; a resumed
run starts where it stopped). A setting that changes what the model sees (contrast limits, a
region, the model) opens a new :class:`Segment`. Each step also says whether its labels are
still in the layer: a step undone with Ctrl-Z changed the session but not the labels.

:func:`replay` repeats the history on a fresh session and label stack, writing by the same
overlap rule (:class:`~napari_sam2.core.labels.LabelMerger`): ``napari-sam2 track`` gives
napari's labels pixel for pixel. What a history cannot hold (hand painting, population runs,
lineage corrections) is named in :attr:`SessionHistory.unreplayable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import Sam2InputError
from .labels import LabelMerger, erase_object

HISTORY_VERSION = 1


@dataclass
class Segment:
    """A new session: ``settings`` are ``track`` options (axis, hold, contrast_limits, roi,
    model, model_config, fill_hole_area)."""

    settings: dict

    kind = "segment"


@dataclass
class PromptStep:
    """The session took these prompts for ``object`` on ``frame`` (none: they were removed).

    ``write``: the result went into the labels (a preview); prompts re-sent before a run
    are not written (the run writes that frame)."""

    object: int
    frame: int
    points: list = field(default_factory=list)  # [y, x, positive] in click order
    box: list | None = None  # [y0, x0, y1, x1]
    write: bool = True
    applied: bool = True

    kind = "prompts"


@dataclass
class MaskStep:
    """A mask prompt (a painted slice); the mask is ``masks[index]`` of the history."""

    object: int
    frame: int
    index: int
    applied: bool = True

    kind = "mask"


@dataclass
class RemoveStep:
    object: int
    applied: bool = True

    kind = "remove"


@dataclass
class RunStep:
    """A propagation: ``passes`` of ``{"direction", "start", "frame_range", "frames"}`` (how
    many frames the pass wrote) over ``objects``."""

    objects: list[int]
    passes: list[dict] = field(default_factory=list)
    applied: bool = True

    kind = "run"


STEPS = {cls.kind: cls for cls in (Segment, PromptStep, MaskStep, RemoveStep, RunStep)}


@dataclass
class SessionHistory:
    steps: list = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    unreplayable: list[str] = field(default_factory=list)  # what the labels hold that no step repeats

    def as_dict(self) -> dict:
        return {
            "version": HISTORY_VERSION,
            "steps": [{"kind": step.kind, **asdict(step)} for step in self.steps],
            "unreplayable": list(self.unreplayable),
        }

    @classmethod
    def from_dict(cls, payload: dict, masks=()) -> SessionHistory:
        try:
            if payload.get("version") != HISTORY_VERSION:
                raise ValueError(f"version {payload.get('version')!r}")
            steps = [STEPS[row["kind"]](**{k: v for k, v in row.items() if k != "kind"}) for row in payload["steps"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Sam2InputError(f"The session history is not one napari-sam2 wrote ({exc}).") from None
        if not steps or not isinstance(steps[0], Segment):
            raise Sam2InputError("The session history does not start with its settings.")
        needed = [s.index for s in steps if isinstance(s, MaskStep)]
        if needed and max(needed) >= len(masks):
            raise Sam2InputError("The session history names mask prompts that are not in its masks file.")
        return cls(steps, list(masks), list(payload.get("unreplayable", [])))

    @property
    def settings(self) -> list[dict]:
        return [s.settings for s in self.steps if isinstance(s, Segment)]


class PlaneStore(Protocol):
    """The label stack being written (the CLI's output file): one 2-D plane per frame."""

    def read_frame(self, frame: int) -> np.ndarray: ...
    def write_frame(self, frame: int, plane: np.ndarray) -> None: ...


def replay(
    history: SessionHistory,
    *,
    open_session: Callable[[dict], Any],
    labels: PlaneStore,
    n_frames: int,
    merger: LabelMerger | None = None,
) -> Iterator[int]:
    """Repeat ``history`` into ``labels``; yields each frame written (progress, stopping).

    ``open_session(settings)`` returns a fresh :class:`~napari_sam2.core.session.TrackingSession`
    for a segment's settings.
    """
    merger = merger or LabelMerger()
    session = None
    for step in history.steps:
        if isinstance(step, Segment):
            if session is not None:
                session.close()
            session = open_session(step.settings)
        elif isinstance(step, RemoveStep):
            yield from _remove(session, step, labels, merger, n_frames)
        elif isinstance(step, RunStep):
            yield from _run(session, step, labels, merger)
        else:
            yield from _prompt(session, step, labels, merger, history.masks)


def _write(labels: PlaneStore, merger: LabelMerger, result, applied: bool) -> Iterator[int]:
    plane = merger.merge(labels.read_frame(result.frame), result)  # the scores follow even if undone
    if applied:
        labels.write_frame(result.frame, plane)
        yield result.frame


def _prompt(session, step, labels, merger, masks) -> Iterator[int]:
    from .prompts import Point

    if isinstance(step, MaskStep):
        full = np.zeros(session.source.full_frame_shape, bool)
        roi = session.source.roi
        full[roi.y0 : roi.y1, roi.x0 : roi.x1] = masks[step.index]
        yield from _write(labels, merger, session.add_mask(step.object, step.frame, full), step.applied)
        return
    points = [Point(float(y), float(x), bool(p)) for y, x, p in step.points]
    box = tuple(float(v) for v in step.box) if step.box is not None else None
    result = session.set_prompts(step.object, step.frame, points=points, box=box)
    if not step.write:
        return
    if result is None:  # prompts removed: the object's pixels on that frame go
        merger.cleared(step.object, step.frame)
        if step.applied:
            labels.write_frame(step.frame, erase_object(labels.read_frame(step.frame), step.object))
            yield step.frame
        return
    yield from _write(labels, merger, result, step.applied)


def _remove(session, step: RemoveStep, labels, merger, n_frames: int) -> Iterator[int]:
    if step.object in session.object_ids:
        session.remove_object(step.object)
    merger.forget(step.object)
    if not step.applied:
        return
    for frame in range(n_frames):
        plane = labels.read_frame(frame)
        if (plane == step.object).any():
            labels.write_frame(frame, erase_object(plane, step.object))
            yield frame


def _run(session, step: RunStep, labels, merger) -> Iterator[int]:
    for done in step.passes:
        if not done["frames"]:
            continue
        frame_range = tuple(done["frame_range"]) if done["frame_range"] is not None else None
        results = session.propagate(
            done["direction"], objects=step.objects, start=done["start"], frame_range=frame_range
        )
        try:
            for _, result in zip(range(done["frames"]), results):
                yield from _write(labels, merger, result, step.applied)
        finally:
            results.close()
