"""The "All cells" part of the tracker's facade: seeds, the population run, corrections
of its lineage, and its exports.

:class:`PopulationActions` is mixed into :class:`~._controller.TrackerController`; it uses
the controller's parts (layer binding, worker, writer, population view, lineage editor)
and adds no state of its own.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..core.errors import Sam2InputError
from ._lineage_edits import DivisionRequest
from ._notify import notify
from ._population import EVERYTHING
from ._run_history import undo_history
from ._serial_worker import Task


class PopulationActions:
    """Seeds, one run for every cell, lineage corrections that follow undo, CTC and GEFF."""

    def track_summary(self, obj: int) -> str:
        """``frames 3–20, daughter of 1`` for a track of a population run; empty otherwise."""
        track = self.population.lineage.tracks.get(obj)
        if track is None:
            return ""
        parent = f", daughter of {self.objects.name(track.parent)}" if track.parent else ""
        return f"frames {track.first}–{track.last}{parent}"

    def preview_seeds(self, seeder: str) -> int:
        """Find the cells to track on the current frame and show them; returns how many.

        ``seeder`` is the threshold seeder's name, a Labels layer's name, or SAM 2's own
        (which needs the model: it runs on the worker, returns 0 at once, and
        ``events.seeds`` says how many it found).
        """
        frame, source = self.binding.current_frame(), self.binding.source(self._roi)
        if seeder == EVERYTHING:
            self.population.check_image()
            self._submit(Task("preview", functools.partial(self.owner.everything_task, source, self.settings, frame)))
            return 0
        found = self.population.preview(seeder, frame, source)
        self.events.seeds.emit(found)
        return found

    def track_all(self, *, redetect_every: int = 0, redetect_frames=(), divisions: bool = True) -> None:
        """Track every previewed seed forward from its frame, with new cells and divisions."""
        if self.propagating:
            notify("A propagation is already running.")
            return
        source = self.binding.source(self._roi)
        request = self.population.request(
            source, redetect_every=redetect_every, redetect_frames=redetect_frames, divisions=divisions
        )
        self.objects.ensure(sorted(request.seeds))
        self.writer.reserve_run()
        self.runs.append({"direction": "population", "start": request.frame, "redetect_every": redetect_every})
        self.population.start()
        self._submit(Task("propagate", functools.partial(self.owner.population_task, source, self.settings, request)))

    # -- lineage corrections ------------------------------------------------------------------
    def begin_division(self) -> None:
        """The selected cell divides on this frame: the next two clicks are its daughters."""
        self.events.pick.emit(self.editor.begin_division(self._selected_cell(), self.binding.current_frame()))

    def begin_join(self) -> None:
        """The next click picks the cell that continues the selected one."""
        self.events.pick.emit(self.editor.begin_join(self._selected_cell()))

    def cancel_pick(self) -> None:
        self.editor.cancel()
        self.events.pick.emit("")

    def undo_division(self) -> None:
        """The selected cell's division (as mother or daughter) did not happen: one undo step."""
        before = set(self.population.lineage.tracks)
        self.editor.undo_division(self._selected_cell())
        self._lineage_changed(before)

    def _selected_cell(self) -> int:
        if self.propagating:
            raise Sam2InputError("Wait for the run to end (or cancel it) before correcting the lineage.")
        if self.objects.selected is None:
            raise Sam2InputError("Select the cell in the object list first.")
        return self.objects.selected

    def _take_pick(self, coords) -> None:
        before = set(self.population.lineage.tracks)
        outcome = self.editor.take_click(coords, self.population.options())
        if outcome is None:
            self.events.pick.emit(f"Now click the second daughter on frame {self.editor.pick.frame}.")
            return
        self.events.pick.emit("")
        if isinstance(outcome, DivisionRequest):
            self.writer.reserve_run()
            self.runs.append({"direction": "division", "start": outcome.frame, "mother": outcome.mother})
            self.population.start(continuing=True)
            task = functools.partial(self.owner.division_task, self.binding.source(self._roi), self.settings, outcome)
            self._submit(Task("propagate", task))
        else:
            self._lineage_changed(before)

    def _watch_labels(self) -> None:
        labels = self.binding.labels
        if labels is self._watched:
            return
        if self._watched is not None:
            self._watched.events.set_data.disconnect(self._on_labels_set)
            self._watched.events.selected_label.disconnect(self._on_label_picked)
        self._watched = labels
        if labels is not None:
            labels.events.set_data.connect(self._on_labels_set)
            labels.events.selected_label.connect(self._on_label_picked)

    def _on_label_picked(self, event=None) -> None:
        """A cell picked with napari's label picker (or its label chosen) is selected here too."""
        obj = int(self.binding.labels.selected_label)
        if obj in self.objects:
            self.objects.select(obj)

    def _on_labels_set(self, event=None) -> None:
        """Labels replaced wholesale: after an undo or redo, the lineage follows."""
        if self._closed or self.propagating or self.binding.labels is None:
            return
        before = set(self.population.lineage.tracks)
        if self.population.follow_undo(undo_history(self.binding.labels)):
            self._lineage_changed(before)

    def _lineage_changed(self, before: set[int]) -> None:
        """The lineage changed on the main thread: the objects, the session and the widgets follow."""
        after = set(self.population.lineage.tracks)
        in_layers = set(self.binding.object_ids_in_layers())
        for obj in sorted(before - after - in_layers):
            self.objects.remove(obj)
        self.objects.ensure(sorted(after))
        task = functools.partial(self.owner.lineage_task, self.population.lineage.as_dict())
        self._jobs.submit(Task("edit", task))
        self.events.lineage.emit()

    # -- exports --------------------------------------------------------------------------------
    def export_ctc(self, folder: Path) -> Path:
        """The population's labels and lineage as a Cell Tracking Challenge result folder."""
        return self.population.export_ctc(Path(folder))

    def export_geff(self, path: Path) -> Path:
        return self.population.export_geff(Path(path))
