"""The layers the tracker works with, bound on the main thread.

One image (2-D or a stack), the Labels layer written into, a Points layer of clicks and a
Shapes layer of boxes. The Points and Shapes layers are the source of truth for prompts:
the user can move, delete and undo points there, and the tracker diffs them against what
the session was last given.

Layers the tracker made carry the id of their image in their metadata: each image has its
own labels and prompt layers, so choosing another image never writes into the first one's
labels, and choosing it again (or reopening the tracker) adopts its layers and the work in
them. A prompt layer deleted by the user is recreated with its prompts; a deleted labels
layer is replaced by an empty one. Clicks reach the tracker through a mouse callback on the
bound Points layer, attached whenever one is bound, detached when it is let go.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.errors import Sam2InputError
from ..core.prompts import Groups
from . import _names
from ._layer_source import (
    data_position,
    default_frame_axis,
    held_indices,
    is_single_image,
    layer_data,
    source_from_layer,
)
from ._prompts import add_box_groups, frame_of, point_groups
from ._state import SIDECAR_KEY, image_id

MARKER = "napari_sam2_tracks"  # metadata key: the id of the image the layer belongs to


#: Label colours: saturated and mid-bright (0.4 to 0.8 in luminance), far apart in hue, so
#: each is seen on dark fluorescence and on bright nuclei alike and neighbouring ids differ
#: at a glance. napari's default cycle has near-black and near-white entries, and
#: neighbours of similar hue.
LABEL_COLOURS = (
    "#2ecc40", "#ff4fd8", "#3d9bff", "#e6c200", "#00c8d7",
    "#ff4136", "#b77cff", "#8fcf00", "#ff8fab", "#c08040",
)  # fmt: skip


def bright_label_colours():
    """The tracker's label colours (see :data:`LABEL_COLOURS`), cycling; 0 is transparent."""
    from napari.utils.colormaps import CyclicLabelColormap
    from napari.utils.colormaps.standardize_color import transform_color

    return CyclicLabelColormap(colors=np.vstack([[0.0, 0.0, 0.0, 0.0], transform_color(list(LABEL_COLOURS))]))


def canvas_clicks(on_click: Callable):
    """A mouse callback for the prompts layer: a press and release without a drag calls
    ``on_click(data_coords, positive)`` (Shift: negative); a drag pans as usual."""

    def callback(layer, event):
        if event.button != 1 or layer.mode != "pan_zoom":
            return
        yield
        dragged = False
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            on_click(layer.world_to_data(event.position), "Shift" not in event.modifiers)

    return callback


