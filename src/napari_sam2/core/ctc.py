"""Cell Tracking Challenge folders: ``maskTTT.tif`` per frame and ``res_track.txt``, written
(:func:`write_ctc`) and read back (:func:`open_ctc`, also a ground-truth ``TRA`` folder of
``man_trackTTT.tif`` + ``man_track.txt``).

The CTC rules: one uint16 mask per frame; each line ``L B E P`` of ``res_track.txt`` is a
track present on every frame from B to E under label L, with parent P (0: none). A track
that disappears and comes back is, in CTC terms, two tracks: the later part gets a new
label whose parent is the earlier one. Labels painted by hand that no track names become
tracks of their own. The folder is written beside its final name and renamed into place,
so a failed export leaves no half folder.
"""

from __future__ import annotations

import os
import re
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


class CtcTracks:
    """The CTC tracks of a label stack, and how each frame's labels map onto them.

    Built from one pass over the frames (each read once, then let go), so a long stack is
    never held whole in memory; :meth:`frame` gives one frame's CTC mask.
    """

    def __init__(self, labels, lineage: Lineage | None = None) -> None:
        if len(getattr(labels, "shape", ())) != 3:
            raise Sam2InputError(f"CTC export needs labels of shape (T, Y, X), got {getattr(labels, 'shape', ())}.")
        self.labels = labels
        present: dict[int, list[int]] = {}
        for frame in range(labels.shape[0]):
            for i in np.unique(np.asarray(labels[frame])):
                if i:
                    present.setdefault(int(i), []).append(frame)
        lineage = lineage or Lineage()
        self.dtype = np.uint16 if max(present, default=0) < 2**16 else np.uint32
        self.tracks: list[Track] = []
        self._relabel: dict[int, list[tuple[int, int, int]]] = {}  # id -> (first, last, label) of its later parts
        next_id = max(present, default=0) + 1
        last_part: dict[int, int] = {}  # an original id -> the label of its last part
        for i in sorted(present, key=lambda i: (present[i][0], i)):
            parent_track = lineage.tracks.get(i)
            parent = parent_track.parent if parent_track is not None else 0
            for k, (first, last) in enumerate(_runs(present[i])):
                label = i if k == 0 else next_id
                if k:
                    next_id += 1
                    self._relabel.setdefault(i, []).append((first, last, label))
                self.tracks.append(Track(label, first, last, last_part.get(parent, 0) if k == 0 else last_part[i]))
                last_part[i] = label
        if next_id - 1 >= 2**16:
            self.dtype = np.uint32
        by_id = {t.id: t for t in self.tracks}
        for track in self.tracks:  # a parent must end before its child starts, or the link is dropped
            parent = by_id.get(track.parent)
            if parent is not None and parent.last >= track.first:
                track.parent = 0

    def frame(self, frame: int) -> np.ndarray:
        """Frame ``frame``'s CTC mask: the later parts of gapped tracks under their own labels."""
        plane = np.asarray(self.labels[frame])
        out = plane.astype(self.dtype, copy=True)
        for original, parts in self._relabel.items():
            for first, last, label in parts:
                if first <= frame <= last:
                    out[plane == original] = label
        return out


def ctc_tracks(labels, lineage: Lineage | None = None) -> tuple[np.ndarray, list[Track]]:
    """Labels ``(T, Y, X)`` and their CTC tracks: gaps split, parents mapped to the part before.

    The whole relabelled stack, for small stacks and tests; exports use :class:`CtcTracks`."""
    plan = CtcTracks(labels, lineage)
    return np.stack([plan.frame(f) for f in range(labels.shape[0])]), plan.tracks


def write_ctc(folder: str | os.PathLike, labels, lineage: Lineage | None = None) -> Path:
    """Write ``folder/maskTTT.tif`` and ``folder/res_track.txt``; the folder must not exist.

    ``labels`` is any ``(T, Y, X)`` array-like (a memory map of the label file): it is read
    one frame at a time."""
    import tifffile

    folder = Path(folder)
    if folder.exists():
        raise Sam2InputError(f"{folder} exists already; choose a new folder for the CTC export.")
    if not folder.parent.is_dir():
        raise Sam2InputError(f"The folder {folder.parent} does not exist.")
    plan = CtcTracks(labels, lineage)
    if plan.dtype != np.uint16:
        raise Sam2InputError("CTC masks are 16-bit: more than 65535 tracks cannot be exported.")
    n = labels.shape[0]
    digits = max(3, len(str(n - 1)))
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        for frame in range(n):  # one frame in memory at a time
            tifffile.imwrite(partial / f"mask{frame:0{digits}d}.tif", plan.frame(frame), compression="zlib")
        (partial / "res_track.txt").write_text("".join(t.as_ctc_row() + "\n" for t in plan.tracks))
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


