"""The tracker behind the widget: it owns the state and wires layers, one worker and the labels.

* **One state.** :class:`~._state.TrackerState` holds what the tracker works on; this class
  is its only writer, and widgets observe its events. An image's work lives in its
  :class:`~._state.Workspace`, kept in its Labels layer.
* **Two threads, one owner each.** The model and the session live on the worker thread in a
  :class:`SessionOwner`; layers live on the main thread (:class:`LayerBinding`). What
  crosses is a task (submitted here, run in order by a :class:`SerialWorker`) or a message
  (:mod:`._messages`), handled by :class:`WorkerReplies`.
* **A run is bound to its layers.** While it goes on, choosing another image, axis, labels
  layer, model or region is refused with one line; a deleted image or labels layer stops it
  and nothing is written elsewhere.
* **Prompts live in layers** and are kept in step with the session by :class:`PromptSync`;
  a run first gives the session any prompt it lacks (a new session after another model, a
  reopened tracker), so what is on screen is what is tracked.
* **Results are written** by a :class:`RunWriter`: one undo step per run, the one overlap
  rule, progress, quality flags; every step is recorded for ``napari-sam2 track`` to replay.
* **Populations** are seeded, tracked and corrected through :class:`PopulationActions`.
* **The review queue** (:class:`ReviewQueue`) ranks the labels' likely mistakes and walks
  the user through them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..core.errors import Sam2Error, Sam2InputError
from ..core.models import ModelLoader
from . import _actions
from ._layer_source import world_axis
from ._layers import LayerBinding, canvas_clicks
from ._lineage_edits import LineageEditor
from ._messages import Inbox, TaskEnded, TaskStarted
from ._notify import guard, notify
from ._population import PopulationView
from ._population_actions import PopulationActions
from ._prompt_sync import PromptSync
from ._replies import RUN_KINDS, WorkerReplies
from ._review import ReviewQueue
from ._run_writer import RunWriter
from ._serial_worker import SerialWorker, Task
from ._session_owner import PropagateRequest, Reopened, SessionOwner
from ._state import TrackerState, Workspace, workspace_of


class TrackerController:
    """State and actions behind the SAM 2 tracker widget (see :class:`~._api.TrackerApi`)."""

    def __init__(self, viewer, *, loader: ModelLoader | None = None) -> None:
        self.viewer = viewer
        self.state = TrackerState()
        self.events, self.objects = self.state.events, self.state.objects
        self._on_click = canvas_clicks(
            lambda coords, positive: guard(lambda: self.add_click(coords, positive=positive))
        )
        self.binding = LayerBinding(
            viewer, self._on_prompts_changed, undo=self.undo, redo=self.redo, on_click=self._on_click
        )
        self.writer = RunWriter(self.binding, self.state, notify)
        self.owner = SessionOwner(loader or ModelLoader())
        self.prompts = PromptSync()
        self.population = PopulationView(self.binding, self.state)
        self.editor = LineageEditor(self.binding, self.population, self.objects.name)
        self.jobs = SerialWorker(self._deliver, self._deliver_start, self._deliver_end)
        self._erased: dict[int, object] = {}  # object -> undo item of its erasure
        replies = WorkerReplies(
            self.state, self.binding, self.writer, self.prompts, self.population,
            after_task=self._after_task, erased=self._erased,
        )  # fmt: skip
        self._inbox = Inbox(replies.table())
        self.cells = PopulationActions(self)
        self.review = ReviewQueue(
            self.binding, self.state, go_to_frame=self.go_to_frame, select_object=self.select_object
        )
        self._watched = None  # the Labels layer whose undo the lineage and history follow
        self._said: list[str] = []  # what removing layers stopped, said once they are recreated
        self._gone = {"image": False, "labels": False}
        self.closed = False
        self.objects.changed.connect(self._on_objects_changed)

    # -- read-only views ------------------------------------------------------------------------
    image_layer = property(lambda self: self.binding.image)
    labels_layer = property(lambda self: self.binding.labels)
    points_layer = property(lambda self: self.binding.points)
    shapes_layer = property(lambda self: self.binding.shapes)
    frame_axis = property(lambda self: self.binding.frame_axis)
    settings = property(lambda self: self.state.settings)
    roi = property(lambda self: self.state.roi)
    loaded = property(lambda self: self.state.loaded)
    record = property(lambda self: self.state.record)
    runs = property(lambda self: self.state.workspace.run_log)
    mask_prompts = property(lambda self: self.state.workspace.mask_prompts)

    @property
    def propagating(self) -> bool:
        """True while a run goes on (previews queue; a run blocks clicks and changes)."""
        return self.jobs.kind in RUN_KINDS

    @property
    def idle(self) -> bool:
        return self.jobs.idle

    @property
    def model_status(self) -> str:
        return self.state.model_status

    def frame_count(self) -> int:
        return self.binding.frame_count() if self.binding.image is not None else 0

    def _refuse_during_run(self, what: str) -> None:
        if self.propagating:
            raise Sam2InputError(
                f"A run is going on in {self.state.busy_image!r}: wait for it to end (or press Cancel) before {what}."
            )

    # -- image, labels, region ------------------------------------------------------------------
    def set_image_layer(self, layer, frame_axis: int | None = None) -> None:
        """Track in ``layer`` (a stack, or a 2-D image as one frame) along ``frame_axis``."""
        if layer is not None and layer is self.binding.image and frame_axis in (None, self.binding.frame_axis):
            return
        self._refuse_during_run("choosing another image or axis")
        other = self.binding.bind_image(layer, frame_axis)
        if other:
            self.state.roi = None
            self.editor.cancel()
            self.events.pick.emit("")
        self._adopt_workspace()
        self._new_session()
        self.population.rebind()
        self.events.region.emit(self.state.roi)
        self.events.image.emit(self.binding.frame_count())

    def _adopt_workspace(self) -> None:
        """The bound labels' workspace, and the objects in the layers (a reopened tracker, an
        image chosen again, or a result opened from a file keeps its work)."""
        labels = self.binding.labels
        self.state.use_workspace(workspace_of(labels, self.binding.image))
        self.objects.ensure([*self.binding.object_ids_in_layers(), *self.state.workspace.lineage.tracks])
        self._watch_labels()
        self._on_objects_changed()  # new layers draw for the selected object
        self.binding.colour_points(self.colour)

    def use_labels_layer(self, layer) -> None:
        """Write into an existing Labels layer (its objects and work come with it)."""
        if layer is self.binding.labels:
            return
        self._refuse_during_run("choosing another labels layer")
        self.binding.use_labels(layer)
        self._adopt_workspace()
        self._new_session()
        self.population.rebind()
        self.events.image.emit(self.binding.frame_count())

    def layers_removed(self) -> None:
        """Layers left the viewer (called at once): the tracker stops using them, and a run
        whose image or labels went stops, writing nowhere else. What to recreate is done by
        :meth:`layers_changed`, once napari has finished removing."""
        if self.closed:
            return
        image_gone, labels_gone = self.binding.forget_gone()
        running = self.writer.running_layer
        if self.propagating and (image_gone or (running is not None and running not in self.viewer.layers)):
            self.jobs.cancel()
            what = "image" if image_gone else "labels layer"
            self._said.append(
                f"The run in {self.state.busy_image!r} stopped: its {what} was deleted, "
                "and the frames it had tracked went with it."
            )
        self._gone["image"] |= image_gone
        self._gone["labels"] |= labels_gone and not image_gone

    def layers_changed(self) -> list[str]:
        """After layers left the viewer: deleted prompt layers come back with their prompts,
        deleted labels are replaced by an empty layer (its own workspace), a deleted image ends
        its tracking. Returns what was said to the user. Safe to call when nothing went."""
        if self.closed:
            return []
        self.layers_removed()
        said, self._said = self._said, []
        gone, self._gone = self._gone, {"image": False, "labels": False}
        if gone["image"]:
            self._image_gone()
        recreated = self.binding.restore()
        if gone["labels"] and self.binding.labels is not None:
            self._adopt_workspace()
            self._new_session()
            self.population.rebind()
            said.append(f"'{self.binding.labels.name}' was deleted: a new, empty one takes the next results.")
            self.events.image.emit(self.binding.frame_count())
        if recreated:
            self._on_objects_changed()
            self._on_prompts_changed()  # the prompts are back as they were: nothing to preview
            said.append(f"Recreated {', '.join(recreated)} with its prompts: the tracker needs it for clicks.")
        self.binding.colour_points(self.colour)
        for text in said:
            notify(text)
        return said

    def _image_gone(self) -> None:
        """The image left the viewer: nothing is tracked until another is chosen (its labels
        and prompt layers stay in the viewer, let go)."""
        self.jobs.cancel()
        self.binding.release()
        self.state.roi = None
        self.state.use_workspace(Workspace(""))
        self._new_session()
        self._watch_labels()
        self.population.rebind()
        self.events.image.emit(0)

    def add_region_layer(self):
        """A 2-D Shapes layer (shown on every frame) in rectangle mode, for the region of interest."""
        return self.binding.region_layer()

    def use_region(self) -> tuple[int, int, int, int]:
        """Track inside the last rectangle of the region layer (a new session)."""
        self._refuse_during_run("changing the region")
        roi = self.binding.drawn_region()
        self.binding.source(roi)  # a region that is too small or outside the image fails here
        self.state.roi = roi
        self._new_session()
        self.events.region.emit(roi)
        return roi

    def clear_region(self) -> None:
        self._refuse_during_run("changing the region")
        self.state.roi = None
        self._new_session()
        self.events.region.emit(None)

    def _new_session(self) -> None:
        """The next task opens a new session; the prompts on screen are what it will be given
        (before a run), so nothing is previewed again now."""
        self.state.new_session()
        bound = self.binding.image is not None and self.binding.points is not None
        groups = self.binding.prompt_groups() if bound else {}
        self.prompts.reset(assume=groups)
        self.jobs.submit(Task("edit", self.owner.close_task))  # the old session's memory goes now

    # -- model and caching ----------------------------------------------------------------------
    def set_model(self, spec: str, device: str = "auto") -> None:
        spec = (spec or "").strip()
        if not spec:
            raise Sam2InputError("Type a model name, a hub id or a folder, or pick one from the list.")
        if (spec, device) == self.state.settings.model_key():
            return
        self._refuse_during_run("changing the model or device")
        self.state.change_settings(model=spec, device=device)
        self.state.loaded = None
        self.events.status.emit("model not loaded: loads on the first click, or now")
        self._new_session()

    def load_model(self) -> None:
        """Load (and on first use download) the model in the background."""
        self.jobs.submit(Task("load", functools.partial(self.owner.load_task, self.state.settings)))

    def use_loaded_model(self, loaded) -> None:
        """Use a model already in memory (tests, benchmarks, scripts)."""
        self.jobs.submit(Task("load", functools.partial(self.owner.load_task, self.state.settings, loaded)))

    def set_caching(self, *, encode_ahead: bool | None = None, disk_cache: bool | None = None) -> None:
        """Switch encoding ahead and the on-disk feature cache (a new session uses it)."""
        if encode_ahead is not None:
            self.state.change_settings(encode_ahead=bool(encode_ahead))
            self.schedule_encode_ahead()
        if disk_cache is not None and bool(disk_cache) != self.state.settings.disk_cache:
            self._refuse_during_run("changing the disk cache")
            self.state.change_settings(disk_cache=bool(disk_cache))
            self._new_session()

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
        self._refuse_during_run("deleting an object")
        self.binding.remove_prompts_of(obj)
        self.prompts.forget_object(obj)
        self.state.workspace.mask_prompts = {k for k in self.mask_prompts if k[0] != obj}
        self._erased[obj] = self.writer.erase(obj)
        self.jobs.submit(Task("edit", functools.partial(self.owner.remove_object_task, obj)))
        self.objects.remove(obj)

    def colour(self, obj: int) -> np.ndarray:
        labels = self.binding.labels
        return np.asarray(labels.get_color(obj)) if labels is not None else np.ones(4)

    # -- prompts --------------------------------------------------------------------------------
    def add_click(self, data_coords, *, positive: bool = True) -> bool:
        """A click on the image: a prompt point for the selected object. False if refused."""
        self.layers_changed()  # a layer deleted a moment ago comes back first
        if self.propagating:
            notify("A run is going on: wait for it or press Cancel before adding prompts.")
            return False
        if self.binding.points is None:
            raise Sam2InputError("Choose an image layer first.")
        self.binding.check_click(np.asarray(data_coords, dtype=float), self.state.roi)
        if self.editor.picking:
            self.cells.take_pick(np.asarray(data_coords, dtype=float))
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
        source = self.binding.source(self.state.roi)
        task = functools.partial(self.owner.mask_task, source, self.state.settings, obj, frame, mask)
        self.submit(Task("preview", task, {"mask": (obj, frame)}))

    def _on_prompts_changed(self, event=None) -> None:
        binding = self.binding
        if self.closed or binding.restoring or binding.image is None or None in (binding.points, binding.shapes):
            return  # a prompt layer deleted a moment ago: its prompts are not gone, it comes back
        if getattr(event, "action", None) in ("adding", "removing", "changing"):
            return  # napari announces a change before making it
        binding.claim_orphans(lambda: self.objects.selected or self.add_object())
        binding.colour_points(self.colour)
        groups = binding.prompt_groups()
        changed = self.prompts.changed(groups)
        if not changed:
            return
        try:
            source = binding.source(self.state.roi)
        except Sam2Error as exc:
            notify(str(exc), error=True)
            return
        self.objects.ensure(k[0] for k in changed if k in groups)
        for key in changed:
            group = groups.get(key)
            self.prompts.submitted(key, group)
            reopened = self._reopened(*key, groups) if group is not None else None
            task = functools.partial(self.owner.preview_task, source, self.state.settings, key, group, reopened)
            self.submit(Task("preview", task, {"key": key}))

    #: How far back a first click looks for the object's last good frame.
    LOOK_BACK = 16

    def _reopened(self, obj: int, frame: int, groups) -> Reopened | None:
        """What the labels hold for ``obj`` around ``frame`` when nothing in this workspace
        prompted it (its first click on a result opened from disk): the session goes on from
        those masks (see :meth:`SessionOwner._take_up`) instead of from the click alone."""
        if any(k[0] == obj and k[1] != frame for k in groups) or any(k[0] == obj for k in self.mask_prompts):
            return None
        labels, binding = self.binding.labels, self.binding
        if labels is None or not 0 <= frame < binding.frame_count():
            return None  # no labels yet; a frame the image lacks is refused by the session

        def mask_on(t: int):
            mask = np.asarray(labels.data[binding.plane_index(t)]) == obj
            return mask if mask.any() else None

        here = mask_on(frame)
        earlier = range(frame - 1, max(-1, frame - 1 - self.LOOK_BACK), -1)
        anchor = next(((t, m) for t in earlier if (m := mask_on(t)) is not None), None)
        if here is None and anchor is None:
            return None
        track = self.state.workspace.lineage.tracks.get(obj)
        span = (None, None)
        if track is not None:
            divided = bool(self.state.workspace.lineage.children(obj))
            span = (track.first if track.parent else None, track.last if divided else None)
        return Reopened(here, anchor, span)

    # -- propagation ----------------------------------------------------------------------------
    def propagate(self, direction: str = "both", *, from_current: bool = False, frame_range=None) -> None:
        self.layers_changed()
        if self.propagating:
            notify("A run is already going on.")
            return
        start = self.binding.current_frame() if from_current else None
        source = self.binding.source(self.state.roi)
        run_id = self.writer.reserve_run()
        groups = self.binding.prompt_groups()
        request = PropagateRequest(direction, start, frame_range, run_id, self.writer.valid_runs(), groups)
        self.state.workspace.run_log.append({"direction": direction, "start": start, "frame_range": frame_range})
        task = functools.partial(self.owner.propagate_task, source, self.state.settings, request)
        self.submit(Task("propagate", task))

    def cancel(self) -> None:
        """Stop the running task between frames; finished frames are kept."""
        self.jobs.cancel()

    def undo(self) -> None:
        """Undo the labels layer's last step (a run, a preview, a paint stroke): Ctrl-Z."""
        self.layers_changed()
        if self.propagating:
            notify("Wait for the run to end (or cancel it) before undoing.")
        elif self.binding.labels is not None:
            self.binding.labels.undo()

    def redo(self) -> None:
        self.layers_changed()
        if self.binding.labels is not None and not self.propagating:
            self.binding.labels.redo()

    def go_to_frame(self, frame: int) -> None:
        binding = self.binding
        if binding.image is not None and binding.frame_axis is not None:
            self.viewer.dims.set_current_step(world_axis(binding.image, self.viewer, binding.frame_axis), frame)

    # -- files ----------------------------------------------------------------------------------
    def image_store(self) -> Path | None:
        """The OME-Zarr store the image was opened from (napari-ome-zarr), if it was."""
        from ..core.ome_zarr import labels_target

        path = getattr(getattr(self.binding.image, "source", None), "path", None)
        return Path(path) if path and labels_target(Path(path)) is not None else None

    def save_labels(self, path: Path) -> list[str]:
        written = [Path(p) for p in _actions.save_labels(self.binding, self.state, self.population, Path(path))]
        if len(written) == 1:  # a label image in an OME-Zarr image's labels/ group
            self.events.done.emit(f"Saved the labels into {written[0].parent.parent.name}/labels/{written[0].name}")
        else:
            self.events.done.emit(f"Saved {written[0].name} and {written[1].name} in {written[0].parent}")
        return written

    def export_prompts(self, path: Path) -> list[Path]:
        written, missing = _actions.export_prompts(self.binding, self.state, Path(path))
        text = f"Exported {', '.join(p.name for p in written)} in {Path(path).parent}"
        if missing:
            text += f"; napari-sam2 track cannot repeat {' and '.join(missing)}"
        self.events.done.emit(text)
        return written

    def load_prompts(self, path: Path) -> int:
        count = _actions.load_prompts(self.binding, self.state, Path(path))
        self._on_prompts_changed()
        self.events.done.emit(f"Loaded {count} prompts from {Path(path).name}")
        return count

    def close(self) -> None:
        """Stop the worker and disconnect from layers (the widget is closing)."""
        self.closed = True
        self._inbox.close()
        self.jobs.stop()
        self._watch_labels(None)
        self.binding.close()

    # -- undo follows -----------------------------------------------------------------------------
    def _watch_labels(self, labels=...) -> None:
        labels = self.binding.labels if labels is ... else labels
        if labels is self._watched:
            return
        if self._watched is not None:
            self._watched.events.set_data.disconnect(self._on_labels_set)
            self._watched.events.selected_label.disconnect(self.cells.label_picked)
        self._watched = labels
        if labels is not None:
            labels.events.set_data.connect(self._on_labels_set)
            labels.events.selected_label.connect(self.cells.label_picked)

    def _on_labels_set(self, event=None) -> None:
        """Labels replaced wholesale (an undo or redo): the history and the lineage follow."""
        if self.closed or self.propagating or self.binding.labels is None:
            return
        self.state.workspace.history.follow(self.binding.labels)
        self.cells.follow_undo()

    # -- the worker ------------------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        if self.binding.image is None:
            raise Sam2InputError("Choose an image layer first.")
        if task.kind == "preview" and self.propagating:
            notify("A run is going on: this prompt will be previewed when it ends or is cancelled.")
        self.jobs.submit(task)

    def schedule_encode_ahead(self) -> None:
        """When the worker is idle, encode frames near the current one."""
        settings = self.state.settings
        if not settings.encode_ahead or self.binding.image is None or self.state.loaded is None or not self.idle:
            return
        try:
            source, center = self.binding.source(self.state.roi), self.binding.current_frame()
        except Sam2InputError:
            return  # nothing valid to encode (a bad region, for example); clicks will say why
        jobs = self.jobs
        task = functools.partial(self.owner.encode_task, source, settings, center, lambda: jobs.tasks_waiting)
        jobs.submit(Task("encode", task))

    def _after_task(self, task: Task) -> None:
        if task.kind != "encode" and self.idle:
            self.schedule_encode_ahead()

    def _deliver(self, message) -> None:
        if not self.closed:  # a closed tracker's layers may be gone
            self._inbox.put(message)

    def _deliver_start(self, task: Task) -> None:
        self._deliver(TaskStarted(task))

    def _deliver_end(self, task: Task) -> None:
        self._deliver(TaskEnded(task))
