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
  touching a cell that shrank makes that cell divide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .errors import Sam2InputError
from .lineage import Lineage
from .linking import Absences, LinkingRules, division_by_detection, new_cells, split_parts
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


def merge_results(frame: int, results: list[FrameResult], roi) -> FrameResult:
    """One result for ``frame`` from several (objects tracked, prompted and started there)."""
    results = [r for r in results if r is not None and r.object_ids]
    if not results:
        return FrameResult(frame, [], np.zeros((0, *roi.shape), bool), np.zeros(0, np.float32), roi)
    return FrameResult(
        frame=frame,
        object_ids=[o for r in results for o in r.object_ids],
        masks=np.concatenate([r.masks for r in results]),
        scores=np.concatenate([r.scores for r in results]).astype(np.float32),
        roi=roi,
    )


class PopulationTracker:
    """Seeds many objects, then tracks them forward with their lineage.

    ``detect(frame) -> label image`` (full frame) finds cells on re-detection frames.
    """

    def __init__(
        self,
        session: TrackingSession,
        *,
        detect: Callable[[int], np.ndarray] | None = None,
        options: PopulationOptions | None = None,
    ) -> None:
        self.session, self.detect = session, detect
        self.options = options or PopulationOptions()
        self.lineage = Lineage()
        self.absences = Absences(self.options.rules)
        self.active: list[int] = []
        self._areas: dict[int, int] = {}  # object -> mask area on its last present frame
        self._areas_before: dict[int, int] = {}

    @property
    def roi(self):
        return self.session.source.roi

    def _next_id(self) -> int:
        return max([*self.lineage.tracks, *self.session.object_ids, 0]) + 1

    def _start(self, obj: int, frame: int, mask: np.ndarray, parent: int = 0) -> FrameResult:
        """A new track whose mask prompt on ``frame`` is ``mask`` (ROI coordinates)."""
        full = np.zeros(self.session.source.full_frame_shape, bool)
        roi = self.roi
        full[roi.y0 : roi.y1, roi.x0 : roi.x1] = mask
        result = self.session.add_mask(obj, frame, full)
        self.lineage.start(obj, frame, parent=parent)
        self.active.append(obj)
        self.absences.update(obj, frame, True)
        self._areas[obj] = int(mask.sum())
        return result

    def seed(self, frame: int, seeds: Seeds) -> FrameResult:
        """Every seed (full-frame masks) becomes an object on ``frame``; ids are kept."""
        taken = sorted(set(seeds) & (set(self.lineage.tracks) | set(self.session.object_ids)))
        if taken:
            raise Sam2InputError(f"Seed ids {taken} are already objects; give the seeds other ids.")
        roi, results = self.roi, []
        for obj, mask in sorted(seeds.items()):
            part = np.asarray(mask, bool)[roi.y0 : roi.y1, roi.x0 : roi.x1]
            if part.any():
                results.append(self._start(int(obj), frame, part))
        if not results:
            raise Sam2InputError("No seed lies inside the region: there is nothing to track.")
        return merge_results(frame, results, roi)

    def track(self, *, start: int, last: int | None = None) -> Iterator[FrameResult]:
        """Frames ``start + 1`` to ``last`` (default: the end), one result each."""
        last = len(self.session.source) - 1 if last is None else last
        for frame in range(start + 1, last + 1):
            yield self.step(frame)

    def step(self, frame: int) -> FrameResult:
        results: list[FrameResult] = []
        self._areas_before = dict(self._areas)
        if self.active:
            ids = list(self.active)
            [tracked] = list(self.session.propagate("forward", objects=ids, start=frame, frame_range=(frame, frame)))
            results.append(self._events(frame, tracked))
        if self.detect is not None and self.options.redetects(frame):
            results += self._redetect(frame, merge_results(frame, results, self.roi))
        merged = merge_results(frame, results, self.roi)
        over = [i for i, o in enumerate(merged.object_ids) if self.lineage.tracks[o].last < frame]
        if not over:
            return merged
        keep = [i for i in range(len(merged.object_ids)) if i not in over]  # mothers that divided here
        ids = [merged.object_ids[i] for i in keep]
        return FrameResult(frame, ids, merged.masks[keep], merged.scores[keep], merged.roi)

    def _events(self, frame: int, tracked: FrameResult) -> FrameResult:
        """Ends and divisions from the tracked masks; returns what stays of ``tracked``."""
        keep, daughters = [], []
        rules = self.options.rules
        for i, obj in enumerate(tracked.object_ids):
            mask = tracked.masks[i]
            present = bool(tracked.scores[i] > 0 and mask.sum() >= rules.min_area)
            parts = split_parts(mask, self._areas.get(obj, 0), rules) if self._may_divide(obj, frame, present) else None
            if parts is not None:
                daughters += self._divide(obj, frame, parts)
                continue
            keep.append(i)
            if present:
                self.lineage.seen(obj, frame)
                self._areas[obj] = int(mask.sum())
            ended_at = self.absences.update(obj, frame, present)
            if ended_at is not None:
                self.lineage.end(obj, ended_at)
                self.active.remove(obj)
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
        return [self._start(self._next_id(), frame, part, parent=mother) for part in parts]

    def _redetect(self, frame: int, current: FrameResult) -> list[FrameResult]:
        roi = self.roi
        detections = np.asarray(self.detect(frame))[roi.y0 : roi.y1, roi.x0 : roi.x1]
        tracked = seeds_as_labels(dict(zip(current.object_ids, current.masks)), roi.shape, np.int64)
        fresh = np.zeros_like(detections, dtype=np.int64)
        for i, mask in enumerate(new_cells(detections, tracked, self.options.rules), start=1):
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
                results.append(self._start(self._next_id(), frame, fresh == i))
        return results
