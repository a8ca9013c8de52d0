"""The tracker behind the widget: it wires layers, one worker and the labels together.

* **Two threads, one owner each.** The model and the session live on the worker thread in a
  :class:`SessionOwner`; layers live on the main thread (:class:`LayerBinding`). What
  crosses is a task (submitted here, run in order by a :class:`SerialWorker`) or a message
  (:mod:`._messages`), delivered to this class's ``on_*`` handler for its type.
* **Prompts live in layers** and are kept in step with the session by :class:`PromptSync`.
* **Results are written** by a :class:`RunWriter`: one undo step per run, painting locked
  without losing napari's history, progress, quality flags.
* **Frames are encoded ahead** whenever the worker is idle, so clicks and propagation skip
  the image encoder.
* **Populations** are seeded, tracked and exported through :class:`PopulationView`; their
  lineage is corrected through :class:`LineageEditor`, and follows the labels' undo.
* **Widgets** connect to :attr:`events` and use the methods of :class:`~._api.TrackerApi`.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.errors import Sam2Error, Sam2InputError
from ..core.models import ModelLoader
from . import _actions
from ._api import TrackerEvents
from ._layer_source import world_axis
from ._layers import LayerBinding
from ._lineage_edits import LineageEditor
from ._messages import (
    Inbox,
    TaskEnded,
    TaskStarted,
)
from ._notify import notify
from ._objects import ObjectRegistry
from ._population import PopulationView
from ._population_actions import PopulationActions
from ._prompt_sync import PromptSync
from ._replies import WorkerReplies
from ._run_writer import RunWriter
from ._serial_worker import SerialWorker, Task
from ._session_owner import PropagateRequest, SessionOwner
from ._settings import TrackerSettings


class TrackerController(PopulationActions):
    """State and actions behind the SAM 2 tracker widget (see :class:`~._api.TrackerApi`)."""

    def __init__(self, viewer, *, loader: ModelLoader | None = None) -> None:
        self.viewer = viewer
        self.events = TrackerEvents()
        self.settings = TrackerSettings()
        self.objects = ObjectRegistry()
        self.binding = LayerBinding(viewer, self._on_prompts_changed, undo=self.undo, redo=self.redo)
        self.writer = RunWriter(self.binding, notify)
        self.owner = SessionOwner(loader or ModelLoader())
        self.prompts = PromptSync()
        self.population = PopulationView(self.binding)
        self.editor = LineageEditor(self.binding, self.population, self.objects.name)
        self._watched = None  # the Labels layer whose undo the lineage follows
        self.loaded = None  # the main thread's copy, from ModelLoaded
        self.record = None  # model and input of the current session, from SessionOpened
        self.runs: list[dict] = []  # direction, start and range of each run, for provenance
        self._roi: tuple[int, int, int, int] | None = None
        self.mask_prompts: set[tuple[int, int]] = set()  # (object, frame) of painted-mask prompts
        self._inbox = Inbox(WorkerReplies(self))
        self._jobs = SerialWorker(self._deliver, self._deliver_start, self._deliver_end)
        self._closed = False
        self.objects.changed.connect(self._on_objects_changed)

    # -- read-only views ------------------------------------------------------------------------
    image_layer = property(lambda self: self.binding.image)
    labels_layer = property(lambda self: self.binding.labels)
    points_layer = property(lambda self: self.binding.points)
    shapes_layer = property(lambda self: self.binding.shapes)
    frame_axis = property(lambda self: self.binding.frame_axis)
    roi = property(lambda self: self._roi)

    @property
    def propagating(self) -> bool:
        """True while a propagation runs (previews queue; propagation blocks clicks)."""
        return self._jobs.kind == "propagate"

    @property
    def idle(self) -> bool:
        return self._jobs.idle

    @property
    def model_status(self) -> str:
        if self.loaded is None:
            return "model not loaded"
        loaded = self.loaded
        return f"{loaded.model_id} on {loaded.device}" + (" — random weights!" if loaded.is_random else "")

    def frame_count(self) -> int:
        return self.binding.frame_count()

    # -- image, labels, region ------------------------------------------------------------------
    def set_image_layer(self, layer, frame_axis: int | None = None) -> None:
        """Track in ``layer`` (a stack, or a 2-D image as one frame) along ``frame_axis``."""
        if self.binding.bind_image(layer, frame_axis):
            self.objects.clear()
        self._watch_labels()
        self._adopt_objects()
        self._new_session()
        self.events.image.emit(self.binding.frame_count())

    def _adopt_objects(self) -> None:
        """Objects already in the prompt and label layers (a reopened tracker keeps them)."""
        self.objects.ensure(self.binding.object_ids_in_layers())

    def use_labels_layer(self, layer) -> None:
        self.binding.use_labels(layer)
        self._watch_labels()

    def recover_layers(self) -> list[str]:
        """After the user deleted layers: returns the names of the prompt layers recreated
        (with their prompts). A deleted image stops its work; deleted labels are replaced."""
        image_gone, recreated = self.binding.recover()
        if image_gone:
            self._jobs.cancel()
            self._new_session()
        self._watch_labels()
        self.binding.colour_points(self.colour)
        return recreated

    def add_region_layer(self):
        """A 2-D Shapes layer (shown on every frame) in rectangle mode, for the region of interest."""
        return self.binding.region_layer()

    def use_region(self) -> tuple[int, int, int, int]:
        """Track inside the last rectangle of the region layer; prompts are previewed again."""
        roi = self.binding.drawn_region()
        self.binding.source(roi)  # a region that is too small or outside the image fails here
        self._roi = roi
        self._resend_prompts()
        return roi

    def clear_region(self) -> None:
        self._roi = None
        self._resend_prompts()

    def _new_session(self) -> None:
        self.settings = replace(self.settings, generation=self.settings.generation + 1)
        self.prompts.reset()
        self.mask_prompts = set()

    def _resend_prompts(self) -> None:
        self._new_session()
        self._on_prompts_changed()

    # -- model and caching ----------------------------------------------------------------------
    def set_model(self, spec: str, device: str = "auto") -> None:
        if (spec, device) != self.settings.model_key():
            self.settings = replace(self.settings, model_spec=spec, device=device)
            self.loaded = None
            self._new_session()

    def load_model(self) -> None:
        """Load (and on first use download) the model in the background."""
        self._jobs.submit(Task("load", functools.partial(self.owner.load_task, self.settings)))

    def use_loaded_model(self, loaded) -> None:
        """Use a model already in memory (tests, benchmarks, scripts)."""
        self._jobs.submit(Task("load", functools.partial(self.owner.load_task, self.settings, loaded)))

    def set_caching(self, *, encode_ahead: bool | None = None, disk_cache: bool | None = None) -> None:
        """Switch encoding ahead and the on-disk feature cache (a new session uses it)."""
        if encode_ahead is not None:
            self.settings = replace(self.settings, encode_ahead=bool(encode_ahead))
            self.schedule_encode_ahead()
        if disk_cache is not None and bool(disk_cache) != self.settings.disk_cache:
            self.settings = replace(self.settings, disk_cache=bool(disk_cache))
            self._resend_prompts()

    def set_follow(self, follow: bool) -> None:
        """Show each frame as it is tracked."""
        self.writer.follow = bool(follow)

    # -- objects --------------------------------------------------------------------------------
    def add_object(self, name: str | None = None) -> int:
        """A new object whose id is not used in the Labels layer yet; it becomes selected."""
        labels = self.binding.labels
        used = int(np.max(labels.data)) if labels is not None and labels.data.size else 0
        return self.objects.add(above=used, name=name)

    def select_object(self, obj: int) -> None:
        self.objects.select(obj)

    def rename_object(self, obj: int, name: str) -> None:
        self.objects.rename(obj, name)

    def _on_objects_changed(self) -> None:
        obj = self.objects.selected
        if obj is None:
            return
        if self.binding.labels is not None:
            self.binding.labels.selected_label = obj
        if self.binding.points is not None:
            self.binding.points.feature_defaults = {"object_id": obj, "positive": True}
        if self.binding.shapes is not None:
            self.binding.shapes.feature_defaults = {"object_id": obj}

    def delete_object(self, obj: int) -> None:
        """Forget the object, its prompts and its labels (one undo step)."""
        if self.propagating:
            raise Sam2InputError("Wait for the propagation to end (or cancel it) before deleting an object.")
        self.binding.remove_prompts_of(obj)
        self.prompts.forget_object(obj)
        self.mask_prompts = {k for k in self.mask_prompts if k[0] != obj}
        self._jobs.submit(Task("edit", functools.partial(self.owner.remove_object_task, obj)))
        self.writer.erase(obj)
        self.objects.remove(obj)

    def colour(self, obj: int) -> np.ndarray:
        labels = self.binding.labels
        return np.asarray(labels.get_color(obj)) if labels is not None else np.ones(4)

    # -- prompts --------------------------------------------------------------------------------
    def add_click(self, data_coords, *, positive: bool = True) -> bool:
        """A click on the image: a prompt point for the selected object. False if refused."""
        if self.propagating:
            notify("Propagation is running: wait for it or press Cancel before adding prompts.")
            return False
        if self.binding.points is None:
            raise Sam2InputError("Choose an image layer first.")
        self.binding.check_click(np.asarray(data_coords, dtype=float), self._roi)
        if self.editor.picking:
            self._take_pick(np.asarray(data_coords, dtype=float))
            return True
        if self.objects.selected is None:
            self.add_object()
        self.binding.points.feature_defaults = {"object_id": self.objects.selected, "positive": positive}
        self.binding.points.add(np.asarray(data_coords, dtype=float)[None])
        return True

    def use_painted_slice(self) -> None:
        """The selected object's pixels on the current frame become its mask prompt."""
        frame, obj = self.binding.current_frame(), self.objects.selected
        if obj is None:
            raise Sam2InputError("Select or add an object first.")
        mask = np.asarray(self.binding.labels.data[self.binding.plane_index(frame)]) == obj
        if not mask.any():
            raise Sam2InputError(f"Paint object {obj} on this frame first, then use it as a prompt.")
        task = functools.partial(self.owner.mask_task, self.binding.source(self._roi), self.settings, obj, frame, mask)
        self._submit(Task("preview", task, {"mask": (obj, frame)}))

    def _on_prompts_changed(self, event=None) -> None:
        if self._closed or self.binding.restoring or self.binding.image is None or self.binding.points is None:
            return
        if getattr(event, "action", None) in ("adding", "removing", "changing"):
            return  # napari announces a change before making it
        self.binding.colour_points(self.colour)
        groups = self.binding.prompt_groups()
        changed = self.prompts.changed(groups)
        if not changed:
            return
        try:
            source = self.binding.source(self._roi)
        except Sam2Error as exc:
            notify(str(exc), error=True)
            return
        self.objects.ensure(k[0] for k in changed if k in groups)
        for key in changed:
            group = groups.get(key)
            self.prompts.submitted(key, group)
            task = functools.partial(self.owner.preview_task, source, self.settings, key, group)
            self._submit(Task("preview", task, {"key": key}))

    # -- propagation ----------------------------------------------------------------------------
    def propagate(self, direction: str = "both", *, from_current: bool = False, frame_range=None) -> None:
        if self.propagating:
            notify("A propagation is already running.")
            return
        start = self.binding.current_frame() if from_current else None
        source = self.binding.source(self._roi)
        run_id = self.writer.reserve_run()
        request = PropagateRequest(direction, start, frame_range, run_id, self.writer.valid_runs())
        self.runs.append({"direction": direction, "start": start, "frame_range": frame_range})
        self._submit(Task("propagate", functools.partial(self.owner.propagate_task, source, self.settings, request)))

    def cancel(self) -> None:
        """Stop the running task between frames; finished frames are kept."""
        self._jobs.cancel()

    def undo(self) -> None:
        """Undo the labels layer's last step (a run, a preview, a paint stroke): Ctrl-Z."""
        if self.propagating:
            notify("Wait for the propagation to end (or cancel it) before undoing.")
        elif self.binding.labels is not None:
            self.binding.labels.undo()

    def redo(self) -> None:
        if self.binding.labels is not None and not self.propagating:
            self.binding.labels.redo()

    def go_to_frame(self, frame: int) -> None:
        binding = self.binding
        if binding.image is not None and binding.frame_axis is not None:
            self.viewer.dims.set_current_step(world_axis(binding.image, self.viewer, binding.frame_axis), frame)

    # -- files ----------------------------------------------------------------------------------
    def save_labels(self, path: Path) -> list[str]:
        return _actions.save_labels(self, Path(path))

    def export_prompts(self, path: Path) -> list[Path]:
        return _actions.export_prompts(self, Path(path))

    def load_prompts(self, path: Path) -> int:
        count = _actions.load_prompts(self, Path(path))
        self._on_prompts_changed()
        return count

    def close(self) -> None:
        """Stop the worker and disconnect from layers (the widget is closing)."""
        self._closed = True
        self._inbox.close()
        self._jobs.cancel()
        if self._watched is not None:
            self._watched.events.set_data.disconnect(self._on_labels_set)
            self._watched.events.selected_label.disconnect(self._on_label_picked)
            self._watched = None
        self.binding.close()

    # -- the worker ------------------------------------------------------------------------------
    def _submit(self, task: Task) -> None:
        if self.binding.image is None:
            raise Sam2InputError("Choose an image layer first.")
        if task.kind == "preview" and self.propagating:
            notify("Propagation is running: this prompt will be previewed when it ends or is cancelled.")
        self._jobs.submit(task)

    def schedule_encode_ahead(self) -> None:
        """When the worker is idle, encode frames near the current one."""
        if not self.settings.encode_ahead or self.binding.image is None or self.loaded is None or not self.idle:
            return
        try:
            source, center = self.binding.source(self._roi), self.binding.current_frame()
        except Sam2InputError:
            return  # nothing valid to encode (a bad region, for example); clicks will say why
        jobs = self._jobs
        task = functools.partial(self.owner.encode_task, source, self.settings, center, lambda: jobs.tasks_waiting)
        jobs.submit(Task("encode", task))

    def _deliver(self, message) -> None:
        if not self._closed:  # a closed tracker's layers may be gone
            self._inbox.put(message)

    def _deliver_start(self, task: Task) -> None:
        self._deliver(TaskStarted(task))

    def _deliver_end(self, task: Task) -> None:
        self._deliver(TaskEnded(task))
