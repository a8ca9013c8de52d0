"""Files in and out: images (TIFF, npy, zarr), prompt CSVs, label TIFF and provenance JSON.

* Images open lazily: a TIFF through tifffile's zarr store (plain file reads), ``.npy`` as a
  memory map, a zarr store through zarr; nothing is decoded until a frame is asked for.
* Prompts: ``object_id,frame,y,x,positive``; boxes: ``object_id,frame,y0,x0,y1,x1``.
  napari's own Points-layer CSV export (``index,axis-0,axis-1,...`` plus feature columns
  ``object_id`` and ``positive``) is read too.
* Label outputs (TIFF + JSON) are written by :mod:`.outputs`, which guards the inputs and
  keeps the pair consistent; the names are re-exported here.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Sam2InputError

IMAGE_SUFFIXES = (".tif", ".tiff", ".npy", ".zarr")


@dataclass
class ImageInput:
    """A lazily opened image and what is known about its axes and pixel size."""

    data: Any
    axes: str | None = None  # tifffile letters, e.g. "TZCYX"; None when unknown
    scale: dict[str, float] = field(default_factory=dict)  # axis letter -> size per pixel
    unit: str | None = None
    handle: Any = None  # keeps a TIFF file open while a zarr view reads from it

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


# -- images ---------------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> ImageInput:
    """Open a TIFF (ImageJ, OME or plain), ``.npy`` or zarr array without reading pixels."""
    path = Path(path)
    if not path.exists():
        raise Sam2InputError(f"Input {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _read_tiff(path)
    if suffix == ".npy":
        try:  # never unpickle: an .npy of Python objects is refused, not executed
            return _checked(ImageInput(np.load(path, mmap_mode="r", allow_pickle=False)), path)
        except (ValueError, OSError) as exc:
            raise Sam2InputError(f"{path} is not a readable .npy image ({exc}).") from exc
    if suffix == ".zarr" or (path.is_dir() and any((path / n).exists() for n in (".zarray", "zarr.json"))):
        return _checked(_read_zarr(path), path)
    raise Sam2InputError(f"{path}: unsupported input; use one of {', '.join(IMAGE_SUFFIXES)}.")


def _checked(image: ImageInput, path: Path) -> ImageInput:
    """Refuse arrays that cannot be an image: strings, objects, complex numbers."""
    dtype = np.dtype(image.data.dtype)
    if dtype.kind not in "biuf":
        image.close()
        raise Sam2InputError(f"{path} holds {dtype} values, not image intensities (numbers).")
    return image


def _read_tiff(path: Path) -> ImageInput:
    import tifffile

    try:
        with _tifffile_logging_as_errors() as problems:
            tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise Sam2InputError(f"{path} is not a readable TIFF image ({exc}).") from exc
    try:
        with _tifffile_logging_as_errors() as more:
            series = tif.series[0]
            axes = series.axes
            scale, unit = _tiff_scale(tif)
        _check_declared_shape(tif, series, path, problems + more)
    except Sam2InputError:
        tif.close()
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        tif.close()
        raise Sam2InputError(f"{path} is not a readable TIFF image ({exc}).") from exc
    # Frames are read through tifffile's zarr store (plain file reads, any compression):
    # a memory map would keep every page it touched resident, growing with the stack.
    try:
        import zarr

        data = zarr.open(series.aszarr(), mode="r")
        return _checked(ImageInput(data, axes, scale, unit, handle=tif), path)
    except ImportError:
        pass
    try:
        data = tifffile.memmap(path, series=0, mode="r")
    except (ValueError, OSError):
        data = series.asarray()  # compressed and no zarr: the whole stack is decoded once
    tif.close()
    return _checked(ImageInput(data, axes, scale, unit), path)


@contextlib.contextmanager
def _tifffile_logging_as_errors():
    """Collect what tifffile logs about a damaged file instead of letting it print."""
    problems: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            problems.append(record.getMessage())

    logger = logging.getLogger("tifffile")
    handler, propagate = _Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield problems
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_declared_shape(tif, series, path: Path, problems: list[str]) -> None:
    """A TIFF whose declared size disagrees with what the file holds is damaged (truncated)."""
    declared = (tif.imagej_metadata or {}).get("images") if tif.is_imagej else None
    planes = int(np.prod(series.shape[: -2 - (1 if series.axes.endswith("S") else 0)] or (1,)))
    size = path.stat().st_size
    end = series.dataoffset + series.nbytes if series.dataoffset is not None else None
    if (declared and int(declared) > planes) or (end is not None and end > size):
        detail = f"it declares {declared or series.shape} images but holds {planes}" if declared else "it is truncated"
        raise Sam2InputError(f"{path} is damaged: {detail}.")
    if problems and any("corrupt" in p or "invalid" in p for p in problems):
        raise Sam2InputError(f"{path} is damaged: {problems[0].split('>')[-1].strip()}.")


def _tiff_scale(tif) -> tuple[dict[str, float], str | None]:
    scale: dict[str, float] = {}
    unit = None
    page = tif.pages[0]
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in page.tags:
            num, den = page.tags[tag].value
            if num and den and (num, den) != (1, 1):
                scale[letter] = den / num
    meta = tif.imagej_metadata or {}
    if meta.get("spacing"):
        scale["Z"] = float(meta["spacing"])
    if meta.get("finterval"):
        scale["T"] = float(meta["finterval"])
    unit = meta.get("unit") or None
    if tif.is_ome and tif.ome_metadata:
        for letter in "XYZ":
            match = re.search(rf'PhysicalSize{letter}="([0-9.eE+-]+)"', tif.ome_metadata)
            if match:
                scale[letter] = float(match.group(1))
        match = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
        unit = match.group(1) if match else unit or "µm"
    return scale, unit


def _read_zarr(path: Path) -> ImageInput:
    try:
        import zarr
    except ImportError as exc:
        raise Sam2InputError("Reading zarr needs the zarr package: pip install 'napari-sam2[zarr]'.") from exc
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a non-zarr folder
        raise Sam2InputError(f"{path} is not a readable zarr array ({exc}).") from exc
    if hasattr(node, "shape"):
        return ImageInput(node)
    arrays = sorted(name for name, _ in node.arrays())
    if not arrays:
        raise Sam2InputError(f"{path} is a zarr group with no arrays.")
    return ImageInput(node[arrays[0]])


# -- prompts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointRow:
    object_id: int
    frame: int
    y: float
    x: float
    positive: bool


@dataclass(frozen=True)
class BoxRow:
    object_id: int
    frame: int
    y0: float
    x0: float
    y1: float
    x1: float


_TRUE = {"1", "true", "yes", "y", "t", "positive", "1.0"}
_FALSE = {"0", "false", "no", "n", "f", "negative", "0.0"}


def _read_rows(path: str | os.PathLike, what: str) -> tuple[list[str], list[dict[str, str]]]:
    path = Path(path)
    if path.is_dir():
        raise Sam2InputError(f"The {what} file {path} is a folder; choose a CSV file.")
    if not path.is_file():
        raise Sam2InputError(f"The {what} file {path} does not exist.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = [c.strip() for c in (reader.fieldnames or [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Sam2InputError(f"The {what} file {path} is not a CSV text file ({exc}).") from exc
    except OSError as exc:
        raise Sam2InputError(f"The {what} file {path} cannot be read ({exc.strerror or exc}).") from exc
    rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in rows]
    rows = [r for r in rows if any(r.values())]
    if not columns or not rows:
        raise Sam2InputError(f"The {what} file {path} is empty.")
    return columns, rows


def _number(row: dict[str, str], column: str, line: int, path, integer: bool = False) -> float:
    text = row.get(column, "")
    try:
        value = float(text)
    except ValueError:
        raise Sam2InputError(f"{path}, line {line}: column {column!r} should be a number, got {text!r}.") from None
    if not np.isfinite(value):
        raise Sam2InputError(f"{path}, line {line}: column {column!r} is not finite.")
    if integer:
        if abs(value - round(value)) > 1e-6:
            raise Sam2InputError(f"{path}, line {line}: column {column!r} should be a whole number, got {text!r}.")
        return int(round(value))
    return value


def _positive(text: str, line: int, path) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Sam2InputError(f"{path}, line {line}: 'positive' should be true/false or 1/0, got {text!r}.")


def read_point_prompts(path: str | os.PathLike, *, frame_axis: int = 0) -> list[PointRow]:
    """Read our prompt CSV, or napari's Points CSV export.

    For a napari export, ``frame_axis`` is the propagated axis counted among the point
    coordinates (``axis-0``, ``axis-1``, ...); ``y`` and ``x`` are the last two.
    """
    columns, rows = _read_rows(path, "prompts")
    axis_cols = sorted((c for c in columns if re.fullmatch(r"axis-\d+", c)), key=lambda c: int(c[5:]))
    if {"object_id", "frame", "y", "x"} <= set(columns):
        frame_col, y_col, x_col = "frame", "y", "x"
    elif len(axis_cols) >= 3:
        if not 0 <= frame_axis < len(axis_cols) - 2:
            raise Sam2InputError(f"{path}: axis {frame_axis} is not a frame axis of these {len(axis_cols)}-D points.")
        frame_col, y_col, x_col = axis_cols[frame_axis], axis_cols[-2], axis_cols[-1]
    else:
        raise Sam2InputError(
            f"{path}: a prompts file needs columns object_id,frame,y,x,positive "
            f"(or napari's Points export with axis-0..axis-2); found {', '.join(columns)}."
        )
    points = []
    for line, row in enumerate(rows, start=2):
        obj = _number(row, "object_id", line, path, integer=True) if "object_id" in columns else 1
        if obj <= 0:
            raise Sam2InputError(f"{path}, line {line}: object_id must be a positive whole number.")
        positive = _positive(row["positive"], line, path) if "positive" in columns else True
        frame = _number(row, frame_col, line, path, integer=True)
        points.append(PointRow(obj, frame, _number(row, y_col, line, path), _number(row, x_col, line, path), positive))
    return points


def read_box_prompts(path: str | os.PathLike) -> list[BoxRow]:
    columns, rows = _read_rows(path, "boxes")
    needed = ["object_id", "frame", "y0", "x0", "y1", "x1"]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise Sam2InputError(f"{path}: a boxes file needs columns {','.join(needed)}; missing {', '.join(missing)}.")
    boxes = []
    for line, row in enumerate(rows, start=2):
        obj, frame = (_number(row, c, line, path, integer=True) for c in ("object_id", "frame"))
        y0, x0, y1, x1 = (_number(row, c, line, path) for c in ("y0", "x0", "y1", "x1"))
        if obj <= 0:
            raise Sam2InputError(f"{path}, line {line}: object_id must be a positive whole number.")
        if y1 <= y0 or x1 <= x0:
            raise Sam2InputError(f"{path}, line {line}: a box needs y0 < y1 and x0 < x1.")
        boxes.append(BoxRow(obj, frame, y0, x0, y1, x1))
    return boxes


def _exact(value: float) -> str:
    """The shortest text that reads back as the same float: a click at 40.37218... stays there."""
    return repr(float(value))


def write_point_prompts(path: str | os.PathLike, points: list[PointRow]) -> None:
    """Write the CLI's prompt CSV atomically."""
    lines = ["object_id,frame,y,x,positive"]
    lines += [f"{p.object_id},{p.frame},{_exact(p.y)},{_exact(p.x)},{int(p.positive)}" for p in points]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_box_prompts(path: str | os.PathLike, boxes: list[BoxRow]) -> None:
    lines = ["object_id,frame,y0,x0,y1,x1"]
    lines += [f"{b.object_id},{b.frame},{','.join(_exact(v) for v in (b.y0, b.x0, b.y1, b.x1))}" for b in boxes]
    atomic_write_text(path, "\n".join(lines) + "\n")


