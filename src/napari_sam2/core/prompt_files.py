"""Prompt files: ``object_id,frame,y,x,positive`` clicks and ``object_id,frame,y0,x0,y1,x1``
boxes, the settings and history a napari export puts beside them, and its mask prompts.

napari's own Points-layer CSV export (``index,axis-0,axis-1,...`` plus feature columns
``object_id`` and ``positive``) is read too. Files are written atomically.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import Sam2InputError
from .outputs import atomic_write_bytes, atomic_write_text


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
#: The ``track`` options that decide what the model sees (a napari export carries them).
TRACK_OPTION_KEYS = ("axis", "hold", "contrast_limits", "roi", "model", "model_config", "fill_hole_area")
PROMPT_SETTINGS = (*TRACK_OPTION_KEYS, "boxes")
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