class LayerBinding:
    """Image, labels and prompt layers, their geometry, and the prompts they hold."""

    def __init__(
        self, viewer, on_prompts_changed: Callable, *, undo: Callable, redo: Callable, on_click: Callable
    ) -> None:
        self.viewer = viewer
        self._undo, self._redo, self._on_click = undo, redo, on_click
        self.image = self.labels = self.points = self.shapes = None
        self.frame_axis: int | None = None  # None: a 2-D image, tracked as one frame
        self._on_prompts_changed = on_prompts_changed
        self._ensuring = False
        self._lost: dict = {}  # prompt layers the user deleted, until they are recreated
        self.restoring = False  # prompts being put back: not a user edit

    # -- the image ----------------------------------------------------------------------------
    def bind_image(self, layer, frame_axis: int | None = None) -> bool:
        """Track in ``layer``; returns True when it is another image than before.

        Everything is checked before anything changes. Another image gets its own labels and
        prompt layers (its earlier ones when it has them).
        """
        if layer is None:
            raise Sam2InputError("Open an image first: there is no image layer to track in.")
        axis = None if is_single_image(layer) else default_frame_axis(layer, self.viewer)
        axis = axis if frame_axis is None or axis is None else frame_axis
        source_from_layer(layer, self.viewer, frame_axis=axis)  # refuses what cannot be tracked
        other = layer is not self.image
        if other:
            self.labels = None
            for name in ("points", "shapes"):
                if getattr(self, name) is not None:
                    self._unbind_prompts(name)
        self.image, self.frame_axis = layer, axis
        self.ensure_layers()
        return other

    @staticmethod
    def shape(image) -> tuple[int, ...]:
        return tuple(layer_data(image).shape[: image.ndim])

    def frame_count(self) -> int:
        return 1 if self.frame_axis is None else int(layer_data(self.image).shape[self.frame_axis])

    def source(self, roi=None):
        """Main thread: what the model should see now (layer, axis, held indices, contrast, ROI)."""
        if self.image is None:
            raise Sam2InputError("Choose an image layer first.")
        return source_from_layer(self.image, self.viewer, frame_axis=self.frame_axis, roi=roi)

    def held(self) -> dict[int, int]:
        if self.frame_axis is None:
            return {}
        return held_indices(self.image, self.viewer, self.frame_axis)

    def current_frame(self) -> int:
        return frame_of(data_position(self.image, self.viewer), self.frame_axis) if self.image is not None else 0

    def plane_index(self, frame: int, held: dict[int, int] | None = None) -> tuple:
        """Index of the 2-D label plane of ``frame`` at ``held`` (default: the current) indices."""
        if self.frame_axis is None:
            return ()
        index = [0] * (self.labels.ndim - 2)
        for axis, value in (self.held() if held is None else held).items():
            index[axis] = value
        index[self.frame_axis] = frame
        return tuple(index)

    def check_click(self, coords: np.ndarray, roi) -> None:
        """A click outside the image or region is refused before it becomes a point."""
        source = self.source(roi)
        if self.frame_axis is not None:
            frame, n = frame_of(coords, self.frame_axis), len(source)
            if not 0 <= frame < n:
                raise Sam2InputError(f"The click is on frame {frame}, outside the stack (frames 0 to {n - 1}).")
        source.to_roi_xy(float(coords[-2]), float(coords[-1]), "The click")

    def object_ids_in_layers(self) -> list[int]:
        """Object ids in the prompt layers and (for in-memory data) the labels."""
        ids = set()
        for layer in (self.points, self.shapes):
            if layer is not None and "object_id" in layer.features:
                ids |= {int(o) for o in layer.features["object_id"]}
        if self.labels is not None and isinstance(self.labels.data, np.ndarray):
            ids |= {int(o) for o in np.unique(self.labels.data) if o}
        return sorted(ids)

    def remove_prompts_of(self, obj: int) -> None:
        """Remove an object's points and boxes, without diffing (the object is being deleted)."""
        for layer in (self.points, self.shapes):
            if layer is not None and len(layer.data) and "object_id" in layer.features:
                with layer.events.data.blocker():
                    layer.selected_data = set(np.flatnonzero(np.asarray(layer.features["object_id"]) == obj).tolist())
                    layer.remove_selected()

    def claim_orphans(self, owner: Callable[[], int]) -> None:
        """Prompts drawn with no object (a box in a layer made a moment ago) belong to
        ``owner()``: the selected object, or a new one."""
        for layer in (self.points, self.shapes):
            if layer is None or not len(layer.data) or "object_id" not in layer.features:
                continue
            orphans = np.asarray(layer.features["object_id"]) <= 0
            if orphans.any():
                obj = owner()
                with layer.events.data.blocker():
                    layer.features.loc[orphans, "object_id"] = obj
                layer.feature_defaults = {**layer.feature_defaults.iloc[0].to_dict(), "object_id": obj}

    def colour_points(self, colour: Callable) -> None:
        """Points take their object's label colour; negative ones get a red border."""
        layer = self.points
        if layer is None or not len(layer.data):
            return
        ids, positive = layer.features["object_id"], layer.features["positive"]
        layer.face_color = np.array([colour(int(o)) for o in ids])
        layer.border_color = [_names.POSITIVE_BORDER if p else _names.NEGATIVE_BORDER for p in positive]

    def region_layer(self):
        """A 2-D Shapes layer (shown on every frame) in rectangle mode, for the region of interest."""
        image = self.image
        if image is None:
            raise Sam2InputError("Choose an image layer first.")
        if _names.ROI_LAYER in self.viewer.layers:
            region = self.viewer.layers[_names.ROI_LAYER]
        else:
            region = self.viewer.add_shapes(
                ndim=2,
                name=_names.ROI_LAYER,
                face_color="transparent",
                edge_color="yellow",
                edge_width=2,
                scale=image.scale[-2:],
                translate=image.translate[-2:],
            )
        region.mode = "add_rectangle"
        self.viewer.layers.selection.active = region
        return region

    def drawn_region(self) -> tuple[int, int, int, int]:
        """The last rectangle of the region layer, in whole pixels ``(y0, x0, y1, x1)``."""
        region = next((layer for layer in self.viewer.layers if layer.name == _names.ROI_LAYER), None)
        if region is None or not len(region.data):
            raise Sam2InputError("Draw a rectangle in the 'SAM 2 region' layer first.")
        corners = np.asarray(region.data[-1])[:, -2:]
        (y0, x0), (y1, x1) = corners.min(axis=0), corners.max(axis=0)
        return (int(np.floor(y0)), int(np.floor(x0)), int(np.ceil(y1)), int(np.ceil(x1)))

    def prompt_groups(self) -> Groups:
        held = self.held()
        groups = point_groups(self.points, self.frame_axis, held)
        return add_box_groups(groups, self.shapes, self.frame_axis, held)

    # -- making, adopting and recovering layers -------------------------------------------------
    def ensure_layers(self) -> None:
        if self._ensuring:  # adding a layer re-enters through the viewer's layer events
            return
        self._ensuring = True
        try:
            self._add_missing_layers()
        finally:
            self._ensuring = False

    def _ours(self, kind: type, ndim: int, shape=None):
        """A layer this tracker made for this image earlier (the tracker was reopened, or the
        image chosen again)."""
        mine = image_id(self.image)
        for layer in self.viewer.layers:
            if (
                isinstance(layer, kind)
                and layer.metadata.get(MARKER) == mine
                and layer.ndim == ndim
                and (shape is None or tuple(layer.data.shape) == shape)
            ):
                return layer
        return None

    def _opened_result(self, shape):
        """The one napari-sam2 result opened from a file (a label TIFF through its sidecar, a
        CTC folder, a GEFF store) that fits the image: the tracker writes into it rather than
        into a new, empty layer beside it. None when there is none, or several to choose from."""
        from napari.layers import Labels

        found = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, Labels)
            and layer.metadata.get(SIDECAR_KEY)
            and MARKER not in layer.metadata
            and tuple(layer.data.shape) == shape
            and np.issubdtype(layer.data.dtype, np.integer)
        ]
        return found[0] if len(found) == 1 else None

    def _add_missing_layers(self) -> None:
        from napari.layers import Labels, Points, Shapes

        image, viewer = self.image, self.viewer
        shape = self.shape(image)
        geometry = {"scale": image.scale, "translate": image.translate, "metadata": {MARKER: image_id(image)}}
        if self.labels is None or self.labels not in viewer.layers:
            self.labels = (
                self._ours(Labels, image.ndim, shape)
                or self._opened_result(shape)
                or viewer.add_labels(np.zeros(shape, np.uint16), name=self._free_name(_names.LABELS_LAYER), **geometry)
            )
            self.labels.colormap = bright_label_colours()
        if self.shapes is None or self.shapes not in viewer.layers:
            self.shapes = self._ours(Shapes, image.ndim) or viewer.add_shapes(
                name=self._free_name(_names.BOXES_LAYER),
                ndim=image.ndim,
                features={"object_id": np.zeros(0, int)},
                face_color="transparent",
                edge_width=2,
                **geometry,
            )
            self.shapes.events.data.connect(self._on_prompts_changed)
        if self.points is None or self.points not in viewer.layers:
            self.points = self._ours(Points, image.ndim) or viewer.add_points(
                np.zeros((0, image.ndim)),
                name=self._free_name(_names.PROMPTS_LAYER),
                size=8,
                border_width=0.25,
                features={"object_id": np.zeros(0, int), "positive": np.zeros(0, bool)},
                **geometry,
            )
            self._bind_points(self.points)
        viewer.layers.selection.active = self.points

    def _bind_points(self, points) -> None:
        """Diff the prompts on every change; clicks on the canvas reach the tracker."""
        points.events.data.connect(self._on_prompts_changed)
        # The prompts layer is the active one while clicking: Ctrl-Z there undoes labels.
        points.bind_key("Control-Z", lambda _layer: self._undo(), overwrite=True)
        points.bind_key("Control-Shift-Z", lambda _layer: self._redo(), overwrite=True)
        if self._on_click not in points.mouse_drag_callbacks:
            points.mouse_drag_callbacks.append(self._on_click)
        points.mode = "pan_zoom"

    def _free_name(self, name: str) -> str:
        return name if name not in self.viewer.layers else f"{name} ({self.image.name})"

    def use_labels(self, layer) -> None:
        """Write into an existing Labels layer instead of the tracker's own."""
        if not np.issubdtype(layer.data.dtype, np.integer):
            raise Sam2InputError(f"Labels layer {layer.name!r} is not integer-valued.")
        if self.image is not None and tuple(layer.data.shape) != self.shape(self.image):
            raise Sam2InputError(
                f"Labels layer {layer.name!r} has shape {layer.data.shape}, the image {self.shape(self.image)}."
            )
        self.labels = layer

    def forget_gone(self) -> tuple[bool, bool]:
        """Layers left the viewer: stop using them at once (returns whether the image and the
        labels went). Deleted prompt layers are kept aside, to come back with their prompts
        (:meth:`restore`)."""
        layers = self.viewer.layers
        image_gone = self.image is not None and self.image not in layers
        labels_gone = self.labels is not None and self.labels not in layers
        if image_gone:
            self.image = None
        if labels_gone:
            self.labels = None
        for name in ("points", "shapes"):
            if getattr(self, name) is not None and getattr(self, name) not in layers:
                self._lost[name] = self._unbind_prompts(name)
        return image_gone, labels_gone

    def restore(self) -> list[str]:
        """Recreate the bound image's missing layers: prompt layers with their prompts, an empty
        labels layer. Returns the names of the prompt layers recreated."""
        lost, self._lost = self._lost, {}
        if self.image is None or all(getattr(self, n) is not None for n in ("labels", "points", "shapes")):
            return []
        self.restoring = True  # the restored prompts are the ones already sent: no diff
        try:
            self.ensure_layers()
            for name, old in lost.items():
                new = getattr(self, name)
                if name == "shapes":  # as rectangles: assigning ``data`` would make them polygons
                    new.add(list(old.data), shape_type=list(old.shape_type))
                else:
                    new.data = old.data
                new.features = old.features
        finally:
            self.restoring = False
        return [getattr(self, name).name for name in lost]

    def _unbind_prompts(self, name: str):
        """Stop diffing the prompt layer held as ``name`` and drop it; returns the layer."""
        layer = getattr(self, name)
        layer.events.data.disconnect(self._on_prompts_changed)
        if self._on_click in getattr(layer, "mouse_drag_callbacks", []):
            layer.mouse_drag_callbacks.remove(self._on_click)
        setattr(self, name, None)
        return layer

    def release(self) -> None:
        """Let go of every layer (the image went): they stay in the viewer, untouched."""
        for name in ("points", "shapes"):
            if getattr(self, name) is not None:
                self._unbind_prompts(name)
        self.image = self.labels = None
        self.frame_axis = None
        self._lost = {}

    def close(self) -> None:
        for name in ("points", "shapes"):
            if getattr(self, name) is not None:
                self._unbind_prompts(name)
