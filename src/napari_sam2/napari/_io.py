"""napari writer (labels -> TIFF + JSON) and reader (prompt CSV -> Points layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core import io
from ..core.errors import Sam2InputError

_AXES = {2: "YX", 3: "TYX", 4: "TZYX", 5: "TZCYX"}


def write_labels_tiff(path: str | Path, data: Any, *, scale=None, sidecar: dict | None = None) -> list[str]:
    """Write labels atomically as TIFF (ImageJ for uint16) plus a JSON sidecar."""
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    data = np.asarray(data)
    if not np.issubdtype(data.dtype, np.integer):
        raise Sam2InputError("Labels must be integers to be saved as a label TIFF.")
    dtype = np.uint16 if data.max(initial=0) <= 65535 and data.min(initial=0) >= 0 else np.uint32
    data = data.astype(dtype, copy=False)
    kwargs: dict[str, Any] = {}
    if scale is not None and len(scale) >= 2 and scale[-1] > 0 and scale[-2] > 0:
        kwargs["resolution"] = (1.0 / float(scale[-1]), 1.0 / float(scale[-2]))
    if dtype == np.uint16 and data.ndim in _AXES:
        kwargs.update(imagej=True, metadata={"axes": _AXES[data.ndim]})
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tifffile.imwrite(tmp, data, **kwargs)
        sidecar_path = io.sidecar_path(path)
        io.write_json(sidecar_path, sidecar or {"shape": list(data.shape), "dtype": str(dtype)})
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return [str(path), str(sidecar_path)]


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
    rows = io.read_point_prompts(path)
    data = np.array([[r.frame, r.y, r.x] for r in rows], dtype=float)
    features = {"object_id": [r.object_id for r in rows], "positive": [r.positive for r in rows]}
    return [(data, {"name": Path(path).stem, "features": features, "size": 8}, "points")]
