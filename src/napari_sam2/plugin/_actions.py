"""Save labels, export prompts for the CLI, load prompts back: the widget's file actions.

An export carries, beside the prompt CSVs, every setting that changes the masks (axis,
held indices, contrast limits, region, model, hole filling) and the session's history (the
prompts in the order the session took them, each run's passes, objects removed, and which
steps were undone), so ``napari-sam2 track IMAGE --prompts prompts.csv`` replays the
session and gives napari's labels, pixel for pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..core import outputs, prompt_files
from ..core.errors import Sam2InputError
from ..core.holes import DEFAULT_FILL_HOLE_AREA
from ..core.outputs import labels_axes
from ..core.prompts import rows_from_groups, validate_prompts
from ..core.provenance import provenance_record, track_options
from ._layer_source import axis_letter, physical_scale
from ._npe2 import write_labels_file
from ._prompts import point_coords
from ._state import SIDECAR_KEY


def save_labels(binding, state, population, path: Path) -> list[str]:
    """The Labels layer as TIFF + JSON, or into an OME-Zarr image's ``labels/`` group; the
    JSON (or the label image's attributes) carries the session's provenance and lineage."""
    layer, image = binding.labels, binding.image
    if layer is None:
        raise Sam2InputError("There are no labels to save yet.")
    workspace = state.workspace
    sidecar = None
    if state.record is not None or workspace.scores:
        sidecar = _sidecar(binding, state)
    if workspace.reviewed or len(population.lineage):  # these go with the labels, even without a run
        sidecar = sidecar or {"napari_sam2_version": __version__, "source": "napari"}
    if len(population.lineage):  # a run's, or one opened with the labels (a CTC folder, a GEFF)
        sidecar["lineage"] = population.lineage.as_dict()
    if workspace.reviewed:
        sidecar["review"] = dict(sorted(workspace.reviewed.items()))
    if sidecar is not None:
        layer.metadata[SIDECAR_KEY] = sidecar
    letter = axis_letter(image, binding.viewer, binding.frame_axis)
    scale, unit = physical_scale(image) if image is not None else (tuple(layer.scale), None)
    source_file = getattr(getattr(image, "source", None), "path", None) if image is not None else None
    return write_labels_file(
        path,
        layer.data,
        scale=scale,
        unit=unit,
        axes=labels_axes(layer.ndim, binding.frame_axis, letter),
        sidecar=sidecar,
        inputs=(source_file,),
    )


def _sidecar(binding, state) -> dict:
    workspace, image = state.workspace, binding.image
    scores = workspace.scores
    settings = {
        "frame_axis": binding.frame_axis,
        "layer": image.name if image is not None else None,
        "source": "napari",
        "runs": list(workspace.run_log),
    }
    record = state.record
    if record is None:  # a session of this image ran before the tracker was reopened
        from ..core.provenance import RunRecord

        record = RunRecord({"spec": state.settings.model}, False, {}, DEFAULT_FILL_HOLE_AREA)
    sidecar = provenance_record(
        record=record,
        groups=binding.prompt_groups(),
        masks=sorted(workspace.mask_prompts),
        scores=scores,
        settings=settings,
        frames_done=sorted(scores),
        complete=len(scores) == binding.frame_count(),
    )
    sidecar["objects"] = {str(obj): name for obj, name in state.objects.items()}
    return sidecar


def export_settings(binding, state) -> dict:
    """The ``track`` options that reproduce the current session's masks."""
    record = state.record
    fill = record.fill_hole_area if record is not None else DEFAULT_FILL_HOLE_AREA
    source = binding.source(state.roi)
    options = track_options(source, model=state.settings.model, fill_hole_area=fill)
    return {"napari_sam2_version": __version__, **options}


def export_prompts(binding, state, path: Path) -> tuple[list[Path], list[str]]:
    """Write the prompts in the CLI's CSV format, boxes, settings and history beside them.

    Returns the files written and what the history cannot repeat (hand painting, ...)."""
    points, boxes = rows_from_groups(binding.prompt_groups())
    if not points and not boxes:
        raise Sam2InputError("There are no prompts to export yet.")
    settings = export_settings(binding, state)
    history = state.workspace.history.export(binding.labels)
    written = []
    if points:
        prompt_files.write_point_prompts(path, points)
        written.append(path)
    if boxes:
        prompt_files.write_box_prompts(prompt_files.boxes_path(path), boxes)
        written.append(prompt_files.boxes_path(path))
        settings["boxes"] = prompt_files.boxes_path(path).name
    if not state.workspace.history.is_empty():
        settings["history"] = history.as_dict()
        if history.masks:
            masks = prompt_files.history_masks_path(path)
            prompt_files.write_history_masks(masks, history.masks)
            settings["masks"] = masks.name
            written.append(masks)
    outputs.write_json(prompt_files.prompt_settings_path(path), settings)
    written.append(prompt_files.prompt_settings_path(path))
    return written, history.unreplayable


def load_prompts(binding, state, path: Path) -> int:
    """Add the prompts of a CSV (ours or napari's Points export) to the prompt layers."""
    frame_axis = binding.frame_axis
    if binding.points is None:
        raise Sam2InputError("Choose an image layer first.")
    points = prompt_files.read_point_prompts(path, frame_axis=frame_axis or 0)
    beside = prompt_files.boxes_path(path)
    boxes = prompt_files.read_box_prompts(beside) if beside.exists() else []
    validate_prompts(binding.source(state.roi), points, boxes)
    layer, ndim, held = binding.points, binding.image.ndim, binding.held()
    coords = np.array([point_coords(r, ndim, frame_axis, held) for r in points]).reshape(-1, ndim)
    state.objects.ensure(sorted({r.object_id for r in points} | {b.object_id for b in boxes}))
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
            point_coords(prompt_files.PointRow(box.object_id, box.frame, y, x, True), ndim, frame_axis, held)
            for y, x in ((box.y0, box.x0), (box.y0, box.x1), (box.y1, box.x1), (box.y1, box.x0))
        ]
        binding.shapes.feature_defaults = {"object_id": box.object_id}
        with binding.shapes.events.data.blocker():
            binding.shapes.add_rectangles(np.array(corners))
    return len(points) + len(boxes)
