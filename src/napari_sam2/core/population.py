"""Follow a whole population: seeds, new cells, ends and divisions, with their lineage.

:class:`PopulationTracker` drives a :class:`~napari_sam2.core.session.TrackingSession`
forward one frame at a time over the objects still alive. All objects share each frame's
image features, so the image encoder runs once per frame whatever their number. The rules
that decide from masks (:mod:`.linking`) turn each frame's masks into lineage events:

* an object absent for ``absent_frames`` frames ends at its last present frame and is no
  longer tracked (it costs nothing more);
* a mask that splits into two sizeable parts ends its track at the frame before; two
  daughters start with those parts as mask prompts, their parent the mother;
* on re-detection frames, a detection no tracked mask covers becomes a new cell, and one
  touching a cell that shrank makes that cell divide. A new cell is also tracked backward
  over the frames since the previous re-detection, so that it starts on the frame it
  appeared (:meth:`PopulationTracker.run` yields those earlier frames after the frame it
  was found on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import Sam2InputError
from .lineage import Lineage
from .linking import Absences, LinkingRules, detection_floor, division_by_detection, new_cells, shrank, split_parts
from .seeders import Seeds, seeds_as_labels
from .session import FrameResult, TrackingSession


@dataclass(frozen=True)
class PopulationOptions:
    """How a population run finds new cells and divisions (rules in :class:`LinkingRules`)."""

    redetect_every: int = 0  # run the detector every K frames; 0: never
    redetect_frames: tuple[int, ...] = ()  # and on these frames
    divisions: bool = True
    rules: LinkingRules = field(default_factory=LinkingRules)

    def redetects(self, frame: int) -> bool:
        return frame in self.redetect_frames or (self.redetect_every > 0 and frame % self.redetect_every == 0)


def check_redetect_frames(frames, seed_frame: int, n_frames: int, *, name: str = "Frame") -> None:
    """Re-detection frames must lie after the seed frame and in the stack (one line if not)."""
    outside = [f for f in frames if not seed_frame < f < n_frames]
    if outside:
        raise Sam2InputError(f"{name} {outside[0]} is not after the seed frame {seed_frame} and in the stack.")


def merge_results(frame: int, results: list[FrameResult], roi) -> FrameResult:
    """One result for ``frame`` from several (objects tracked, prompted and started there)."""
    results = [r for r in results if r is not None and (r.object_ids or r.erased)]
    erased = [e for r in results for e in r.erased]
    if not any(r.object_ids for r in results):
        return FrameResult(frame, [], np.zeros((0, *roi.shape), bool), np.zeros(0, np.float32), roi, erased)
    results = [r for r in results if r.object_ids]
    return FrameResult(
        frame=frame,
        object_ids=[o for r in results for o in r.object_ids],
        masks=np.concatenate([r.masks for r in results]),
        scores=np.concatenate([r.scores for r in results]).astype(np.float32),
        roi=roi,
        erased=erased,
    )


def with_erased(result: FrameResult, ids) -> FrameResult:
    """``result`` that also clears ``ids`` from its frame (tracks that ended before it)."""
    ids = [int(i) for i in ids if i not in result.object_ids and i not in result.erased]
    return replace(result, erased=[*result.erased, *ids]) if ids else result


class PopulationTracker:
    """Seeds many objects, then tracks them forward with their lineage.

    ``detect(frame) -> label image`` (full frame) finds cells on re-detection frames.
    ``lineage`` continues an earlier lineage (a correction of a finished run).

    A run is :meth:`step` over consecutive frames (:meth:`run`). Cells join it three ways,
    each on its own frame: seeds (:meth:`add_seeds`), objects already prompted in the
    session (:meth:`add_prompted`, from their earliest prompted frame) and re-detection.
    """

    def __init__(
        self,
        session: TrackingSession,
        *,
        detect: Callable[[int], np.ndarray] | None = None,
        options: PopulationOptions | None = None,
        lineage: Lineage | None = None,
    ) -> None:
        self.session, self.detect = session, detect
        self.options = options or PopulationOptions()
        self.lineage = lineage if lineage is not None else Lineage()
        self.absences = Absences(self.options.rules)
        self.active: list[int] = []
        self._areas: dict[int, int] = {}  # object -> mask area on its last present frame
        self._areas_before: dict[int, int] = {}
        self._shrunk = False  # a cell shrank on the frame being stepped (look for a sister)
        self._seeds: dict[int, Seeds] = {}  # frame -> seeds (ROI coordinates) starting there
        self._prompted: dict[int, int] = {}  # prompted object -> the frame it joins on
        self.erased: list[int] = []  # tracks a manual division dropped from its frame on
        self._divisions: dict[int, list] = {}  # frame -> [(cell, daughters' clicks)] marked ahead
        self.skipped_divisions: list[tuple[int, int]] = []  # (cell, frame) not tracked there
        self._unwatched: dict[int, np.ndarray] = {}  # frames since cells were last looked for -> pixels taken
        self._earlier: list[FrameResult] = []  # new cells' frames before they were found

    @property
    def roi(self):
        return self.session.source.roi

    def _next_id(self) -> int:
        waiting = [obj for seeds in self._seeds.values() for obj in seeds]
        return max([*self.lineage.tracks, *self.session.object_ids, *waiting, 0]) + 1

    def _begin(self, obj: int, frame: int, result: FrameResult) -> FrameResult:
        """Bookkeeping of a track that starts on ``frame`` with ``result`` (its first mask)."""
        self.active.append(obj)
        self.absences.update(obj, frame, True)
        self._areas[obj] = int(result.masks.sum()) if len(result.masks) else 0
        return result

    def _start(self, obj: int, frame: int, mask: np.ndarray, parent: int = 0) -> FrameResult:
        """A new track whose mask prompt on ``frame`` is ``mask`` (ROI coordinates)."""
        full = np.zeros(self.session.source.full_frame_shape, bool)
        roi = self.roi
        full[roi.y0 : roi.y1, roi.x0 : roi.x1] = mask
        self.lineage.start(obj, frame, parent=parent)
        result = self.session.add_mask(obj, frame, full)
        self.session.limit_object(obj, first=frame)
        return self._begin(obj, frame, result)

    def add_seeds(self, frame: int, seeds: Seeds) -> None:
        """Every seed (full-frame masks) becomes an object on ``frame``; ids are kept."""
        waiting = {obj for pending in self._seeds.values() for obj in pending}
        taken = sorted(set(seeds) & (set(self.lineage.tracks) | set(self.session.object_ids) | waiting))
        if taken:
            raise Sam2InputError(f"Seed ids {taken} are already objects; give the seeds other ids.")
        roi = self.roi
        parts = {}
        for obj, mask in sorted(seeds.items()):
            part = np.asarray(mask, bool)[roi.y0 : roi.y1, roi.x0 : roi.x1]
            if part.any():
                parts[int(obj)] = part
        if not parts:
            raise Sam2InputError("No seed lies inside the region: there is nothing to track.")
        self._seeds.setdefault(frame, {}).update(parts)

    def add_prompted(self, objects=None) -> None:
        """Objects prompted in the session (clicks, boxes) join as tracks from their earliest
        prompted frame (a run must start there to include them)."""
        prompts = self.session.prompts()
        for obj in self.session.object_ids if objects is None else objects:
            if prompts.get(obj) and obj not in self.lineage:
                self._prompted[int(obj)] = min(prompts[obj])

    def add_division(self, cell: int, frame: int, daughters) -> None:
        """``cell`` divides on ``frame`` into daughters at these clicks (see :meth:`divide`),
        applied when the run reaches ``frame``; a cell not tracked then is skipped."""
        self._divisions.setdefault(int(frame), []).append((int(cell), daughters))

    def seed(self, frame: int, seeds: Seeds) -> FrameResult:
        """Seeds on ``frame`` and that frame's step; the run goes on with :meth:`track`."""
        self.add_seeds(frame, seeds)
        return self.step(frame)

    def track(self, *, start: int, last: int | None = None) -> Iterator[FrameResult]:
        """Frames ``start + 1`` to ``last`` (default: the end), one result each."""
        yield from self.run(start + 1, last)

    def run(self, first: int, last: int | None = None) -> Iterator[FrameResult]:
        """Frames ``first`` to ``last`` (default: the end), one result each."""
        last = len(self.session.source) - 1 if last is None else last
        for frame in range(first, last + 1):
            yield self.step(frame)
            while self._earlier:  # cells found on ``frame`` were there before it
                yield self._earlier.pop(0)

    def step(self, frame: int) -> FrameResult:
        results: list[FrameResult] = []
        self._areas_before = dict(self._areas)
        joining = sorted(o for o, first in self._prompted.items() if first <= frame)
        for obj in joining:
            del self._prompted[obj]
            self.lineage.start(obj, frame)
            self.active.append(obj)
        born: list[int] = []  # daughters of divisions marked on this frame: already have masks
        for cell, daughters in self._divisions.pop(frame, []):
            if cell not in self.active:
                self.skipped_divisions.append((cell, frame))
                continue
            results.append(self.divide(cell, frame, daughters))
            born += self.lineage.children(cell)
        ids = [o for o in self.active if o not in born]
        if ids:
            [tracked] = list(self.session.propagate("forward", objects=ids, start=frame, frame_range=(frame, frame)))
            results.append(self._events(frame, tracked))
        seeds = self._seeds.pop(frame, None)
        looked = bool(seeds)
        if seeds:
            results += [self._start(obj, frame, mask) for obj, mask in seeds.items()]
        elif self.detect is not None and (self.options.redetects(frame) or self._shrunk):
            # a cell that shrank may have left a daughter behind: look on this very frame
            results += self._redetect(frame, merge_results(frame, results, self.roi))
            looked = True
        merged = merge_results(frame, results, self.roi)
        if looked:
            self._unwatched = {}
        else:  # a cell found later may have been here already, where no tracked cell is
            self._unwatched[frame] = merged.masks.any(axis=0) if len(merged.masks) else np.zeros(self.roi.shape, bool)
        over = [i for i, o in enumerate(merged.object_ids) if self.lineage.tracks[o].last < frame]
        if not over:
            return merged
        keep = [i for i in range(len(merged.object_ids)) if i not in over]  # mothers that divided here
        ids = [merged.object_ids[i] for i in keep]
        return FrameResult(frame, ids, merged.masks[keep], merged.scores[keep], merged.roi, merged.erased)

    def divide(self, mother: int, frame: int, daughters) -> FrameResult:
        """The user marks a division: ``mother`` ends before ``frame``, and two daughters start
        there, each from its own clicks (``daughters``: two lists of points, full-frame
        ``(y, x)``). The mother's earlier descendants are dropped. Returns ``frame``'s result,
        which erases the mother and those descendants there; :attr:`erased` names them for
        later frames (:func:`with_erased`)."""
        if len(daughters) != 2 or not all(daughters):
            raise Sam2InputError("A division needs one click on each of the two daughters.")
        ids = (self._next_id(), self._next_id() + 1)
        gone = [mother, *self.lineage.descendants(mother)]
        self.lineage.divide(mother, frame, ids)  # checks the frame before anything changes
        self.erased = gone
        for obj in gone:
            if obj in self.active:
                self.active.remove(obj)
            if obj != mother and obj in self.session.object_ids:
                self.session.remove_object(obj)
        if mother in self.session.object_ids:
            self.session.limit_object(mother, last=frame - 1)
        results = []
        for obj, points in zip(ids, daughters):
            self.session.add_object(obj)
            self.session.limit_object(obj, first=frame)
            results.append(self._begin(obj, frame, self.session.add_points(obj, frame, points)))
        return with_erased(merge_results(frame, results, self.roi), gone)

    def _events(self, frame: int, tracked: FrameResult) -> FrameResult:
        """Ends and divisions from the tracked masks; returns what stays of ``tracked``."""
        keep, daughters = [], []
        rules = self.options.rules
        self._shrunk = False
        for i, obj in enumerate(tracked.object_ids):
            mask = tracked.masks[i]
            present = bool(tracked.scores[i] > 0 and mask.sum() >= rules.min_area)
            parts = split_parts(mask, self._areas.get(obj, 0), rules) if self._may_divide(obj, frame, present) else None
            if parts is not None:
                daughters += self._divide(obj, frame, parts)
                continue
            keep.append(i)
            if present and self._may_divide(obj, frame):
                self._shrunk |= shrank(int(mask.sum()), self._areas.get(obj, 0), rules)
            if present:
                self.lineage.seen(obj, frame)
                self._areas[obj] = int(mask.sum())
            ended_at = self.absences.update(obj, frame, present)
            if ended_at is not None:
                self.lineage.end(obj, ended_at)
                self.active.remove(obj)
                self.session.limit_object(obj, last=ended_at)
        kept = FrameResult(
            frame, [tracked.object_ids[i] for i in keep], tracked.masks[keep], tracked.scores[keep], tracked.roi
        )
        return merge_results(frame, [kept, *daughters], self.roi)

    def _may_divide(self, obj: int, frame: int, present: bool = True) -> bool:
        track = self.lineage.tracks[obj]
        return (
            present and self.options.divisions and self.options.rules.may_divide(track.first, frame, bool(track.parent))
        )

    def _divide(self, mother: int, frame: int, parts) -> list[FrameResult]:
        self.lineage.end(mother, frame - 1)
        self.active.remove(mother)
        self.session.limit_object(mother, last=frame - 1)
        return [self._start(self._next_id(), frame, part, parent=mother) for part in parts]

    def _redetect(self, frame: int, current: FrameResult) -> list[FrameResult]:
        roi = self.roi
        detections = np.asarray(self.detect(frame))[roi.y0 : roi.y1, roi.x0 : roi.x1]
        tracked = seeds_as_labels(dict(zip(current.object_ids, current.masks)), roi.shape, np.int64)
        fresh = np.zeros_like(detections, dtype=np.int64)
        floor = detection_floor([m.sum() for m in current.masks if m.any()], self.options.rules)
        for i, mask in enumerate(new_cells(detections, tracked, self.options.rules, floor=floor), start=1):
            fresh[mask] = i
        results = []
        for obj, mask in zip(current.object_ids, current.masks):
            if obj in self.active and self._may_divide(obj, frame):
                parts = division_by_detection(mask, self._areas_before.get(obj, 0), fresh, self.options.rules)
                if parts is not None:
                    fresh[parts[1]] = 0
                    results += self._divide(obj, frame, parts)
        for i in np.unique(fresh):
            if i:
                obj = self._next_id()
                results.append(self._start(obj, frame, fresh == i))
                self._look_back(obj, frame, floor)
        return results

    def _look_back(self, obj: int, frame: int, floor: float) -> None:
        """A cell found on ``frame`` is tracked backward over the frames since cells were
        last looked for, as long as it is there: ``floor`` pixels (as a detection) that no
        tracked cell holds on that frame. Its track then starts on the first of them; their
        results (its mask less the tracked cells' pixels) wait in :attr:`_earlier`."""
        frames = sorted(f for f in self._unwatched if f < frame)
        if not frames:
            return
        self.session.limit_object(obj, first=frames[0])
        first = frame
        passes = self.session.propagate("backward", objects=[obj], start=frame, frame_range=(frames[0], frame))
        try:
            for result in passes:
                if result.frame == frame:
                    continue
                taken = self._unwatched[result.frame]
                free = result.masks[0] & ~taken
                if not (result.scores[0] > 0 and free.sum() >= floor):
                    break
                taken |= free
                first = result.frame
                self._earlier.append(replace(result, masks=free[None]))
        finally:
            passes.close()
        self.session.limit_object(obj, first=first)
        self.lineage.seen(obj, first)
