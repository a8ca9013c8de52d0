"""A result opened for the review, and the ``review.csv`` written from the queue.

* **Our label TIFF.** Its frames are read one at a time; the sidecar beside it gives the
  run's object scores and lineage. Without a sidecar, or with one from another run, the
  labels are reviewed alone and :attr:`ReviewSource.note` says why.
* **A Cell Tracking Challenge folder** (``maskNNN.tif`` + ``res_track.txt``): the masks and
  the parents of ``res_track.txt``.

Everything a user can get wrong (a missing file, a broken line, a mask of another size) is
a :class:`~napari_sam2.core.errors.Sam2InputError` with one line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Sam2InputError
from .ranking import ReviewItem

COLUMNS = ("rank", "kind", "cell", "frame", "last_frame", "score", "reason")
#: A reviewed item's mark in the sidecar's ``review`` (item key -> mark): the user found it fine.
ACCEPTED = "accepted"


@dataclass
class ReviewSource:
    """Label frames (indexable, ``len``), and what else is known of the run."""

    labels: Sequence
    scores: dict[int, dict[int, float]] | None = None
    parents: dict[int, int] | None = None
    reviewed: dict[str, str] | None = None
    note: str | None = None

    def close(self) -> None:
        close = getattr(self.labels, "close", None)
        if close is not None:
            close()


def open_result(path: str | os.PathLike) -> ReviewSource:
    """A label TIFF (sidecar optional) or a CTC result folder, ready for :func:`review`."""
    from ..ome_zarr import labels_target

    path = Path(path)
    if labels_target(path) is not None:
        return _zarr_labels(path)
    if path.is_dir():
        return _ctc_folder(path)
    if not path.exists():
        raise Sam2InputError(f"{path} does not exist.")
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise Sam2InputError(f"{path.name}: give a label TIFF or a Cell Tracking Challenge result folder.")
    return _labels_tiff(path)


def _labels_tiff(path: Path) -> ReviewSource:
    from ..label_frames import LabelFrames
    from ..outputs import read_sidecar, sidecar_path

    try:
        labels = LabelFrames(path)
    except Exception as exc:  # tifffile raises several types for a file that is no TIFF
        raise Sam2InputError(f"{path.name} is not a readable TIFF ({exc}).") from exc
    if not np.issubdtype(labels.dtype, np.integer):
        labels.close()
        raise Sam2InputError(f"{path.name} holds {labels.dtype} values, not labels (integers).")
    if labels.ndim == 2:
        labels.close()
        return ReviewSource(_OneFrame(path), note=f"{path.name} is one frame: no tracking to review across frames.")
    try:
        sidecar = read_sidecar(path)
    except Sam2InputError as exc:
        note = str(exc) if sidecar_path(path).exists() else f"{path.name} has no sidecar"
        return ReviewSource(labels, note=f"{note}: reviewed from the labels alone.")
    return _with_record(labels, sidecar)


def _zarr_labels(path: Path) -> ReviewSource:
    from ..label_frames import ZarrLabelFrames

    labels = ZarrLabelFrames(path)
    if not isinstance(labels.sidecar, dict):
        return ReviewSource(labels, note=f"{path.name} has no napari-sam2 record: reviewed from the labels alone.")
    return _with_record(labels, labels.sidecar)


def _with_record(labels, sidecar: dict) -> ReviewSource:
    """Labels with what their run's record knows: scores, parents, review marks."""
    return ReviewSource(labels, _scores(sidecar), _parents(sidecar), sidecar.get("review") or {})


class _OneFrame:
    def __init__(self, path: Path) -> None:
        import tifffile

        self.plane = tifffile.imread(path)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, t: int) -> np.ndarray:
        return self.plane


def _scores(sidecar: dict) -> dict[int, dict[int, float]] | None:
    raw = sidecar.get("scores")
    if not isinstance(raw, dict):
        return None
    try:
        return {int(f): {int(o): float(s) for o, s in per.items()} for f, per in raw.items()}
    except (TypeError, ValueError, AttributeError):
        return None


def _parents(sidecar: dict) -> dict[int, int] | None:
    rows = sidecar.get("lineage")
    if not isinstance(rows, list):
        return None
    try:
        return {int(r["id"]): int(r.get("parent", 0)) for r in rows}
    except (TypeError, ValueError, KeyError):
        return None


def _ctc_folder(folder: Path) -> ReviewSource:
    from ..ctc import open_ctc

    found = open_ctc(folder)
    return ReviewSource(found, parents={t.id: t.parent for t in found.lineage.tracks.values()})


def review_csv_text(items: list[ReviewItem]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rank, item in enumerate(items, start=1):
        writer.writerow(item.as_row(rank))
    return out.getvalue()


def write_review_csv(path: str | os.PathLike, items: list[ReviewItem]) -> None:
    """``rank,kind,cell,frame,last_frame,score,reason``, one row per item, best first (atomic)."""
    from ..outputs import atomic_write_text

    atomic_write_text(path, review_csv_text(items))


def review_csv_path(labels_path: str | os.PathLike) -> Path:
    """``LABELS_review.csv`` beside ``LABELS.tif`` (beside a CTC folder, ``DIR_review.csv``;
    beside an OME-Zarr store, ``STORE_NAME_review.csv``)."""
    from ..ome_zarr import labels_target

    path, target = Path(labels_path), labels_target(labels_path)
    if target is not None:  # beside the store: STORE_NAME_review.csv
        return target[0].with_name(f"{target[0].stem}_{target[1]}_review.csv")
    stem = path.name if path.is_dir() else path.stem
    return path.with_name(f"{stem}_review.csv")