# -- reading ---------------------------------------------------------------------------------
#: The track file of a result folder and of a ground-truth folder, and their masks' prefix.
TRACK_FILES = {"res_track.txt": "mask", "man_track.txt": "man_track"}


class CtcFolder:
    """A CTC folder opened: its mask files (frames, read one at a time: ``len``, ``[t]``,
    ``shape``) and the lineage of its track file, both checked."""

    def __init__(self, folder: Path, track_file: Path, files: list[Path], lineage: Lineage) -> None:
        import tifffile

        self.folder, self.track_file, self.files, self.lineage = folder, track_file, files, lineage
        first = tifffile.imread(files[0])
        self.shape, self.dtype = (len(files), *first.shape), first.dtype
        if first.ndim != 2:
            raise Sam2InputError(f"{files[0].name} is {first.ndim}-D; this reader takes 2-D masks over time.")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, t: int) -> np.ndarray:
        import tifffile

        plane = tifffile.imread(self.files[t])
        if plane.shape != self.shape[1:]:
            raise Sam2InputError(f"{self.files[t].name} is {plane.shape}, the first mask {self.shape[1:]}.")
        return plane

    def read(self) -> np.ndarray:
        """Every frame as one ``(T, Y, X)`` array."""
        out = np.zeros(self.shape, self.dtype)
        for t in range(len(self)):
            out[t] = self[t]
        return out


def open_ctc(path: str | os.PathLike) -> CtcFolder:
    """A CTC folder, given as the folder or its track file (``res_track.txt`` with
    ``maskNNN.tif``, or ``man_track.txt`` with ``man_trackNNN.tif``)."""
    path = Path(path)
    if path.is_dir():
        track_file = next((path / name for name in TRACK_FILES if (path / name).exists()), path / "res_track.txt")
    else:
        track_file = path
    folder, name = track_file.parent, track_file.name
    if name not in TRACK_FILES:
        raise Sam2InputError(f"{name}: a Cell Tracking Challenge folder is opened by its res_track.txt.")
    pattern = re.compile(rf"^{TRACK_FILES[name]}(\d+)\.tiff?$")
    masks = {}
    for entry in os.listdir(folder):
        found = pattern.match(entry)
        if found:
            masks[int(found.group(1))] = folder / entry
    if not masks:
        prefix = TRACK_FILES[name]
        raise Sam2InputError(f"{folder} holds no {prefix}NNN.tif: not a Cell Tracking Challenge result folder.")
    if not track_file.exists():
        raise Sam2InputError(f"{folder} has mask files but no {name}.")
    frames = sorted(masks)
    if frames != list(range(frames[0], frames[0] + len(frames))):
        missing = sorted(set(range(frames[0], frames[-1] + 1)) - set(frames))
        raise Sam2InputError(f"{folder}: mask files are missing for frames {missing[:5]}.")
    return CtcFolder(folder, track_file, [masks[t] for t in frames], read_track_file(track_file))


def read_track_file(path: Path) -> Lineage:
    """The lineage of a ``res_track.txt`` (``L B E P`` a line), checked line by line."""
    rows, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise Sam2InputError(f"{path}, line {number}: expected four whole numbers 'L B E P', got {line.strip()!r}.")
        label, first, last, parent = map(int, parts)
        if last < first:
            raise Sam2InputError(f"{path}, line {number}: track {label} ends on frame {last}, before it starts.")
        if label == 0 or label in seen:
            raise Sam2InputError(f"{path}, line {number}: track {label} is 0 or named twice.")
        seen.add(label)
        rows.append({"id": label, "first": first, "last": last, "parent": parent})
    unknown = sorted({r["parent"] for r in rows if r["parent"] and r["parent"] not in seen})
    if unknown:
        raise Sam2InputError(f"{path}: parent {unknown[0]} is not a track of the file.")
    return Lineage.from_dict(rows)
