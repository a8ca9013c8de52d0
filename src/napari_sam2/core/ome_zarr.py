"""OME-Zarr (NGFF 0.4 and 0.5): images in, with their axes and scale; labels out, into the
image's ``labels/`` group (:class:`LabelsZarrWriter`).

An OME-Zarr image is a zarr group whose attributes hold ``multiscales`` (NGFF 0.4, zarr 2)
or ``ome.multiscales`` (NGFF 0.5, zarr 3). Its first dataset is the full resolution; the
axes (``t``, ``c``, ``z``, ``y``, ``x`` with their types and units) and the dataset's scale
transformation give what a TIFF's metadata gives: the T or Z axis to track along and the
pixel size. Pixels are read lazily, a chunk at a time, through zarr.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Sam2InputError
from .partials import PARTIAL_LOCK, lock_partial_folder, remove_stale_partials

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


# -- labels out: into the image's labels/ group ------------------------------------------------
#: The label image's name in ``labels/`` when ``--out`` names the store only.
DEFAULT_LABELS_NAME = "napari-sam2"
_NGFF_UNITS = {v: k for k, v in _UNITS.items()} | {"micron": "micrometer"}
_AXIS_NAMES = {"T": ("t", "time"), "Z": ("z", "space"), "Y": ("y", "space"), "X": ("x", "space")}
#: Pyramid levels below full resolution, each half the size, while the frame stays this large.
_MIN_LEVEL_SIDE = 64
_MAX_LEVELS = 4


def labels_target(out) -> tuple[Path, str] | None:
    """``image.zarr`` -> ``(image.zarr, "napari-sam2")``; ``image.zarr/labels/NAME`` ->
    ``(image.zarr, NAME)``; None for any other output (a TIFF)."""
    out = Path(out)
    if out.suffix.lower() == ".zarr":
        return out, DEFAULT_LABELS_NAME
    if out.parent.name == "labels" and out.parent.parent.suffix.lower() == ".zarr":
        return out.parent.parent, out.name
    return None


def labels_array(out) -> Path:
    """Where the full-resolution labels of an output are: the TIFF itself, or the label
    image's level ``0`` in an OME-Zarr store."""
    target = labels_target(out)
    return Path(out) if target is None else target[0] / "labels" / target[1] / "0"


def inside_store(out) -> Path | None:
    """The OME-Zarr store ``out`` lies in, when it is neither the store nor one of its labels."""
    out = Path(out)
    for parent in out.parents:
        if parent.suffix.lower() == ".zarr" and labels_target(out) is None:
            return parent
    return None


def check_labels_output(out, *, overwrite: bool) -> tuple[Path, str, str]:
    """``(store, name, NGFF version)`` of an OME-Zarr label output, refused in one line where
    the store is no OME-Zarr image, the name is no plain name, or the labels exist (without
    overwrite)."""
    root, name = labels_target(out)
    if not root.is_dir():
        raise Sam2InputError(f"{root} does not exist: --out .zarr writes into an existing OME-Zarr image.")
    group = _open_group(root, "r")
    version, attrs = ngff_attributes(dict(group.attrs))
    if not attrs.get("multiscales"):
        raise Sam2InputError(
            f"{root.name} is no OME-Zarr image (no multiscales): labels go into an image's labels/ group."
        )
    if not name or name.startswith(".") or name in (".", "..") or any(c in name for c in "/\\"):
        raise Sam2InputError(f"{name!r} is not a name for a label image; use letters, digits, '-' or '_'.")
    if (root / "labels" / name).exists() and not overwrite:
        raise Sam2InputError(f"{root.name}/labels/{name} already exists; pass --overwrite to replace it.")
    return root, name, version or "0.4"


def _open_group(root: Path, mode: str):
    import zarr

    try:
        return zarr.open_group(str(root), mode=mode)
    except Exception as exc:  # zarr raises several types for a folder that is no group
        raise Sam2InputError(f"{root.name} is not a readable zarr group ({exc}).") from exc


