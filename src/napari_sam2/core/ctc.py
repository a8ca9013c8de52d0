"""Cell Tracking Challenge export: ``maskTTT.tif`` per frame and ``res_track.txt``.

The CTC rules: one uint16 mask per frame; each line ``L B E P`` of ``res_track.txt`` is a
track present on every frame from B to E under label L, with parent P (0: none). A track
that disappears and comes back is, in CTC terms, two tracks: the later part gets a new
label whose parent is the earlier one. Labels painted by hand that no track names become
tracks of their own. The folder is written beside its final name and renamed into place,
so a failed export leaves no half folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import Sam2InputError
from .lineage import Lineage, Track


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs


def ctc_tracks(labels: np.ndarray, lineage: Lineage | None = None) -> tuple[np.ndarray, list[Track]]:
    """Labels ``(T, Y, X)`` and their CTC tracks: gaps split, parents mapped to the part before."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise Sam2InputError(f"CTC export needs labels of shape (T, Y, X), got {labels.shape}.")
    present: dict[int, list[int]] = {}
    for frame in range(labels.shape[0]):
        for i in np.unique(labels[frame]):
            if i:
                present.setdefault(int(i), []).append(frame)
    lineage = lineage or Lineage()
    order = sorted(present, key=lambda i: (present[i][0], i))
    out = labels.astype(np.uint16 if max(present, default=0) < 2**16 else np.uint32, copy=True)
    next_id = max(present, default=0) + 1
    last_part: dict[int, int] = {}  # an original id -> the label of its last part
    tracks: list[Track] = []
    for i in order:
        parent_track = lineage.tracks.get(i)
        parent = parent_track.parent if parent_track is not None else 0
        for k, (first, last) in enumerate(_runs(present[i])):
            label = i if k == 0 else next_id
            if k:
                next_id += 1
                sub = slice(first, last + 1)
                out[sub][labels[sub] == i] = label
            tracks.append(Track(label, first, last, last_part.get(parent, 0) if k == 0 else last_part[i]))
            last_part[i] = label
    for track in tracks:  # a parent must end before its child starts, or the link is dropped
        parent = next((t for t in tracks if t.id == track.parent), None)
        if parent is not None and parent.last >= track.first:
            track.parent = 0
    return out, tracks


def write_ctc(folder: str | os.PathLike, labels: np.ndarray, lineage: Lineage | None = None) -> Path:
    """Write ``folder/maskTTT.tif`` and ``folder/res_track.txt``; the folder must not exist."""
    import tifffile

    folder = Path(folder)
    if folder.exists():
        raise Sam2InputError(f"{folder} exists already; choose a new folder for the CTC export.")
    if not folder.parent.is_dir():
        raise Sam2InputError(f"The folder {folder.parent} does not exist.")
    out, tracks = ctc_tracks(labels, lineage)
    if out.dtype != np.uint16:
        raise Sam2InputError("CTC masks are 16-bit: more than 65535 tracks cannot be exported.")
    digits = max(3, len(str(out.shape[0] - 1)))
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        for frame in range(out.shape[0]):
            tifffile.imwrite(partial / f"mask{frame:0{digits}d}.tif", out[frame], compression="zlib")
        (partial / "res_track.txt").write_text("".join(t.as_ctc_row() + "\n" for t in tracks))
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder
