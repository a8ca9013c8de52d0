"""Recording the session's history as it happens, for ``napari-sam2 track`` to replay.

Every step the worker took (prompts given, a mask prompt, an object removed, a run's passes)
is recorded with the undo item of what it wrote into the labels. Whether a step's labels are
still there is read from the Labels layer's undo and redo histories each time they change:
an item in the undo history is applied, one in the redo history was undone; an item in
neither keeps its last state (napari drops the oldest undo items, and a new edit empties
the redo history). Undo items the tracker did not make are the user's painting, which no
history can repeat: an export says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.history import MaskStep, PromptStep, RemoveStep, RunStep, Segment, SessionHistory
from ._run_history import in_undo_history, redo_history, undo_history


class HistoryRecorder:
    def __init__(self) -> None:
        self.steps: list = []
        self.items: list = []  # the undo item of each step (None: it wrote nothing)
        self.masks: list[np.ndarray] = []
        self._applied: dict[int, bool] = {}  # id of an item's first atom -> applied
        self._others: list = []  # undo items of the tracker's steps that no history holds
        self.unreplayable: list[str] = []
        self.run: RunStep | None = None
        self._run_index = -1

    # -- recording ------------------------------------------------------------------------------
    def segment(self, settings: dict) -> None:
        self.steps.append(Segment(dict(settings)))
        self.items.append(None)

    def prompts(self, obj: int, frame: int, key: tuple, *, item=None, write: bool = True) -> None:
        """The session took the prompt group with this key (``PromptGroup.key()``)."""
        points, box = key
        rows = [[p.y, p.x, bool(p.positive)] for p in points]
        self._add(PromptStep(obj, frame, rows, list(box) if box is not None else None, write), item)

    def mask(self, obj: int, frame: int, mask: np.ndarray, item=None) -> None:
        self.masks.append(np.asarray(mask, bool))
        self._add(MaskStep(obj, frame, len(self.masks) - 1), item)

    def remove(self, obj: int, item=None) -> None:
        self._add(RemoveStep(obj), item)

    def run_started(self, objects) -> None:
        self.run = RunStep(sorted(int(o) for o in objects))
        self._run_index = len(self.steps)
        self._add(self.run, None)

    def pass_started(self, direction: str, start: int, frame_range) -> None:
        if self.run is not None:
            bounds = list(frame_range) if frame_range is not None else None
            self.run.passes.append({"direction": direction, "start": start, "frame_range": bounds, "frames": 0})

    def frame_done(self) -> None:
        if self.run is not None and self.run.passes:
            self.run.passes[-1]["frames"] += 1

    def run_ended(self, item) -> None:
        if self.run is not None:
            self.items[self._run_index] = item
            self._known(item)
        self.run = None

    def elsewhere(self, reason: str, item=None) -> None:
        """A tracker step no history repeats (a population run, a lineage correction)."""
        if reason not in self.unreplayable:
            self.unreplayable.append(reason)
        if item is not None:
            self._others.append(item)

    def _add(self, step, item) -> None:
        self.steps.append(step)
        self.items.append(item)
        self._known(item)

    def _known(self, item) -> None:
        if item is not None:
            self._applied[id(item[0])] = True

    # -- undo and redo --------------------------------------------------------------------------
    def follow(self, layer) -> None:
        """Read which items are applied from ``layer``'s undo and redo histories."""
        undo, redo = undo_history(layer), redo_history(layer)
        for item in self.items:
            if item is None:
                continue
            if in_undo_history(item, undo):
                self._applied[id(item[0])] = True
            elif in_undo_history(item, redo):
                self._applied[id(item[0])] = False

    def applied(self, item) -> bool:
        return item is None or self._applied.get(id(item[0]), True)

    def hand_edits(self, layer) -> int:
        """Undo steps in ``layer`` that the tracker did not make (painting by hand)."""
        ours = [i for i in self.items if i is not None] + self._others
        return sum(1 for entry in undo_history(layer) if not any(in_undo_history(item, [entry]) for item in ours))

    # -- export ---------------------------------------------------------------------------------
    def export(self, layer) -> SessionHistory:
        """The history as ``track`` replays it, each step marked applied or undone."""
        if layer is not None:
            self.follow(layer)
        steps = [
            step if isinstance(step, Segment) else replace(step, applied=self.applied(item))
            for step, item in zip(self.steps, self.items)
        ]
        missing = list(self.unreplayable)
        edits = self.hand_edits(layer) if layer is not None else 0
        if edits:
            missing.append(f"{edits} hand edit{'s' if edits > 1 else ''} of the labels (painting)")
        return SessionHistory(steps, list(self.masks), missing)

    def is_empty(self) -> bool:
        return not any(not isinstance(s, Segment) for s in self.steps)
