"""Writing results into the Labels layer: previews, runs, progress, undo and quality flags.

* **A run is bound to the layer it started with.** Its frames go into that layer only; if
  the layer leaves the viewer mid-run, the rest of the run is dropped (the controller stops
  it), never written into a layer made since.
* **One undo step per run.** A run's frames go through one :class:`RunHistory`, committed
  when the run ends however it ends (done, cancelled, failed). Painting is locked during a
  run without clearing napari's history (:class:`PaintLock`). A preview is its own step.
* **One overlap rule.** Results are merged by :class:`~napari_sam2.core.labels.LabelMerger`
  (kept in the workspace), as ``napari-sam2 track`` merges them.
* **Runs still in the layer.** The undo item of each run is kept; a run whose item is no
  longer in the layer's undo history was undone, and its frames must be tracked again.
* **Progress in frames the user sees.** A frame written twice in a run (the start frame of
  *Both*) counts once; a resumed run counts the frames done before; the time left is said
  once two frames have been timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core.labels import erase_object
from ..core.quality import quality_flags
from ._layer_source import world_axis
from ._messages import FrameTracked, Previewed, RunPlanned
from ._paint_lock import PaintLock
from ._run_history import RunHistory, in_undo_history, undo_history


@dataclass(frozen=True)
class RunProgress:
    done: int
    total: int
    seconds_left: float | None  # None: not estimated yet
    state: str = "running"  # running, done, cancelled, stopped or failed

    def text(self) -> str:
        where = f"frame {self.done} of {self.total}"
        if self.state == "done":
            return f"{where} — done"
        if self.state == "cancelled":
            return f"Cancelled after {where}: press the same button to resume"
        if self.state == "failed":
            return f"Stopped after {where}: the frames done are kept"
        if self.state == "stopped":
            return f"Stopped after {where}: its labels layer was deleted"
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
    fresh = [o for o in plan.objects if o not in plan.changed]
    parts = []
    if fresh:
        parts.append(f"Tracking {names(fresh)}" + (" alone" if plan.up_to_date and not plan.changed else ""))
    if plan.changed:
        its = "its" if len(plan.changed) == 1 else "their"
        parts.append(f"{'re-tracking' if fresh else 'Re-tracking'} {names(plan.changed)}: {its} prompts changed")
    if plan.up_to_date:
        verb = "it is" if len(plan.up_to_date) == 1 else "they are"
        parts.append(f"{names(plan.up_to_date)} already tracked and left as {verb}")
    if plan.resumed:
        parts.append(f"resuming: {plan.resumed} frames already done")
    return "; ".join(parts) + "."


class RunWriter:
    """Main thread: applies preview and run results to the Labels layer."""

    def __init__(self, binding, state, notify) -> None:
        self.binding, self.state, self._notify = binding, state, notify
        self.follow = False  # move the viewer to each frame as it is written
        self._next_run = 1
        self._history: RunHistory | None = None
        self._lock: PaintLock | None = None
        self._layer = None  # the Labels layer the running run writes into
        self._bar = None
        self._frames: set[int] = set()
        self._total = self._resumed = 0
        self._first_done = 0.0
        self._planned = False
        self._contest = True  # the run's masks contest other objects' pixels by score
        self.run_id: int | None = None

    @property
    def workspace(self):
        return self.state.workspace

    @property
    def flags(self) -> list:
        return self.workspace.flags

    @property
    def scores(self) -> dict[int, dict[int, float]]:
        return self.workspace.scores

    def valid_runs(self) -> frozenset[int]:
        """Runs whose labels are still in the layer: their undo item was not undone."""
        layer = self.binding.labels
        if layer is None:
            return frozenset()
        history = undo_history(layer)
        return frozenset(run for run, item in self.workspace.runs.items() if in_undo_history(item, history))

    @property
    def last_item(self):
        """The undo item of the run that ended last (None: it changed nothing)."""
        return self.workspace.runs.get(self.run_id)

    @property
    def running_layer(self):
        """The Labels layer of the run going on (None when no run goes on)."""
        return self._layer

    # -- a run --------------------------------------------------------------------------------
    def reserve_run(self) -> int:
        """The id of the next run (its frames are recorded under it by the worker)."""
        self.run_id, self._next_run = self._next_run, self._next_run + 1
        return self.run_id

    def begin(self, *, contest: bool = True) -> None:
        """A run starts (``contest``: see :meth:`~napari_sam2.core.labels.LabelMerger.merge`)."""
        labels = self._layer = self.binding.labels
        self._contest = contest
        self._planned = False
        self._history = RunHistory(labels)
        self._frames, self._total, self._resumed = set(), 0, 0
        self._lock = PaintLock(labels, self._notify)
        self._lock.lock()  # not editable=False: napari would clear the undo history
        if self.binding.points is not None:
            self.binding.points.editable = False

    def planned(self, plan: RunPlanned) -> RunProgress:
        from napari.utils import progress

        self._total, self._resumed, self._planned = plan.frames, plan.resumed, True
        self._bar = progress(total=plan.frames, desc="SAM 2 propagation")
        return RunProgress(plan.resumed, plan.frames + plan.resumed, None)

    def layer_alive(self) -> bool:
        """The run's layer is still the tracker's labels, in the viewer."""
        layer = self._layer
        return layer is not None and layer is self.binding.labels and layer in self.binding.viewer.layers

    def frame_tracked(self, message: FrameTracked) -> RunProgress | None:
        if not self.layer_alive():
            return None  # the layer went mid-run: nothing is written elsewhere
        frame = message.result.frame
        self._write(message.result, message.held, self._history, contest=self._contest)
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
        return RunProgress(done + self._resumed, self._total + self._resumed, seconds)

    def end(self, state: str) -> RunProgress | None:
        """Commit the run as one undo step, unlock painting, update the flags.

        Returns the final progress, or None for a run that failed before its plan."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        alive = self.layer_alive()
        if self._history is not None and alive:
            item = self._history.commit()
            if item is not None:
                self.workspace.runs[self.run_id] = item
        self._history = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        if self.binding.points is not None:
            self.binding.points.editable = True
        if alive:
            self._layer.refresh()
        self._layer = None
        self.workspace.flags = quality_flags(self.scores)
        if not self._planned:
            return None
        done = len(self._frames)
        if not alive:
            state = "stopped"
        elif state == "done" and done < self._total:
            state = "cancelled"
        return RunProgress(done + self._resumed, self._total + self._resumed, 0.0, state)

    # -- previews and edits ---------------------------------------------------------------------
    def previewed(self, message: Previewed):
        """Write a preview (one undo step); returns its undo item (None: nothing changed)."""
        history = RunHistory(self.binding.labels)
        obj, frame = message.key
        if message.result is None:
            index = self.binding.plane_index(frame, message.held)
            history.write(index, erase_object(np.asarray(self.binding.labels.data[index]), obj))
            self.workspace.merger.cleared(obj, frame)
        else:
            self._write(message.result, message.held, history)
        item = history.commit()
        self.binding.labels.refresh()
        return item

    def erase(self, obj: int):
        """Remove ``obj`` from every plane of the labels (one undo step); returns the item."""
        labels = self.binding.labels
        self.workspace.merger.forget(obj)
        if labels is None:
            return None
        history = RunHistory(labels)
        for index in np.ndindex(*labels.data.shape[:-2]):
            plane = np.asarray(labels.data[index])
            if (plane == obj).any():
                history.write(index, erase_object(plane, obj))
        item = history.commit()
        labels.refresh()
        return item

    def _write(self, result, held, history: RunHistory, *, contest: bool = True) -> None:
        labels = history.layer
        index = self.binding.plane_index(result.frame, held)
        plane = self.workspace.merger.merge(np.array(labels.data[index]), result, contest=contest)
        history.write(index, plane)
        labels.refresh()