# -- settings exported with prompts -------------------------------------------------------------
#: Settings that change the masks, as ``track`` options: an export carries them so that
#: ``napari-sam2 track`` reproduces the napari session.
PROMPT_SETTINGS = ("axis", "hold", "contrast_limits", "roi", "model", "model_config", "fill_hole_area", "boxes")
#: What else an export from napari carries: the session's history and its mask prompts.
EXPORT_EXTRAS = ("history", "masks", "napari_sam2_version")


def boxes_path(prompts_path: str | os.PathLike) -> Path:
    """``prompts.csv`` -> ``prompts_boxes.csv``."""
    path = Path(prompts_path)
    return path.with_name(f"{path.stem}_boxes.csv")


def prompt_settings_path(prompts_path: str | os.PathLike) -> Path:
    """``prompts.csv`` (or ``prompts_boxes.csv``) -> ``prompts_settings.json``."""
    path = Path(prompts_path)
    stem = path.stem[: -len("_boxes")] if path.stem.endswith("_boxes") else path.stem
    return path.with_name(f"{stem}_settings.json")


def read_prompt_settings(path: str | os.PathLike) -> dict:
    """The settings a napari export wrote beside its prompts; unknown keys are refused."""
    import json

    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Sam2InputError(f"{path}: cannot read the exported settings ({exc}).") from None
    if not isinstance(settings, dict) or not set(settings) <= set(PROMPT_SETTINGS) | set(EXPORT_EXTRAS):
        raise Sam2InputError(f"{path}: not a settings file exported with prompts (keys {', '.join(PROMPT_SETTINGS)}).")
    return settings


