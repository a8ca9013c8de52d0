"""Save labels, export prompts for the CLI, load prompts back: the widget's file actions.

An export carries, beside the prompt CSVs, every setting that changes the masks (axis,
held indices, contrast limits, region, model, hole filling), so ``napari-sam2 track
IMAGE --prompts prompts.csv`` gives the labels of the napari session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..core import io
from ..core.errors import Sam2InputError
from ..core.pipeline import provenance_record, rows_from_groups, validate_prompts
from ..core.session import DEFAULT_FILL_HOLE_AREA
from ._io import write_labels_tiff
from ._prompts import point_coords


def save_labels(controller, path: Path) -> list[str]:
    """The Labels layer as TIFF + JSON; the JSON carries the session's provenance."""
    binding = controller.binding
    layer, image = binding.labels, binding.image
    if layer is None:
        raise Sam2InputError("There are no labels to save yet.")
    sidecar = None
    if controller.record is not None:
        scores = controller.writer.scores
        settings = {
            "frame_axis": binding.frame_axis,
            "layer": image.name if image is not None else None,
            "source": "napari",
            "runs": list(controller.runs),
        }
        sidecar = provenance_record(
            record=controller.record,
            groups=binding.prompt_groups(),
            masks=sorted(controller.mask_prompts),
            scores=scores,
            settings=settings,
            frames_done=sorted(scores),
            complete=len(scores) == binding.frame_count(),
        )
        layer.metadata["napari_sam2"] = sidecar
    source_file = getattr(getattr(image, "source", None), "path", None) if image is not None else None
    return write_labels_tiff(
        path,
        layer.data,
        scale=tuple(layer.scale),
        axes=labels_axes(layer.ndim, binding.frame_axis, axis_letter(image, binding.frame_axis)),
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
    if ndim == 2:
        return "YX"
    if ndim == 3 and frame_axis == 0:
        return f"{letter}YX"
    if ndim == 4 and frame_axis in (0, 1):
        other = "T" if letter == "Z" else "Z"
        return (letter + other if frame_axis == 0 else other + letter) + "YX"
    return None


def export_settings(controller) -> dict:
    """The ``track`` options that reproduce the session's masks."""
    binding = controller.binding
    source = binding.source(controller.roi)
    record = controller.record
    contrast = source.contrast_limits if not source.is_uint8 and not binding.image.rgb else None
    return {
        "napari_sam2_version": __version__,
        "axis": binding.frame_axis,
        "hold": [f"{axis}={index}" for axis, index in sorted(binding.held().items())],
        "contrast_limits": None if contrast is None else [float(v) for v in contrast],
        "roi": None if controller.roi is None else list(controller.roi),
        "model": controller.settings.model_spec,
        "model_config": None,
        "fill_hole_area": record.fill_hole_area if record is not None else DEFAULT_FILL_HOLE_AREA,
    }


def export_prompts(controller, path: Path) -> list[Path]:
    """Write the prompts in the CLI's CSV format, boxes and settings beside them."""
    points, boxes = rows_from_groups(controller.binding.prompt_groups())
    if not points and not boxes:
        raise Sam2InputError("There are no prompts to export yet.")
    settings = export_settings(controller)
    written = []
    if points:
        io.write_point_prompts(path, points)
        written.append(path)
    if boxes:
        io.write_box_prompts(io.boxes_path(path), boxes)
        written.append(io.boxes_path(path))
        settings["boxes"] = io.boxes_path(path).name
    io.write_json(io.prompt_settings_path(path), settings)
    written.append(io.prompt_settings_path(path))
    return written


def load_prompts(controller, path: Path) -> int:
    """Add the prompts of a CSV (ours or napari's Points export) to the prompt layers."""
    binding = controller.binding
    frame_axis = binding.frame_axis
    points = io.read_point_prompts(path, frame_axis=frame_axis or 0)
    boxes = io.read_box_prompts(io.boxes_path(path)) if io.boxes_path(path).exists() else []
    validate_prompts(binding.source(controller.roi), points, boxes)
    layer, ndim, held = binding.points, binding.image.ndim, binding.held()
    coords = np.array([point_coords(r, ndim, frame_axis, held) for r in points]).reshape(-1, ndim)
    controller.objects.ensure(sorted({r.object_id for r in points} | {b.object_id for b in boxes}))
    with layer.events.data.blocker():
        features = layer.features.to_dict("list")
        old = len(layer.data)
        layer.data = np.concatenate([layer.data, coords]) if old else coords
        layer.features = {
            "object_id": features.get("object_id", [])[:old] + [r.object_id for r in points],
            "positive": features.get("positive", [])[:old] + [r.positive for r in points],
        }
    for box in boxes:
        corners = [
            point_coords(io.PointRow(box.object_id, box.frame, y, x, True), ndim, frame_axis, held)
            for y, x in ((box.y0, box.x0), (box.y0, box.x1), (box.y1, box.x1), (box.y1, box.x0))
        ]
        binding.shapes.feature_defaults = {"object_id": box.object_id}
        with binding.shapes.events.data.blocker():
            binding.shapes.add_rectangles(np.array(corners))
    return len(points) + len(boxes)
