"""The user's corrections of a population's lineage, on the main thread.

* **Divide…**: the selected cell divides on the current frame. The next two clicks on the
  canvas are its daughters (not prompts). The controller then runs a worker task that ends
  the mother, starts each daughter from her click and tracks both forward: one run, with
  progress, cancel and one Ctrl-Z.
* **Undo division** and **Join…** change only labels and lineage, at once: the daughters'
  pixels (or the later track's) take the mother's id (or the earlier track's). One undo
  step each; the lineage follows Ctrl-Z (:meth:`PopulationView.follow_undo`).

A cell tracked by clicks rather than by a population run has no track yet: its first and
last frame are read from the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import Sam2InputError
from ..core.lineage import Lineage, Relabel
from ..core.prompts import Point
from ._run_history import RunHistory

DIVIDE, JOIN = "divide", "join"


@dataclass(frozen=True)
class DivisionRequest:
    """What the worker needs for a division marked by hand."""

    mother: int
    frame: int
    daughters: tuple[list[Point], list[Point]]  # the clicks of each daughter, full-frame (y, x)
    lineage: list[dict]  # the lineage it corrects, as ``Lineage.as_dict()`` rows
    options: object  # core.population.PopulationOptions for the daughters' run


@dataclass
class Pick:
    """Clicks being collected for a correction."""

    kind: str  # DIVIDE or JOIN
    cell: int
    frame: int
    clicks: list[Point] = field(default_factory=list)


class LineageEditor:
    """Collects a correction's clicks and applies the corrections that need no model."""

    def __init__(self, binding, population, name) -> None:
        self.binding, self.population, self._name = binding, population, name
        self.pick: Pick | None = None

    @property
    def picking(self) -> bool:
        return self.pick is not None

    def cancel(self) -> None:
        self.pick = None

    # -- starting a pick ------------------------------------------------------------------------
    def begin_division(self, cell: int, frame: int) -> str:
        """Wait for two daughter clicks; refuses at once a frame where ``cell`` cannot divide."""
        self.population.check_image()
        lineage = self.lineage_with(cell)
        spare = max(lineage.tracks) + 1
        lineage.divide(cell, frame, (spare, spare + 1))  # a copy: only to check the frame
        self.pick = Pick(DIVIDE, cell, frame)
        return f"Click the first daughter of {self._name(cell)} on frame {frame}."

    def begin_join(self, cell: int) -> str:
        """Wait for one click on the cell that continues ``cell``."""
        self.population.check_image()
        track = self.lineage_with(cell).tracks[cell]
        self.pick = Pick(JOIN, cell, track.last)
        return f"Go to a frame after {track.last} and click the cell that continues {self._name(cell)}."

    def lineage_with(self, *cells: int) -> Lineage:
        """A copy of the lineage with a track for each of ``cells`` (from the labels if need be)."""
        lineage = self.population.lineage.copy()
        for cell in cells:
            if cell in lineage:
                continue
            frames = [f for f in range(self.binding.frame_count()) if (self._plane(f) == cell).any()]
            if not frames:
                raise Sam2InputError(f"{self._name(cell)} has no labels yet: track it first.")
            lineage.start(cell, frames[0])
            lineage.end(cell, frames[-1])
        return lineage

    # -- a click --------------------------------------------------------------------------------
    def take_click(self, coords, options) -> DivisionRequest | int | None:
        """One click of the pick. Returns a :class:`DivisionRequest` once both daughters are
        clicked, the absorbed cell's id once a join is done, or None while waiting."""
        pick = self.pick
        frame = self.binding.current_frame()
        y, x = float(coords[-2]), float(coords[-1])
        if pick.kind == JOIN:
            return self._join_at(pick.cell, frame, y, x)
        if frame != pick.frame:
            raise Sam2InputError(f"Click both daughters on frame {pick.frame}, where the division was marked.")
        pick.clicks.append(Point(y, x))
        if len(pick.clicks) < 2:
            return None
        self.pick = None
        from ..core.population import PopulationOptions

        lineage = self.lineage_with(pick.cell).as_dict()
        daughters = ([pick.clicks[0]], [pick.clicks[1]])
        return DivisionRequest(pick.cell, pick.frame, daughters, lineage, options or PopulationOptions())

    def _join_at(self, cell: int, frame: int, y: float, x: float) -> int:
        plane = self._plane(frame)
        row, col = int(np.clip(round(y), 0, plane.shape[0] - 1)), int(np.clip(round(x), 0, plane.shape[1] - 1))
        later = int(plane[row, col])
        if not later or later == cell:
            raise Sam2InputError(f"Click on another cell, on a frame after {self._name(cell)} ends.")
        lineage = self.lineage_with(cell, later)
        relabel = lineage.join(cell, later)
        self.pick = None
        self._apply(lineage, relabel)
        return later

    # -- corrections without the model ----------------------------------------------------------
    def undo_division(self, cell: int) -> list[int]:
        """The division that made (or that made from) ``cell`` did not happen; returns the
        daughters whose labels went back to the mother."""
        lineage = self.lineage_with(cell)
        relabel = lineage.undo_division(cell)
        self._apply(lineage, relabel)
        return sorted(relabel.mapping)

    def _apply(self, lineage: Lineage, relabel: Relabel) -> None:
        labels = self.binding.labels
        history = RunHistory(labels)
        for frame in range(relabel.first, self.binding.frame_count()):
            plane = self._plane(frame)
            history.write(self.binding.plane_index(frame), relabel.apply(plane, frame))
        item = history.commit()
        labels.refresh()
        if item is None:
            raise Sam2InputError("These cells have no labels to change.")
        self.population.edited(lineage, item)

    def _plane(self, frame: int) -> np.ndarray:
        return np.asarray(self.binding.labels.data[self.binding.plane_index(frame)])
