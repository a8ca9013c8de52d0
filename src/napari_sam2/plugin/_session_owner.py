"""The model and the tracking session, owned by the worker thread alone.

The main thread never reads or writes what this holds: it submits tasks (generator
functions built here) and receives messages (:mod:`._messages`). Every method that touches
the session first checks, with an assertion (so only in debug mode, which tests use), that
it runs on a worker thread.

The owner also remembers which frames each object was tracked on since its prompts last
changed, and by which run. That lets a propagation leave objects alone that are already
tracked there (a new object propagates alone) and resume a cancelled run where it
stopped. Frames of a run the user has undone do not count: the main thread passes the
runs whose labels are still in the layer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..core.errors import Sam2InputError
from ..core.prompts import Groups, PromptGroup
from ..core.provenance import RunRecord, track_options
from ..core.session import TrackingSession
from ._messages import (
    Encoded,
    FrameTracked,
    LineageUpdated,
    ModelLoaded,
    PassStarted,
    Previewed,
    PromptsTaken,
    Removed,
    RunPlanned,
    SeedsFound,
    SessionOpened,
    Status,
    TakenUp,
)
from ._settings import SAM_SEEDS, TrackerSettings


@dataclass(frozen=True)
class PropagateRequest:
    direction: str
    start: int | None  # None: the earliest prompted frame of the objects tracked
    frame_range: tuple[int, int] | None
    run_id: int
    valid_runs: frozenset[int]  # runs whose labels are still in the layer (not undone)
    groups: Groups  # the prompts in the layers now: the session is brought in step with them first


@dataclass(frozen=True)
class Reopened:
    """What the labels hold for an object the workspace never prompted (a result opened from
    disk) around the frame of its first click: its mask there (None: none), its last good
    frame before it with that mask, and the frames its track may span (a daughter's first,
    a divided mother's last; None where it is open)."""

    here: np.ndarray | None
    anchor: tuple[int, np.ndarray] | None
    span: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class PopulationRequest:
    seeds: dict  # object id -> full-frame mask on ``frame``
    frame: int
    options: object  # core.population.PopulationOptions
    detect: object = None  # frame -> label image, or SAM 2's seeder's name: re-detection


class SessionOwner:
    """Model, session and tracked-frame record; touched on the worker thread only."""

    def __init__(self, loader) -> None:
        self._loader = loader
        self._loaded = None
        self._loaded_key: tuple | None = None
        self._session: TrackingSession | None = None
        self._session_key: tuple | None = None
        self._tracked: dict[int, dict[int, int]] = {}  # object -> frame -> run id
        self._prompts_changed: set[int] = set()  # tracked before, prompts changed since
        self._population: set[int] = set()  # objects a population run or correction made

    @staticmethod
    def _on_worker() -> None:
        assert threading.current_thread() is not threading.main_thread(), "the session is the worker's alone"

    def peek_session(self) -> TrackingSession | None:
        """For tests and debugging only, while the worker is idle."""
        return self._session

    # -- model and session ------------------------------------------------------------------
    def _model(self, settings: TrackerSettings) -> Iterator:
        self._on_worker()
        if self._loaded is None or self._loaded_key != settings.model_key():
            from napari.utils import progress

            yield Status(f"Loading {settings.model} …")
            self._loaded = self._loader.load(settings.model, device=settings.device, tqdm_class=progress)
            self._loaded_key = settings.model_key()
            self._close_session()
            yield ModelLoaded(self._loaded)

    def load_task(self, settings: TrackerSettings, loaded=None) -> Iterator:
        """Load the model (``loaded``: use this model, already in memory)."""
        self._on_worker()
        if loaded is not None:
            self._loaded, self._loaded_key = loaded, settings.model_key()
            self._close_session()
            yield ModelLoaded(loaded)
            return
        yield from self._model(settings)

    def _session_for(self, source, settings: TrackerSettings) -> Iterator:
        """Yields messages; afterwards ``self._session`` is the session for ``source``."""
        yield from self._model(settings)
        key = settings.session_key(source)
        if self._session is None or key != self._session_key:
            self._close_session()
            self._session = TrackingSession(self._loaded, source, **settings.as_session_arguments())
            self._session_key = key
            options = track_options(source, model=settings.model, fill_hole_area=self._session.fill_hole_area)
            yield SessionOpened(RunRecord.of(self._session), options)

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session, self._session_key = None, None
        self._tracked, self._prompts_changed, self._population = {}, set(), set()

    def close(self) -> None:
        """Called once the worker is stopped (the tracker is closing)."""
        self._close_session()

    def close_task(self) -> Iterator:
        """The main thread asked for a new session (another image, axis, region, model): the
        old one goes now, not when the next task opens one."""
        self._on_worker()
        self._close_session()
        yield from ()

    # -- prompts ----------------------------------------------------------------------------
    def preview_task(
        self, source, settings, key: tuple[int, int], group: PromptGroup | None, reopened: Reopened | None = None
    ) -> Iterator:
        yield from self._session_for(source, settings)
        session, (obj, frame) = self._session, key
        self._prompts_edited(obj)
        if reopened is not None and group is not None and not group.is_empty() and obj not in session.object_ids:
            yield self._take_up(obj, frame, reopened)
        if group is None or group.is_empty():
            session.clear_prompts(obj, frame)
            yield Previewed(key, PromptGroup().key(), None, source.held)
            return
        result = session.set_prompts(obj, frame, points=group.points, box=group.box)
        yield Previewed(key, group.key(), result, source.held)

    def mask_task(self, source, settings, obj: int, frame: int, mask: np.ndarray) -> Iterator:
        yield from self._session_for(source, settings)
        self._prompts_edited(obj)
        result = self._session.add_mask(obj, frame, mask)
        roi = source.roi
        yield Previewed((obj, frame), None, result, source.held, mask=mask[roi.y0 : roi.y1, roi.x0 : roi.x1])

    def _take_up(self, obj: int, frame: int, reopened: Reopened) -> TakenUp:
        """Go on from a result made earlier: the object's mask on the clicked frame is what
        the click refines, its last good frame is remembered as a mask prompt (memory only:
        that frame stays as it was), and it keeps the span of its lineage track."""
        session = self._session
        session.add_object(obj)
        first, last = reopened.span
        if first is not None or last is not None:
            session.limit_object(obj, first=first, last=last)
        if reopened.here is not None:
            session.set_earlier_mask(obj, frame, reopened.here)
        if reopened.anchor is not None:
            session.add_mask(obj, reopened.anchor[0], reopened.anchor[1], anchor=True)
        return TakenUp(obj, frame, reopened.anchor[0] if reopened.anchor is not None else None)

    def remove_object_task(self, obj: int) -> Iterator:
        self._on_worker()
        if self._session is not None and obj in self._session.object_ids:
            self._session.remove_object(obj)
        self._tracked.pop(obj, None)
        self._prompts_changed.discard(obj)
        yield Removed(obj)

    def _prompts_edited(self, obj: int) -> None:
        """New prompts: the object's tracked frames are out of date."""
        if self._tracked.pop(obj, None):
            self._prompts_changed.add(obj)

    # -- propagation ------------------------------------------------------------------------
    def propagate_task(self, source, settings, request: PropagateRequest) -> Iterator:
        yield from self._session_for(source, settings)
        yield from self._take_prompts(request.groups)
        session = self._session
        prompted = [o for o, frames in session.prompts().items() if frames]
        if not prompted:
            raise Sam2InputError("Nothing to propagate: click an object first (or load prompts).")
        first = session.default_start(prompted) if request.start is None else request.start
        passes = session.plan(request.direction, start=first, frame_range=request.frame_range)
        wanted = {f for _, order in passes for f in order}
        done = {o: {f for f, run in self._tracked.get(o, {}).items() if run in request.valid_runs} for o in prompted}
        stale = [o for o in prompted if not wanted <= done[o]]
        ids = stale or prompted
        if request.start is None:
            first = session.default_start(ids)
            passes = session.plan(request.direction, start=first, frame_range=request.frame_range)
        todo = [(reverse, self._resume(order, ids, done) if stale else list(order)) for reverse, order in passes]
        frames = {f for _, order in todo for f in order}
        yield RunPlanned(
            objects=ids,
            up_to_date=[o for o in prompted if o not in ids],
            changed=[o for o in ids if o in self._prompts_changed and o in stale],
            frames=len(frames),
            resumed=len(wanted - frames) if stale else 0,
            again=not stale,
        )
        for reverse, order in todo:
            if not order:
                continue
            direction = "backward" if reverse else "forward"
            yield PassStarted(direction, order[0], request.frame_range)
            for result in session.propagate(direction, objects=ids, start=order[0], frame_range=request.frame_range):
                for obj in ids:
                    self._tracked.setdefault(obj, {})[result.frame] = request.run_id
                    self._prompts_changed.discard(obj)
                yield FrameTracked(result, source.held)

    def _take_prompts(self, groups: Groups) -> Iterator:
        """Bring the session's clicks and boxes in step with the layers' (a new session, a
        reopened tracker): what differs is given again, what is gone is removed. Mask prompts
        have no layer and stay."""
        session = self._session
        have = {
            (obj, frame): prompts
            for obj, frames in session.prompts().items()
            for frame, prompts in frames.items()
            if prompts.mask is None
        }
        for key in sorted(set(groups) | set(have)):
            group = groups.get(key, PromptGroup())
            old = have.get(key)
            if (old.key() if old is not None else PromptGroup().key()) == group.key():
                continue
            self._prompts_edited(key[0])
            session.set_prompts(*key, points=group.points, box=group.box)
            yield PromptsTaken(key, group.key())

    @staticmethod
    def _resume(order: range, ids: list[int], done: dict[int, set[int]]) -> list[int]:
        """The pass without its leading frames that every object already has."""
        frames = list(order)
        k = 0
        while k < len(frames) and all(frames[k] in done[o] for o in ids):
            k += 1
        return frames[k:]

    # -- a whole population -------------------------------------------------------------------
    def population_task(self, source, settings, request: PopulationRequest) -> Iterator:
        """Seed every cell on ``request.frame``, then track them all forward with their lineage."""
        from ..core.population import PopulationTracker

        yield from self._session_for(source, settings)
        taken = sorted((set(request.seeds) | self._population) & set(self._session.object_ids))
        for obj in taken:  # a new run replaces the earlier population and same-id objects
            self._session.remove_object(obj)
        tracker = PopulationTracker(self._session, detect=self._detector(request.detect), options=request.options)
        tracker.add_seeds(request.frame, request.seeds)
        yield RunPlanned(
            objects=sorted(request.seeds), up_to_date=[], changed=[], frames=len(source) - request.frame, resumed=0
        )
        yield from self._run_population(tracker, request.frame, source.held)

    def division_task(self, source, settings, request) -> Iterator:
        """A division marked by hand (:class:`~._lineage_edits.DivisionRequest`): the mother
        ends, her two daughters start from their clicks and are tracked to the end."""
        from ..core.lineage import Lineage
        from ..core.population import PopulationTracker, with_erased

        yield from self._session_for(source, settings)
        tracker = PopulationTracker(self._session, options=request.options, lineage=Lineage.from_dict(request.lineage))
        first = tracker.divide(request.mother, request.frame, request.daughters)
        daughters = " and ".join(str(d) for d in tracker.lineage.children(request.mother))
        yield RunPlanned(
            objects=[request.mother],
            up_to_date=[],
            changed=[],
            frames=len(source) - request.frame,
            resumed=0,
            note=f"Cell {request.mother} divides on frame {request.frame}: tracking its daughters {daughters}.",
        )
        yield FrameTracked(first, source.held)
        yield LineageUpdated(tracker.lineage.as_dict())
        erase = tracker.erased
        for result in tracker.run(request.frame + 1):
            yield FrameTracked(with_erased(result, erase), source.held)
            yield LineageUpdated(tracker.lineage.as_dict())
        self._population |= set(tracker.lineage.tracks)

    def _run_population(self, tracker, first: int, held) -> Iterator:
        self._population = set(tracker.session.object_ids)
        for result in tracker.run(first):
            self._population |= set(result.object_ids)
            yield FrameTracked(result, held)
            yield LineageUpdated(tracker.lineage.as_dict())
        self._tracked = {}  # the population's objects are tracked by their own rules

    def _detector(self, detect):
        """SAM 2's re-detection needs the session, which only this thread has."""
        if detect != SAM_SEEDS:
            return detect
        from ..core.everything import everything_detector

        return everything_detector(self._session)

    def lineage_task(self, rows: list[dict]) -> Iterator:
        """The main thread's lineage changed (a correction, undo, redo): the session's
        population objects exist on their tracks' frames only, and those no track names go."""
        self._on_worker()
        session = self._session
        if session is not None:
            spans = {row["id"]: (row["first"], row["last"]) for row in rows}
            for obj in session.object_ids:
                if obj in spans:
                    session.limit_object(obj, first=spans[obj][0], last=spans[obj][1])
                elif obj in self._population:
                    session.remove_object(obj)
        yield from ()

    def everything_task(self, source, settings, frame: int, request: int = 0) -> Iterator:
        """SAM 2's own seeds: everything it segments on ``frame`` (``request``: which preview asked)."""
        from ..core.everything import segment_everything

        yield from self._session_for(source, settings)
        yield Status(f"Segmenting everything on frame {frame} …")
        yield SeedsFound(frame, segment_everything(self._session, frame), request)

    # -- encoding ahead ---------------------------------------------------------------------
    def encode_task(self, source, settings, center: int, should_stop) -> Iterator:
        """Encode frames near ``center`` until all that fit are encoded or ``should_stop()``
        (another task is waiting). Submitted whenever the worker falls idle: with nothing
        to encode it ends at once, and the main thread never asks the session."""
        yield from self._session_for(source, settings)
        session = self._session
        while not should_stop() and session is self._session:
            todo = session.encode_ahead_order(center)
            if not todo:
                return
            session.encode(todo[0])
            yield Encoded(len(session.cache), len(session.source))
