"""OME-Zarr (NGFF 0.4 and 0.5) images in: the full-resolution level, with its axes and scale.

An OME-Zarr image is a zarr group whose attributes hold ``multiscales`` (NGFF 0.4, zarr 2)
or ``ome.multiscales`` (NGFF 0.5, zarr 3). Its first dataset is the full resolution; the
axes (``t``, ``c``, ``z``, ``y``, ``x`` with their types and units) and the dataset's scale
transformation give what a TIFF's metadata gives: the T or Z axis to track along and the
pixel size. Pixels are read lazily, a chunk at a time, through zarr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import Sam2InputError

#: NGFF unit names as the TIFF writer writes them (ImageJ's "µm", not "micrometer").
_UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "meter": "m", "angstrom": "Å"}


def ngff_attributes(attrs: dict) -> tuple[str | None, dict]:
    """``(version, attributes)`` of an OME-Zarr group: NGFF 0.5 keeps them under ``ome``."""
    if isinstance(attrs.get("ome"), dict):
        ome = attrs["ome"]
        return str(ome.get("version", "0.5")), ome
    multiscales = attrs.get("multiscales")
    if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
        return str(multiscales[0].get("version", "0.4")), attrs
    return None, attrs


def is_ome(attrs: dict) -> bool:
    """The group says it is OME-Zarr (an image, a plate, a well, labels)."""
    return ngff_attributes(attrs)[0] is not None or any(k in attrs for k in ("plate", "well", "image-label", "omero"))


def open_ome_image(group, path: Path):
    """``(level 0 array, axes letters, scale by letter, unit)`` of an OME-Zarr image group;
    one line (:class:`Sam2InputError`) for a plate, a well or a store without multiscales."""
    version, attrs = ngff_attributes(dict(group.attrs))
    for kind, hint in (
        ("plate", "plate: give one of its images (ROW/COLUMN/FIELD)"),
        ("well", "well: give one of its fields"),
    ):
        if kind in attrs:
            raise Sam2InputError(f"{path.name} is an OME-Zarr {hint}.")
    multiscales = attrs.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not multiscales[0].get("datasets"):
        raise Sam2InputError(f"{path.name} is OME-Zarr but has no multiscales image to read (NGFF {version or '?'}).")
    multiscale = multiscales[0]
    level = multiscale["datasets"][0]
    try:
        data = group[level["path"]]
    except KeyError:
        raise Sam2InputError(f"{path.name} names its full resolution {level['path']!r}, which is not in it.") from None
    axes = [_axis(a) for a in multiscale.get("axes") or []]
    if len(axes) != data.ndim:
        letters = None
        scale: dict[str, float] = {}
    else:
        letters = "".join(_letter(a) for a in axes)
        factors = _scale(level.get("coordinateTransformations"), data.ndim)
        overall = _scale(multiscale.get("coordinateTransformations"), data.ndim)
        scale = {letter: f * g for letter, f, g in zip(letters, factors, overall) if letter in "TZYX" and f * g > 0}
    units = [a.get("unit") for a in axes if a.get("type") == "space" and a.get("unit")]
    unit = _UNITS.get(units[-1], units[-1]) if units else None
    return data, letters, scale, unit


def _axis(axis: Any) -> dict:
    return axis if isinstance(axis, dict) else {"name": str(axis)}  # NGFF 0.3: names only


def _letter(axis: dict) -> str:
    name, kind = str(axis.get("name", "")).lower(), axis.get("type")
    if name in ("t", "c", "z", "y", "x"):
        return name.upper()
    if kind == "time":
        return "T"
    if kind == "channel":
        return "C"
    return "Q"


def _scale(transformations, ndim: int) -> list[float]:
    for step in transformations or []:
        if isinstance(step, dict) and step.get("type") == "scale" and len(step.get("scale", [])) == ndim:
            return [float(s) for s in step["scale"]]
    return [1.0] * ndim