class LabelsZarrWriter:
    """A label image written into ``STORE/labels/NAME`` frame by frame, that appears there,
    with its NGFF ``multiscales`` and ``image-label`` metadata, only on :meth:`commit`.

    Frames go to a hidden folder in the store (``.NAME.<token>.partial``), one chunk per frame;
    commit adds the smaller levels, the metadata and the sidecar (group attribute
    ``napari_sam2``), renames the folder into ``labels/`` and lists it there. The image's own
    arrays and metadata are never written. The zarr format follows the image (NGFF 0.4: zarr
    2; 0.5: zarr 3).
    """

    def __init__(self, out, *, shape, dtype, axes: str, scale=None, unit=None, overwrite: bool = True) -> None:
        import uuid

        import zarr

        self.root, self.name, self.version = check_labels_output(out, overwrite=overwrite)
        self.path = self.root / "labels" / self.name
        self.zarr_format = 3 if self.version.startswith("0.5") else 2
        self.shape, self.dtype, self.axes = tuple(int(s) for s in shape), np.dtype(dtype), axes
        self.scale, self.unit = dict(scale or {}), unit
        self.run_id = uuid.uuid4().hex
        # Partials are named and locked as the TIFF writer's are (core.outputs), as if
        # STORE/NAME: a killed run's goes, a running one's stops this run.
        remove_stale_partials(self.root / self.name, shown=f"{self.root.name}/labels/{self.name}")
        self.tmp = self.root / f".{self.name}.{self.run_id[:12]}.partial"
        self._values: set[int] = set()
        group = zarr.open_group(str(self.tmp), mode="w", zarr_format=self.zarr_format)
        self._lock = lock_partial_folder(self.tmp)  # held while this run writes
        self._level0 = self._level(group, "0", self.shape)

    def _level(self, group, path: str, shape):
        chunks = (1,) * (len(shape) - 2) + tuple(min(s, 1024) for s in shape[-2:])
        if self.zarr_format == 2:  # NGFF 0.4: "/"-separated chunk keys
            extra = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
        else:  # NGFF 0.5: the axes' names on every array
            extra = {"dimension_names": [_AXIS_NAMES.get(letter, (letter.lower(),))[0] for letter in self.axes]}
        return group.create_array(path, shape=shape, chunks=chunks, dtype=self.dtype, fill_value=0, **extra)

    def read_frame(self, index) -> np.ndarray:
        return np.asarray(self._level0[index])

    def write_frame(self, index, plane: np.ndarray) -> None:
        plane = np.asarray(plane, dtype=self.dtype)
        self._level0[index] = plane
        self._values.update(int(v) for v in np.unique(plane) if v)

    def commit(self, sidecar: dict | None = None) -> None:
        """Smaller levels, metadata, then the rename into ``labels/`` and the listing there."""
        import shutil
        import uuid

        import zarr

        try:
            group = zarr.open_group(str(self.tmp), mode="r+")
            levels = self._pyramid(group)
            payload = dict(sidecar or {})
            payload.update(labels_run_id=self.run_id, labels_file=f"{self.root.name}/labels/{self.name}")
            group.attrs.update(self._metadata(levels, payload))
            labels = self._labels_group()
            old = None
            if self.path.exists():  # moved aside as an unlocked partial: if this run dies, the next removes it
                old = self.root / f".{self.name}.{uuid.uuid4().hex[:12]}.partial"
                os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            listed = self._listed(labels)
            if self.name not in listed:
                self._set_listed(labels, [*listed, self.name])
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            (self.path / PARTIAL_LOCK).unlink(missing_ok=True)
            self._release()
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)
            self._lock = None

    # -- the parts of a commit ----------------------------------------------------------------
    def _pyramid(self, group) -> list[int]:
        """Levels 1, 2, ... each half the one before (nearest: labels stay labels)."""
        factors, step = [1], 2
        while len(factors) < _MAX_LEVELS and min(self.shape[-2:]) // step >= _MIN_LEVEL_SIDE:
            shape = (*self.shape[:-2], -(-self.shape[-2] // step), -(-self.shape[-1] // step))
            level = self._level(group, str(len(factors)), shape)
            for index in np.ndindex(*self.shape[:-2]):
                level[index] = self.read_frame(index)[::step, ::step]
            factors.append(step)
            step *= 2
        return factors

    def _metadata(self, factors: list[int], payload: dict) -> dict:
        axes, base = [], []
        for letter in self.axes:
            name, kind = _AXIS_NAMES.get(letter, (letter.lower(), None))
            axis = {"name": name, **({"type": kind} if kind else {})}
            if kind == "space" and self.unit:
                axis["unit"] = _NGFF_UNITS.get(self.unit, self.unit)
            axes.append(axis)
            base.append(float(self.scale.get(letter, 1.0)))
        datasets = []
        for k, factor in enumerate(factors):
            scale = [s * factor if letter in "YX" else s for letter, s in zip(self.axes, base)]
            datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
        multiscale = {"name": self.name, "axes": axes, "datasets": datasets}
        parents = {int(r["id"]): int(r.get("parent", 0)) for r in payload.get("lineage") or []}
        image_label = {
            "colors": [{"label-value": v, "rgba": _colour(v)} for v in sorted(self._values)],
            "properties": [
                {"label-value": v, "track_id": v, "parent": parents.get(v, 0)} for v in sorted(self._values)
            ],
            "source": {"image": "../../"},
        }
        if self.zarr_format == 2:
            multiscale["version"] = image_label["version"] = self.version
            return {"multiscales": [multiscale], "image-label": image_label, "napari_sam2": payload}
        return {"ome": {"version": self.version, "multiscales": [multiscale], "image-label": image_label},
                "napari_sam2": payload}  # fmt: skip

    def _labels_group(self):
        import zarr

        if (self.root / "labels").is_dir():
            return zarr.open_group(str(self.root / "labels"), mode="r+")
        group = zarr.open_group(str(self.root / "labels"), mode="w", zarr_format=self.zarr_format)
        self._set_listed(group, [])
        return group

    def _listed(self, labels) -> list[str]:
        attrs = dict(labels.attrs)
        listed = (attrs.get("ome") or {}).get("labels") if self.zarr_format == 3 else attrs.get("labels")
        return list(listed or [])

    def _set_listed(self, labels, names: list[str]) -> None:
        if self.zarr_format == 3:
            labels.attrs.update({"ome": {"version": self.version, "labels": names}})
        else:
            labels.attrs.update({"labels": names})


def _colour(value: int) -> list[int]:
    """A stable, distinct colour per label value (golden-ratio hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((value * 0.618033988749895) % 1.0, 0.65, 0.95)
    return [int(r * 255), int(g * 255), int(b * 255), 255]
