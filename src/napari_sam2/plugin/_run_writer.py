"""Writing results into the Labels layer: previews, runs, progress, undo and quality flags.

* **One undo step per run.** A run's frames go through one :class:`RunHistory`, committed
  when the run ends however it ends (done, cancelled, failed). Painting is locked during a
  run without clearing napari's history (:class:`PaintLock`). A preview is its own step.
* **Runs still in the layer.** The undo item of each run is kept; a run whose item is no
  longer in the layer's undo history was undone, and its frames must be tracked again.
* **Progress in frames the user sees.** A frame written twice in a run (the start frame of
  *Both*) counts once; the time left is said once two frames have been timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core.labels import erase_object, merge_result
from ..core.quality import QualityFlag, quality_flags
from ._layer_source import world_axis
from ._messages import FrameTracked, Previewed, RunPlanned
from ._paint_lock import PaintLock
from ._run_history import RunHistory, in_undo_history, undo_history


@dataclass(frozen=True)
class RunProgress:
    done: int
    total: int
    seconds_left: float | None  # None: not estimated yet
    state: str = "running"  # running, done, cancelled or failed

    def text(self) -> str:
        where = f"frame {self.done} of {self.total}"
        if self.state == "done":
            return f"{where} — done"
        if self.state == "cancelled":
            return f"Cancelled after {where}: press the same button to resume"
        if self.state == "failed":
            return f"Stopped after {where}: the frames done are kept"
        if self.seconds_left is None:
            return f"{where}, estimating the time left …"
        return f"{where}, about {self.seconds_left:.0f} s left"


def describe_plan(plan: RunPlanned, name) -> str:
    """One sentence on what a run tracks and what it leaves alone."""

    def names(ids):
        return ", ".join(name(o) for o in ids)

    if plan.note:
        return plan.note

    if len(plan.objects) > 6:
        return f"Tracking {len(plan.objects)} objects" + (
            f"; {len(plan.up_to_date)} already tracked." if plan.up_to_date else "."
        )
    if plan.again:
        return f"Every object is already tracked on these frames: tracking {names(plan.objects)} again."
    parts = [f"Tracking {names(plan.objects)}" + (" alone" if plan.up_to_date else "")]
    if plan.up_to_date:
        verb = "it is" if len(plan.up_to_date) == 1 else "they are"
        parts.append(f"{names(plan.up_to_date)} already tracked and left as {verb}")
    if plan.changed:
        parts.append(
            f"re-tracking {names(plan.changed)}: {'its' if len(plan.changed) == 1 else 'their'} prompts changed"
        )
    if plan.resumed:
        parts.append(f"resuming: {plan.resumed} frames already done")
    return "; ".join(parts) + "."


class RunWriter:
    """Main thread: applies preview and run results to the bound Labels layer."""

    def __init__(self, binding, notify) -> None:
        self.binding, self._notify = binding, notify
        self.scores: dict[int, dict[int, float]] = {}  # frame -> object -> score (copied from results)
        self.flags: list[QualityFlag] = []
        self.follow = False  # move the viewer to each frame as it is written
        self._runs: dict[int, object] = {}  # run id -> its undo item
        self._next_run = 1
        self._history: RunHistory | None = None
        self._lock: PaintLock | None = None
        self._bar = None
        self._frames: set[int] = set()
        self._total = 0
        self._first_done = 0.0
        self._planned = False
        self.run_id: int | None = None

    def forget_tracking(self) -> None:
        """A new session: scores and flags of the old one no longer apply."""
        self.scores, self.flags = {}, []

    def valid_runs(self) -> frozenset[int]:
        """Runs whose labels are still in the layer: their undo item was not undone."""
        layer = self.binding.labels
        if layer is None:
            return frozenset()
        history = undo_history(layer)
        return frozenset(run for run, item in self._runs.items() if in_undo_history(item, history))

    @property
    def last_item(self):
        """The undo item of the run that ended last (None: it changed nothing)."""
        return self._runs.get(self.run_id)

    # -- a run --------------------------------------------------------------------------------
    def reserve_run(self) -> int:
        """The id of the next run (its frames are recorded under it by the worker)."""
        self.run_id, self._next_run = self._next_run, self._next_run + 1
        return self.run_id

    def begin(self) -> None:
        labels = self.binding.labels
        self._planned = False
        self._history = RunHistory(labels)
        self._frames, self._total = set(), 0
        self._lock = PaintLock(labels, self._notify)
        self._lock.lock()  # not editable=False: napari would clear the undo history
        self.binding.points.editable = False

    def planned(self, plan: RunPlanned) -> RunProgress:
        from napari.utils import progress

        self._total, self._planned = plan.frames, True
        self._bar = progress(total=plan.frames, desc="SAM 2 propagation")
        return RunProgress(0, plan.frames, None)

    def frame_tracked(self, message: FrameTracked) -> RunProgress:
        frame = message.result.frame
        self._write(message.result, message.held, self._history)
        self._keep_scores(message.result)
        if frame not in self._frames:
            self._frames.add(frame)
            if self._bar is not None:
                self._bar.update(1)
        done = len(self._frames)
        if done == 1:
            self._first_done = time.perf_counter()
        if self.follow and self.binding.frame_axis is not None:
            binding = self.binding
            binding.viewer.dims.set_current_step(world_axis(binding.image, binding.viewer, binding.frame_axis), frame)
        seconds = None
        if done >= 2:  # the first frame also pays for loading and encoding: not a rate
            seconds = (time.perf_counter() - self._first_done) / (done - 1) * (self._total - done)
        return RunProgress(done, self._total, seconds)

    def end(self, state: str) -> RunProgress | None:
        """Commit the run as one undo step, unlock painting, update the flags.

        Returns the final progress, or None for a run that failed before its plan."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._history is not None:
            item = self._history.commit()
            if item is not None:
                self._runs[self.run_id] = item
            self._history = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        if self.binding.points is not None:
            self.binding.points.editable = True
        if self.binding.labels is not None:
            self.binding.labels.refresh()
        self.flags = quality_flags(self.scores)
        if not self._planned:
            return None
        done = len(self._frames)
        if state == "done" and done < self._total:
            state = "cancelled"
        return RunProgress(done, self._total, 0.0, state)

    # -- previews and edits ---------------------------------------------------------------------
    def previewed(self, message: Previewed) -> None:
        history = RunHistory(self.binding.labels)
        if message.result is None:
            index = self.binding.plane_index(message.key[1], message.held)
            history.write(index, erase_object(np.asarray(self.binding.labels.data[index]), message.key[0]))
            self.scores.get(message.key[1], {}).pop(message.key[0], None)
        else:
            self._write(message.result, message.held, history)
            self._keep_scores(message.result)
        history.commit()
        self.binding.labels.refresh()

    def erase(self, obj: int) -> None:
        """Remove ``obj`` from every plane of the labels (one undo step)."""
        labels = self.binding.labels
        if labels is None:
            return
        history = RunHistory(labels)
        for index in np.ndindex(*labels.data.shape[:-2]):
            plane = np.asarray(labels.data[index])
            if (plane == obj).any():
                history.write(index, erase_object(plane, obj))
        history.commit()
        labels.refresh()
        for per_frame in self.scores.values():
            per_frame.pop(obj, None)

    def _write(self, result, held, history: RunHistory) -> None:
        index = self.binding.plane_index(result.frame, held)
        plane = np.array(self.binding.labels.data[index])
        merge_result(plane, result)
        history.write(index, plane)
        self.binding.labels.refresh()

    def _keep_scores(self, result) -> None:
        per_frame = self.scores.setdefault(result.frame, {})
        for obj, score in zip(result.object_ids, result.scores):
            if np.isneginf(score):  # erased there (a mother after her division), not lost
                per_frame.pop(int(obj), None)
            else:
                per_frame[int(obj)] = float(score)