def history_masks_path(prompts_path: str | os.PathLike) -> Path:
    """``prompts.csv`` -> ``prompts_masks.npz``: the mask prompts of an exported history."""
    path = Path(prompts_path)
    return path.with_name(f"{path.stem}_masks.npz")


def write_history_masks(path: str | os.PathLike, masks: list[np.ndarray]) -> None:
    import io as _io

    buffer = _io.BytesIO()
    np.savez_compressed(buffer, **{f"mask{i}": np.asarray(m, bool) for i, m in enumerate(masks)})
    atomic_write_bytes(path, buffer.getvalue())


def read_history_masks(path: str | os.PathLike) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as found:
            return [np.asarray(found[f"mask{i}"], bool) for i in range(len(found.files))]
    except (OSError, ValueError, KeyError) as exc:
        raise Sam2InputError(f"{path}: cannot read the exported mask prompts ({exc}).") from None


# -- outputs --------------------------------------------------------------------------------
# Label TIFF + JSON writing lives in :mod:`.outputs`; these names are kept here for callers.
from .outputs import (  # noqa: E402
    LabelsTiffWriter,
    atomic_write_bytes,
    atomic_write_text,
    check_outputs,
    read_sidecar,
    sidecar_path,
    write_json,
)

__all__ = [
    "BoxRow",
    "ImageInput",
    "LabelsTiffWriter",
    "PointRow",
    "PROMPT_SETTINGS",
    "atomic_write_bytes",
    "atomic_write_text",
    "boxes_path",
    "check_outputs",
    "read_box_prompts",
    "read_image",
    "read_point_prompts",
    "prompt_settings_path",
    "read_prompt_settings",
    "read_sidecar",
    "sidecar_path",
    "write_box_prompts",
    "write_json",
    "write_point_prompts",
]
