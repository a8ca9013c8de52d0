"""The npe2 contributions: the writer (labels -> TIFF + JSON) and the readers (napari-sam2 files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core import outputs, prompt_files
from ..core.labels import saved_label_dtype
from ..core.outputs import labels_axes


def write_labels_tiff(
    path: str | Path,
    data: Any,
    *,
    scale=None,
    unit: str | None = None,
    axes: str | None = None,
    sidecar: dict | None = None,
    inputs: tuple = (),
) -> list[str]:
    """Write labels as a TIFF (ImageJ for uint16) plus its JSON, as one unit (see core.outputs).

    ``axes`` are tifffile letters (``ZYX`` for a z-stack, ``TYX`` for a time-lapse);
    ``scale`` is the layer's scale in the same order, so the z-step or frame interval is
    kept. ``inputs`` are files the output must never replace (the image's own file).
    """
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    outputs.check_outputs(path, inputs=inputs, overwrite=True)  # napari's dialog already asked
    data = np.asarray(data)
    dtype = saved_label_dtype(data)
    if axes is None or len(axes) != data.ndim:
        axes = labels_axes(data.ndim) or "Q" * (data.ndim - 2) + "YX"
    writer = outputs.LabelsTiffWriter(
        path,
        shape=data.shape,
        dtype=dtype,
        axes=axes,
        scale=_scale_by_letter(axes, scale),
        unit=unit,
    )
    try:
        for index in np.ndindex(*data.shape[:-2]):
            writer.write_frame(index, data[index])
        writer.commit(sidecar)
    except BaseException:
        writer.discard()
        raise
    return [str(path), str(outputs.sidecar_path(path))]


def _scale_by_letter(axes: str, scale) -> dict[str, float]:
    if scale is None or len(scale) != len(axes):
        return {}
    return {letter: float(s) for letter, s in zip(axes, scale) if letter in "TZYX" and float(s) > 0}


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels layer to ``LABELS.tif`` + ``LABELS.json``."""
    provenance = (meta.get("metadata") or {}).get("napari_sam2")
    return write_labels_tiff(path, data, scale=meta.get("scale"), sidecar=provenance)


def get_prompts_reader(path: str | list[str]):
    """npe2 reader: our prompt CSV (object_id,frame,y,x,positive) as a Points layer."""
    if isinstance(path, list) or not str(path).lower().endswith(".csv"):
        return None
    try:
        with Path(path).open(encoding="utf-8-sig") as handle:
            header = handle.readline().strip().split(",")
    except OSError:
        return None
    if not {"object_id", "frame", "y", "x"} <= set(header):
        return None
    return _read_prompts


def _read_prompts(path: str):
    rows = prompt_files.read_point_prompts(path)
    data = np.array([[r.frame, r.y, r.x] for r in rows], dtype=float)
    features = {"object_id": [r.object_id for r in rows], "positive": [r.positive for r in rows]}
    return [(data, {"name": Path(path).stem, "features": features, "size": 8}, "points")]
