"""The "All cells" actions: seeds, the population run, corrections of its lineage, exports.

:class:`PopulationActions` works through the tracker's public parts (its state, layers,
worker, writer, population view and lineage editor) and keeps no state of its own; the
widgets reach it as ``controller.cells``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..core.errors import Sam2InputError
from ._lineage_edits import DivisionRequest
from ._notify import notify
from ._replies import seeds_text
from ._run_history import undo_history
from ._serial_worker import Task
from ._settings import SAM_SEEDS


class PopulationActions:
    """Seeds, one run for every cell, lineage corrections that follow undo, CTC and GEFF."""

    def __init__(self, tracker) -> None:
        self.tracker = tracker  # the TrackerController: its public parts only

    @property
    def _source(self):
        return self.tracker.binding.source(self.tracker.state.roi)

    def track_summary(self, obj: int) -> str:
        """``frames 3–20, daughter of 1`` for a track of a population run; empty otherwise."""
        track = self.tracker.population.lineage.tracks.get(obj)
        if track is None:
            return ""
        parent = f", daughter of {self.tracker.objects.name(track.parent)}" if track.parent else ""
        return f"frames {track.first}–{track.last}{parent}"

    def preview_seeds(self, seeder: str) -> int:
        """Find the cells to track on the current frame and show them; returns how many.

        ``seeder`` is ``threshold``, ``sam`` or a Labels layer's name. SAM 2's seeds need the
        model: they are found on the worker, 0 is returned at once, and ``events.seeds``
        says what was found.
        """
        tracker = self.tracker
        frame, source, population = tracker.binding.current_frame(), self._source, tracker.population
        if seeder == SAM_SEEDS:
            population.check_image()
            population.preview_id += 1
            task = functools.partial(
                tracker.owner.everything_task, source, tracker.state.settings, frame, population.preview_id
            )
            tracker.submit(Task("preview", task))
            tracker.events.seeds.emit(f"SAM 2 is segmenting frame {frame} …")
            return 0
        found = population.preview(seeder, frame, source)
        tracker.events.seeds.emit(seeds_text(found, frame))
        return found

    def track_all(self, *, redetect_every: int = 0, redetect_frames=(), divisions: bool = True) -> None:
        """Track every previewed seed forward from its frame, with new cells and divisions."""
        tracker = self.tracker
        if tracker.propagating:
            notify("A run is already going on.")
            return
        source = self._source
        request = tracker.population.request(
            source, redetect_every=redetect_every, redetect_frames=redetect_frames, divisions=divisions
        )
        tracker.objects.ensure(sorted(request.seeds))
        tracker.writer.reserve_run()
        tracker.state.workspace.run_log.append(
            {"direction": "population", "start": request.frame, "redetect_every": redetect_every}
        )
        tracker.population.start()
        tracker.population.hide_seeds()
        task = functools.partial(tracker.owner.population_task, source, tracker.state.settings, request)
        tracker.submit(Task("population", task))

    # -- lineage corrections ------------------------------------------------------------------
    def begin_division(self) -> None:
        """The selected cell divides on this frame: the next two clicks are its daughters."""
        tracker = self.tracker
        tracker.events.pick.emit(tracker.editor.begin_division(self._selected_cell(), tracker.binding.current_frame()))

    def begin_join(self) -> None:
        """The next click picks the cell that continues the selected one."""
        self.tracker.events.pick.emit(self.tracker.editor.begin_join(self._selected_cell()))

    def cancel_pick(self) -> None:
        self.tracker.editor.cancel()
        self.tracker.events.pick.emit("")

    def undo_division(self) -> None:
        """The selected cell's division (as mother or daughter) did not happen: one undo step."""
        before = set(self.tracker.population.lineage.tracks)
        self.tracker.editor.undo_division(self._selected_cell())
        self._lineage_changed(before, "an undone division")

    def _selected_cell(self) -> int:
        tracker = self.tracker
        if tracker.propagating:
            raise Sam2InputError("Wait for the run to end (or cancel it) before correcting the lineage.")
        if tracker.objects.selected is None:
            raise Sam2InputError("Select the cell in the object list first.")
        return tracker.objects.selected

    def take_pick(self, coords) -> None:
        """A canvas click while a correction waits for one."""
        tracker = self.tracker
        before = set(tracker.population.lineage.tracks)
        outcome = tracker.editor.take_click(coords, tracker.population.options())
        if outcome is None:
            tracker.events.pick.emit(f"Now click the second daughter on frame {tracker.editor.pick.frame}.")
            return
        tracker.events.pick.emit("")
        if isinstance(outcome, DivisionRequest):
            tracker.writer.reserve_run()
            tracker.state.workspace.run_log.append(
                {"direction": "division", "start": outcome.frame, "mother": outcome.mother}
            )
            tracker.population.start(continuing=True)
            task = functools.partial(tracker.owner.division_task, self._source, tracker.state.settings, outcome)
            tracker.submit(Task("division", task))
        else:
            self._lineage_changed(before, "a join of two tracks")

    def label_picked(self, event=None) -> None:
        """A cell picked with napari's label picker (or its label chosen) is selected here too."""
        tracker = self.tracker
        if tracker.binding.labels is None:
            return
        obj = int(tracker.binding.labels.selected_label)
        if obj in tracker.objects:
            tracker.objects.select(obj)

    def follow_undo(self) -> None:
        """After an undo or redo: the lineage of the newest version still in the history."""
        tracker = self.tracker
        before = set(tracker.population.lineage.tracks)
        if tracker.population.follow_undo(undo_history(tracker.binding.labels)):
            self._lineage_changed(before)

    def _lineage_changed(self, before: set[int], edit: str | None = None) -> None:
        """The lineage changed on the main thread: the objects, the session and the widgets follow."""
        tracker = self.tracker
        lineage = tracker.population.lineage
        if edit is not None:
            versions = tracker.state.workspace.versions
            tracker.state.workspace.history.elsewhere(edit, versions[-1][0] if versions else None)
        after = set(lineage.tracks)
        in_layers = set(tracker.binding.object_ids_in_layers())
        for obj in sorted(before - after - in_layers):
            tracker.objects.remove(obj)
        tracker.objects.ensure(sorted(after))
        tracker.jobs.submit(Task("edit", functools.partial(tracker.owner.lineage_task, lineage.as_dict())))
        tracker.events.lineage.emit()

    # -- exports --------------------------------------------------------------------------------
    def export_ctc(self, folder: Path) -> Path:
        """The population's labels and lineage as a Cell Tracking Challenge result folder."""
        written = self.tracker.population.export_ctc(Path(folder))
        self.tracker.events.done.emit(f"Exported the CTC result folder {written}")
        return written

    def export_geff(self, path: Path) -> Path:
        written = self.tracker.population.export_geff(Path(path))
        self.tracker.events.done.emit(f"Exported the lineage graph {written}")
        return written
