"""Save labels, export prompts for the CLI, load prompts back: the widget's file actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import io
from ..core.errors import Sam2InputError
from ..core.pipeline import provenance, validate_prompts
from ._io import write_labels_tiff
from ._layer_source import held_indices
from ._prompts import point_coords, rows_from_groups


def boxes_path(prompts_path: Path) -> Path:
    """``prompts.csv`` -> ``prompts_boxes.csv``."""
    return prompts_path.with_name(f"{prompts_path.stem}_boxes.csv")


def save_labels(controller, path: Path) -> list[str]:
    """The Labels layer as TIFF + JSON; the JSON carries the session's provenance."""
    layer = controller.labels_layer
    if layer is None:
        raise Sam2InputError("There are no labels to save yet.")
    sidecar = None
    session = controller.session
    if session is not None:
        settings = {"frame_axis": controller.frame_axis, "layer": controller.image_layer.name, "source": "napari"}
        done = sorted(session.scores)
        sidecar = provenance(
            session=session, settings=settings, frames_done=done, complete=len(done) == len(session.source)
        )
        layer.metadata["napari_sam2"] = sidecar
    image = controller.image_layer
    source_file = getattr(getattr(image, "source", None), "path", None) if image is not None else None
    return write_labels_tiff(
        path,
        layer.data,
        scale=tuple(layer.scale),
        axes=labels_axes(layer.ndim, controller.frame_axis, axis_letter(image, controller.frame_axis)),
        sidecar=sidecar,
        inputs=(source_file,),
    )


def axis_letter(layer, axis: int | None) -> str:
    """``Z`` or ``T`` for a layer axis named like a z or time axis; ``T`` when unnamed."""
    labels = tuple(getattr(layer, "axis_labels", ()) or ()) if layer is not None else ()
    name = str(labels[axis]).strip().lower() if axis is not None and axis < len(labels) else ""
    return "Z" if name in ("z", "slice", "slices", "depth") else "T"


def labels_axes(ndim: int, frame_axis: int | None, letter: str) -> str | None:
    """tifffile axes for labels whose ``frame_axis`` is a ``letter`` axis (None: the default)."""
    if ndim == 3 and frame_axis == 0:
        return f"{letter}YX"
    if ndim == 4 and frame_axis in (0, 1):
        other = "T" if letter == "Z" else "Z"
        return (letter + other if frame_axis == 0 else other + letter) + "YX"
    return None


def export_prompts(controller, path: Path) -> list[Path]:
    """Write the prompts in the CLI's CSV format (boxes beside them, if any)."""
    points, boxes = rows_from_groups(controller.prompt_groups())
    if not points and not boxes:
        raise Sam2InputError("There are no prompts to export yet.")
    written = []
    if points:
        io.write_point_prompts(path, points)
        written.append(path)
    if boxes:
        io.write_box_prompts(boxes_path(path), boxes)
        written.append(boxes_path(path))
    return written


def load_prompts(controller, path: Path) -> int:
    """Add the prompts of a CSV (ours or napari's Points export) to the prompt layers."""
    points = io.read_point_prompts(path, frame_axis=controller.frame_axis)
    boxes = io.read_box_prompts(boxes_path(path)) if boxes_path(path).exists() else []
    validate_prompts(controller.current_source(), points, boxes)
    layer, ndim = controller.points_layer, controller.image_layer.ndim
    held = held_indices(controller.image_layer, controller.viewer, controller.frame_axis)
    coords = np.array([point_coords(r, ndim, controller.frame_axis, held) for r in points]).reshape(-1, ndim)
    for obj in sorted({r.object_id for r in points} | {b.object_id for b in boxes}):
        controller.objects.setdefault(obj, f"object {obj}")
    with layer.events.data.blocker():
        features = layer.features.to_dict("list")
        layer.data = np.concatenate([layer.data, coords]) if len(layer.data) else coords
        layer.features = {
            "object_id": features.get("object_id", [])[: len(layer.data) - len(points)] + [r.object_id for r in points],
            "positive": features.get("positive", [])[: len(layer.data) - len(points)] + [r.positive for r in points],
        }
    for box in boxes:
        corners = [
            point_coords(io.PointRow(box.object_id, box.frame, y, x, True), ndim, controller.frame_axis, held)
            for y, x in ((box.y0, box.x0), (box.y0, box.x1), (box.y1, box.x1), (box.y1, box.x0))
        ]
        controller.shapes_layer.feature_defaults = {"object_id": box.object_id}
        controller.shapes_layer.add_rectangles(np.array(corners))
    controller._on_prompts_changed()
    return len(points) + len(boxes)
