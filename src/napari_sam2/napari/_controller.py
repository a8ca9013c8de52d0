"""The plugin's logic without Qt widgets: layers in, session work on one worker, labels out.

* **One model thread.** Every model task (loading, a preview, a propagation) runs in a
  napari thread worker, one at a time, in order. A click during a propagation is refused
  with a notification.
* **Only the main thread touches layers.** Workers yield results; the ``yielded`` handler
  writes them into the Labels layer.
* **One undo step per run.** Writes go through a :class:`RunHistory`, committed when the
  run ends however it ends (done, cancelled, failed). Painting is locked during a run.
* **Frames are encoded ahead.** When the worker has nothing else to do, it encodes frames
  near the current one, one per task step, into the session's feature cache (and the disk
  cache when that is on). A click waits at most for the frame being encoded; later clicks
  and propagation on encoded frames skip the image encoder.
* **Prompts live in layers.** A Points layer holds clicks (features ``object_id`` and
  ``positive``), a Shapes layer holds boxes. Any change to them is diffed against what the
  session was last given, and only the changed (object, frame) groups are re-predicted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core.errors import Sam2Error, Sam2InputError
from ..core.labels import merge_result
from ..core.models import DEFAULT_MODEL, ModelLoader
from ..core.quality import QualityFlag, quality_flags
from ..core.session import TrackingSession
from . import _names
from ._layer_source import default_frame_axis, held_indices, layer_data, source_from_layer
from ._paint_lock import PaintLock
from ._prompts import PromptGroup, add_box_groups, point_groups
from ._run_history import RunHistory
from ._serial_worker import SerialWorker


def feature_cache_mb() -> float:
    """The plugin's in-memory feature budget: a quarter of the machine's memory, 0.5 to 4 GiB.

    At 16 MiB per 1024² frame (sam2.1), 4 GiB holds about 250 frames.
    """
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        total = 8192
    return float(min(4096, max(512, total / 4)))


def notify(message: str, *, error: bool = False) -> None:
    from napari.utils.notifications import show_error, show_info

    (show_error if error else show_info)(message)


def plain_error(exc: BaseException) -> str:
    """A message a biologist can act on; tracebacks are for bugs only."""
    if isinstance(exc, Sam2Error):
        return str(exc)
    if "OutOfMemoryError" in type(exc).__name__ or "out of memory" in str(exc).lower():
        return "Out of memory: try a smaller model (sam2.1-tiny), the CPU device, or a region of interest."
    return f"Unexpected error ({type(exc).__name__}: {exc}). Please report it."


class TrackerController:
    """State and actions behind the SAM 2 tracker widget."""

    def __init__(self, viewer, *, loader: ModelLoader | None = None) -> None:
        self.viewer = viewer
        self.loader = loader or ModelLoader()
        self.model_spec, self.device = DEFAULT_MODEL, "auto"
        self.encode_ahead = True
        self.disk_cache = False
        self.loaded = None
        self.image_layer = self.labels_layer = self.points_layer = self.shapes_layer = None
        self.frame_axis: int | None = None
        self.roi: tuple[int, int, int, int] | None = None
        self.session: TrackingSession | None = None
        self._session_key: tuple | None = None
        self._sent: dict[tuple[int, int], tuple] = {}
        self.objects: dict[int, str] = {}
        self.selected_object: int | None = None
        self.flags: list[QualityFlag] = []
        self._jobs = SerialWorker(self._on_yielded, self._on_task_start, self._on_task_end)
        self._history: RunHistory | None = None
        self._paint_lock: PaintLock | None = None
        self._ensuring = self._recovering = False
        self._run_started = 0.0
        self._just_loaded = None
        self._progress_bar = None
        self.listeners: dict[str, list[Callable]] = {k: [] for k in ("status", "objects", "progress", "flags", "image")}

    # -- wiring -----------------------------------------------------------------------------
    def _emit(self, kind: str, *args) -> None:
        for callback in self.listeners[kind]:
            callback(*args)

    def status(self, text: str) -> None:
        self._emit("status", text)

    @property
    def model_status(self) -> str:
        loaded = self.loaded
        if loaded is None:
            return "model not loaded"
        return f"{loaded.model_id} on {loaded.device}" + (" — random weights!" if loaded.is_random else "")

    @property
    def busy(self) -> bool:
        """True while a propagation runs (previews queue; propagation blocks clicks)."""
        return self._jobs.kind == "propagate"

    def set_image_layer(self, layer, frame_axis: int | None = None) -> None:
        """Choose the image to track in; creates the Labels and prompt layers if needed."""
        if layer is None:
            raise Sam2InputError("Open an image first: there is no image layer to track in.")
        if layer.ndim < 3:
            raise Sam2InputError(
                f"Layer {layer.name!r} is {layer.ndim}-D; choose a stack (frames or slices plus Y, X)."
            )
        if layer is not self.image_layer:
            self._release_mismatched_layers(layer)
        self.image_layer = layer
        self.frame_axis = default_frame_axis(layer, self.viewer) if frame_axis is None else frame_axis
        self._ensure_layers()
        self._invalidate_session()
        shape = layer_data(layer).shape
        self._emit("image", int(shape[self.frame_axis]))

    def _release_mismatched_layers(self, image) -> None:
        """An image of another shape gets its own labels (and prompt layers of its dimension)."""
        shape = tuple(layer_data(image).shape[: image.ndim])
        if self.labels_layer is not None and tuple(self.labels_layer.data.shape) != shape:
            self.labels_layer = None
            self.objects, self.selected_object = {}, None
            self._emit("objects")
        for name in ("points_layer", "shapes_layer"):
            layer = getattr(self, name)
            if layer is not None and layer.ndim != image.ndim:
                self._forget_prompt_layer(name)

    def _forget_prompt_layer(self, name: str):
        """Stop diffing the prompt layer held as ``name`` and drop it; returns the layer."""
        layer = getattr(self, name)
        layer.events.data.disconnect(self._on_prompts_changed)
        setattr(self, name, None)
        return layer

    def recover_layers(self) -> list[str]:
        """The user deleted layers the tracker uses: forget them; recreate prompt layers with their prompts.

        The Points and Shapes layers are the source of truth for prompts, so a deleted one is
        recreated with the same prompts (nothing is lost; delete points to remove prompts).
        A deleted image ends the tracking of that image; a deleted labels layer is replaced
        by a new one on the next write. Returns the names of the layers that were recreated.
        """
        layers = self.viewer.layers
        if self.image_layer is not None and self.image_layer not in layers:
            self._jobs.cancel()
            self.image_layer = None
            self._invalidate_session()
        if self.labels_layer is not None and self.labels_layer not in layers:
            self.labels_layer = None
        lost = {
            name: self._forget_prompt_layer(name)
            for name in ("points_layer", "shapes_layer")
            if getattr(self, name) is not None and getattr(self, name) not in layers
        }
        if self.image_layer is None or not (lost or self.labels_layer is None):
            return []
        self._recovering = True  # the restored prompts are the ones already sent: no diff
        try:
            self._ensure_layers()
            for name, old in lost.items():
                new = getattr(self, name)
                new.data, new.features = old.data, old.features
        finally:
            self._recovering = False
        self._colour_points()
        return [getattr(self, name).name for name in lost]

    def _ensure_layers(self) -> None:
        if self._ensuring:  # adding a layer re-enters through the viewer's layer events
            return
        self._ensuring = True
        try:
            self._add_missing_layers()
        finally:
            self._ensuring = False

    def _add_missing_layers(self) -> None:
        layer, viewer = self.image_layer, self.viewer
        shape = layer_data(layer).shape[: layer.ndim]
        geometry = {"scale": layer.scale, "translate": layer.translate}
        if self.labels_layer is None or self.labels_layer not in viewer.layers:
            name = (
                _names.LABELS_LAYER
                if _names.LABELS_LAYER not in viewer.layers
                else f"{_names.LABELS_LAYER} ({layer.name})"
            )
            self.labels_layer = viewer.add_labels(np.zeros(shape, np.uint16), name=name, **geometry)
        if self.shapes_layer is None or self.shapes_layer not in viewer.layers:
            self.shapes_layer = viewer.add_shapes(
                name=_names.BOXES_LAYER,
                ndim=layer.ndim,
                features={"object_id": np.zeros(0, int)},
                face_color="transparent",
                edge_width=2,
                **geometry,
            )
            self.shapes_layer.events.data.connect(self._on_prompts_changed)
        if self.points_layer is None or self.points_layer not in viewer.layers:
            self.points_layer = viewer.add_points(
                np.zeros((0, layer.ndim)),
                name=_names.PROMPTS_LAYER,
                size=8,
                border_width=0.25,
                features={"object_id": np.zeros(0, int), "positive": np.zeros(0, bool)},
                **geometry,
            )
            self.points_layer.events.data.connect(self._on_prompts_changed)
            # The prompts layer is the active one while clicking: Ctrl-Z there undoes labels.
            self.points_layer.bind_key("Control-Z", lambda _layer: self.undo_last_run(), overwrite=True)
            self.points_layer.bind_key("Control-Shift-Z", lambda _layer: self.redo_last_run(), overwrite=True)
        viewer.layers.selection.active = self.points_layer

    def use_labels_layer(self, layer) -> None:
        """Write into an existing Labels layer instead of the plugin's own."""
        if not np.issubdtype(layer.data.dtype, np.integer):
            raise Sam2InputError(f"Labels layer {layer.name!r} is not integer-valued.")
        image = self.image_layer
        image_shape = layer_data(image).shape[: image.ndim] if image is not None else None
        if image_shape is not None and tuple(layer.data.shape) != tuple(image_shape):
            raise Sam2InputError(f"Labels layer {layer.name!r} has shape {layer.data.shape}, the image {image_shape}.")
        self.labels_layer = layer

    def add_region_layer(self):
        """A 2-D Shapes layer (shown on every frame) in rectangle mode, for the region of interest."""
        layer = self.image_layer
        if _names.ROI_LAYER in self.viewer.layers:
            region = self.viewer.layers[_names.ROI_LAYER]
        else:
            region = self.viewer.add_shapes(
                ndim=2,
                name=_names.ROI_LAYER,
                face_color="transparent",
                edge_color="yellow",
                edge_width=2,
                scale=layer.scale[-2:],
                translate=layer.translate[-2:],
            )
        region.mode = "add_rectangle"
        self.viewer.layers.selection.active = region
        return region

    def use_region(self) -> tuple[int, int, int, int]:
        """Track inside the last rectangle of the region layer; prompts are previewed again."""
        region = next((layer for layer in self.viewer.layers if layer.name == _names.ROI_LAYER), None)
        if region is None or not len(region.data):
            raise Sam2InputError("Draw a rectangle in the 'SAM 2 region' layer first.")
        corners = np.asarray(region.data[-1])[:, -2:]
        (y0, x0), (y1, x1) = corners.min(axis=0), corners.max(axis=0)
        self.roi = (int(np.floor(y0)), int(np.floor(x0)), int(np.ceil(y1)), int(np.ceil(x1)))
        self.current_source()  # a region that is too small or outside the image fails here
        self._resend_prompts()
        return self.roi

    def clear_region(self) -> None:
        self.roi = None
        self._resend_prompts()

    def _resend_prompts(self) -> None:
        self._invalidate_session()
        self._sent = {}
        if self.points_layer is not None:
            self._on_prompts_changed()

    def close(self) -> None:
        """Stop workers and disconnect from layers (the widget is closing)."""
        self._jobs.cancel()
        for layer in (self.points_layer, self.shapes_layer):
            if layer is not None:
                layer.events.data.disconnect(self._on_prompts_changed)

    # -- model and session ------------------------------------------------------------------
    def set_model(self, spec: str, device: str = "auto") -> None:
        if (spec, device) != (self.model_spec, self.device):
            self.model_spec, self.device, self.loaded = spec, device, None
            self._invalidate_session()

    def load_model(self) -> None:
        """Load (and on first use download) the model in the background."""
        self._submit("load", self._load_task)

    def _load_task(self) -> Iterator:
        yield ("status", f"Loading {self.model_spec} …")
        yield ("loaded", self._load())

    def _load(self):
        from napari.utils import progress

        return self.loader.load(self.model_spec, device=self.device, tqdm_class=progress)

    def _invalidate_session(self) -> None:
        self.session, self._session_key, self._sent = None, None, {}

    def current_source(self):
        """Main thread: what the model should see now (layer, axis, held indices, contrast, ROI)."""
        return source_from_layer(self.image_layer, self.viewer, frame_axis=self.frame_axis, roi=self.roi)

    def _ensure_session(self, source) -> TrackingSession:
        """Worker thread: the session for ``source``, new if anything the features depend on changed."""
        if self.loaded is None:
            self.loaded = self._load()
            self._just_loaded = self.loaded
        key = self._key_for(source)
        if self.session is None or key != self._session_key:
            if self.session is not None:
                self.session.close()
            disk = None
            if self.disk_cache:
                from ..core.diskcache import default_root

                disk = default_root()
            session = TrackingSession(self.loaded, source, feature_cache_mb=feature_cache_mb(), disk_cache=disk)
            self.session, self._session_key = session, key
        return self.session

    def _key_for(self, source) -> tuple:
        """Everything a session's features depend on: a different key needs a new session."""
        return (id(source.data), repr(source.describe()), self.model_spec, self.device, self.disk_cache)

    def set_caching(self, *, encode_ahead: bool | None = None, disk_cache: bool | None = None) -> None:
        """Switch encoding ahead and the on-disk feature cache (a new session uses it)."""
        if encode_ahead is not None:
            self.encode_ahead = bool(encode_ahead)
            if self.encode_ahead:
                self._schedule_encode_ahead()
        if disk_cache is not None and bool(disk_cache) != self.disk_cache:
            self.disk_cache = bool(disk_cache)
            self._resend_prompts()

    def _schedule_encode_ahead(self) -> None:
        """Main thread: when the worker is idle, encode frames near the current one."""
        if not self.encode_ahead or self.image_layer is None or self.loaded is None or not self._jobs.idle:
            return
        try:
            source, center = self.current_source(), self.current_frame()
        except Sam2InputError:
            return  # nothing valid to encode (a bad region, for example); clicks will say why
        session = self.session
        same = session is not None and self._key_for(source) == self._session_key
        if same and not session.encode_ahead_order(center):
            return  # everything that fits is encoded
        self._jobs.submit("encode", functools.partial(self._encode_task, source, center))

    def _encode_task(self, source, center: int) -> Iterator:
        session = self._ensure_session(source)
        while not self._jobs.pending and session is self.session:
            todo = session.encode_ahead_order(center)
            if not todo:
                return
            session.encode(todo[0])
            yield ("encoded", (len(session.cache), len(session.source)))

    # -- objects ----------------------------------------------------------------------------
    def add_object(self, name: str | None = None) -> int:
        """A new object whose id is not used in the Labels layer yet; it becomes selected."""
        used = max(self.objects, default=0)
        if self.labels_layer is not None:
            used = max(used, int(np.max(self.labels_layer.data)) if self.labels_layer.data.size else 0)
        obj = used + 1
        self.objects[obj] = name or f"object {obj}"
        self.select_object(obj)
        self._emit("objects")
        return obj

    def select_object(self, obj: int) -> None:
        self.selected_object = obj
        if self.labels_layer is not None:
            self.labels_layer.selected_label = obj
        if self.points_layer is not None:
            self.points_layer.feature_defaults = {"object_id": obj, "positive": True}
        if self.shapes_layer is not None:
            self.shapes_layer.feature_defaults = {"object_id": obj}

    def rename_object(self, obj: int, name: str) -> None:
        self.objects[obj] = name
        self._emit("objects")

    def delete_object(self, obj: int) -> None:
        """Forget the object, its prompts and its labels (one undo step)."""
        self.objects.pop(obj, None)
        if self.points_layer is not None and len(self.points_layer.data):
            keep = np.asarray(self.points_layer.features["object_id"]) != obj
            self.points_layer.selected_data = set(np.flatnonzero(~keep))
            self.points_layer.remove_selected()
        if self.session is not None:
            self.session.remove_object(obj)
        self._sent = {k: v for k, v in self._sent.items() if k[0] != obj}
        if self.labels_layer is not None:
            history = RunHistory(self.labels_layer)
            data = self.labels_layer.data
            for index in np.ndindex(*data.shape[:-2]):
                plane = np.asarray(data[index])
                if (plane == obj).any():
                    history.write(index, np.where(plane == obj, 0, plane).astype(plane.dtype))
            history.commit()
            self.labels_layer.refresh()
        if self.selected_object == obj:
            self.selected_object = next(iter(self.objects), None)
        self._emit("objects")

    def colour(self, obj: int) -> np.ndarray:
        return np.asarray(self.labels_layer.get_color(obj)) if self.labels_layer is not None else np.ones(4)

    # -- prompts ----------------------------------------------------------------------------
    def add_click(self, data_coords, *, positive: bool = True) -> bool:
        """A click on the image: a prompt point for the selected object. False if refused."""
        if self.busy:
            notify("Propagation is running: wait for it or press Cancel before adding prompts.")
            return False
        if self.points_layer is None:
            raise Sam2InputError("Choose an image layer first.")
        self._check_click(data_coords)
        if self.selected_object is None:
            self.add_object()
        self.points_layer.feature_defaults = {"object_id": self.selected_object, "positive": positive}
        self.points_layer.add(np.asarray(data_coords, dtype=float)[None])
        return True

    def _check_click(self, data_coords) -> None:
        """A click outside the image or region is refused before it becomes a point."""
        coords = np.asarray(data_coords, dtype=float)
        source = self.current_source()
        frame, n = int(round(float(coords[self.frame_axis]))), len(source)
        if not 0 <= frame < n:
            raise Sam2InputError(f"The click is on frame {frame}, outside the stack (frames 0 to {n - 1}).")
        source.to_roi_xy(float(coords[-2]), float(coords[-1]), "The click")

    def use_painted_slice(self) -> None:
        """The selected object's pixels on the current frame become its mask prompt."""
        frame = self.current_frame()
        obj = self.selected_object
        if obj is None:
            raise Sam2InputError("Select or add an object first.")
        mask = np.asarray(self.labels_layer.data[self._plane_index(frame)]) == obj
        if not mask.any():
            raise Sam2InputError(f"Paint object {obj} on this frame first, then use it as a prompt.")
        source = self.current_source()
        self._submit("preview", lambda: self._mask_task(source, obj, frame, mask))

    def current_frame(self) -> int:
        position = self.image_layer.world_to_data(list(self.viewer.dims.point)[-self.image_layer.ndim :])
        return int(round(float(position[self.frame_axis])))

    def prompt_groups(self) -> dict[tuple[int, int], PromptGroup]:
        held = held_indices(self.image_layer, self.viewer, self.frame_axis)
        groups = point_groups(self.points_layer, self.frame_axis, held)
        return add_box_groups(groups, self.shapes_layer, self.frame_axis, held)

    def _on_prompts_changed(self, event=None) -> None:
        if self._recovering or self.image_layer is None or self.points_layer is None:
            return
        if getattr(event, "action", None) in ("adding", "removing", "changing"):
            return
        self._colour_points()
        groups = self.prompt_groups()
        changed = [k for k in set(groups) | set(self._sent) if groups.get(k, PromptGroup()).key() != self._sent.get(k)]
        source = self.current_source() if changed else None
        for key in sorted(changed):
            if key in groups:  # a removed prompt must not bring a deleted object back
                self.objects.setdefault(key[0], f"object {key[0]}")
            self._sent[key] = groups.get(key, PromptGroup()).key()
            self._submit("preview", functools.partial(self._preview_task, source, key, groups.get(key)))
        if changed:
            self._emit("objects")

    def _colour_points(self) -> None:
        layer = self.points_layer
        if layer is None or not len(layer.data):
            return
        ids, positive = layer.features["object_id"], layer.features["positive"]
        layer.face_color = np.array([self.colour(int(o)) for o in ids])
        layer.border_color = [_names.POSITIVE_BORDER if p else _names.NEGATIVE_BORDER for p in positive]

    def _preview_task(self, source, key: tuple[int, int], group: PromptGroup | None) -> Iterator:
        session = self._ensure_session(source)
        obj, frame = key
        if group is None or (not group.points and group.box is None):
            session.clear_prompts(obj, frame)
            yield ("clear", (obj, frame, source.held))
            return
        yield ("preview", (session.set_prompts(obj, frame, points=group.points, box=group.box), source.held))

    def _mask_task(self, source, obj: int, frame: int, mask: np.ndarray) -> Iterator:
        session = self._ensure_session(source)
        yield ("preview", (session.add_mask(obj, frame, mask), source.held))

    # -- propagation ------------------------------------------------------------------------
    def propagate(self, direction: str = "both", *, from_current: bool = False, frame_range=None) -> None:
        if self.busy:
            notify("A propagation is already running.")
            return
        start = self.current_frame() if from_current else None
        source = self.current_source()
        self._submit("propagate", lambda: self._propagate_task(source, direction, start, frame_range))

    def _propagate_task(self, source, direction: str, start, frame_range) -> Iterator:
        session = self._ensure_session(source)
        first = session.default_start() if start is None else start
        total = sum(len(order) for _, order in session.plan(direction, start=first, frame_range=frame_range))
        yield ("total", total)
        for result in session.propagate(direction, start=start, frame_range=frame_range):
            yield ("frame", (result, source.held))

    def cancel(self) -> None:
        """Stop the running task between frames; finished frames are kept."""
        self._jobs.cancel()

    def undo_last_run(self) -> None:
        if self.busy:
            notify("Wait for the propagation to end (or cancel it) before undoing.")
        elif self.labels_layer is not None:
            self.labels_layer.undo()

    def redo_last_run(self) -> None:
        if self.labels_layer is not None and not self.busy:
            self.labels_layer.redo()

    # -- the one worker ---------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return self._jobs.idle

    def _submit(self, kind: str, task: Callable[[], Iterator]) -> None:
        if self.image_layer is None:
            raise Sam2InputError("Choose an image layer first.")
        if kind == "preview" and self.busy:
            notify("Propagation is running: this prompt will be previewed when it ends or is cancelled.")
        self._jobs.submit(kind, task)

    def _on_task_start(self, kind: str) -> None:
        if kind == "propagate":
            self._begin_run()

    def _on_task_end(self, kind: str) -> None:
        if kind == "propagate":
            self._end_run()
        if kind != "encode" and self._jobs.idle:
            self._schedule_encode_ahead()

    def _begin_run(self) -> None:
        self._history = RunHistory(self.labels_layer)
        self._run_started, self._run_done, self._run_total = time.perf_counter(), 0, 0
        self._paint_lock = PaintLock(self.labels_layer, notify)
        self._paint_lock.lock()  # not editable=False: napari would clear the undo history
        self.points_layer.editable = False

    def _on_yielded(self, item: tuple[str, Any]) -> None:
        kind, value = item
        if self._just_loaded is not None:
            loaded, self._just_loaded = self._just_loaded, None
            self._on_yielded(("loaded", loaded))
        if kind == "error":
            self._on_errored(value)
        elif kind == "status":
            self.status(value)
        elif kind == "encoded":
            done, total = value
            self.status(f"{self.model_status} — {done} of {total} frames encoded")
        elif kind == "loaded":
            self.loaded = value
            self.status(self.model_status)
        elif kind == "total":
            from napari.utils import progress

            self._run_total = value
            self._progress_bar = progress(total=value, desc="SAM 2 propagation")
        elif kind == "preview":
            self._write(*value, RunHistory(self.labels_layer), commit=True)
        elif kind == "clear":
            self._clear(*value)
        elif kind == "frame":
            self._write(*value, self._history, commit=False)
            self._run_done += 1
            if self._progress_bar is not None:
                self._progress_bar.update(1)
            elapsed = time.perf_counter() - self._run_started
            eta = elapsed / self._run_done * (self._run_total - self._run_done)
            self._emit("progress", self._run_done, self._run_total, eta)

    def _on_errored(self, exc: BaseException) -> None:
        notify(plain_error(exc), error=True)
        if not isinstance(exc, Sam2Error):
            import logging

            logging.getLogger(__name__).error("napari-sam2 worker failed", exc_info=exc)

    def _end_run(self) -> None:
        if self._progress_bar is not None:
            self._progress_bar.close()
            self._progress_bar = None
        if self._history is not None:
            self._history.commit()
            self._history = None
        if self._paint_lock is not None:
            self._paint_lock.unlock()
            self._paint_lock = None
        self.points_layer.editable = True
        self.labels_layer.refresh()
        if self.session is not None:
            self.flags = quality_flags(self.session.scores)
            self._emit("flags", self.flags)
        self._emit("progress", self._run_total, self._run_total, 0.0)

    # -- labels -----------------------------------------------------------------------------
    def _plane_index(self, frame: int, held: dict[int, int] | None = None) -> tuple:
        if held is None:
            held = held_indices(self.image_layer, self.viewer, self.frame_axis)
        index = [0] * (self.labels_layer.ndim - 2)
        for axis, value in held.items():
            index[axis] = value
        index[self.frame_axis] = frame
        return tuple(index)

    def _write(self, result, held, history: RunHistory, *, commit: bool) -> None:
        index = self._plane_index(result.frame, held)
        plane = np.array(self.labels_layer.data[index])
        merge_result(plane, result)
        history.write(index, plane)
        if commit:
            history.commit()
        self.labels_layer.refresh()

    def _clear(self, obj: int, frame: int, held: dict[int, int]) -> None:
        index = self._plane_index(frame, held)
        plane = np.array(self.labels_layer.data[index])
        history = RunHistory(self.labels_layer)
        history.write(index, np.where(plane == obj, 0, plane).astype(plane.dtype))
        history.commit()
        self.labels_layer.refresh()
