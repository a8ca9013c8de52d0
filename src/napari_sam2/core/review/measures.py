"""What the review measures of every cell on every frame, in one lazy pass over the labels.

A frame is read, measured against the frame before it, and let go: the review holds a
table of numbers per (cell, frame), never the stack. For each cell present on a frame:

* ``area`` (pixels or voxels), ``centre`` and ``diameter`` (of the disc of that area);
* ``own_overlap``: pixels it shares with its own mask on the frame before, and
  ``iou``: intersection over union of the two;
* ``others``: the cells whose masks on the frame before it covers, with the pixels shared;
* ``aligned_iou``: the IoU with its own previous mask after moving that mask by the step of
  the centre, which follows the outline and not the motion (jitter);
* ``pieces`` and ``second_piece``: its connected pieces and the size of the second largest;
* ``contact``: the share of its outline that touches other cells, and the cell touched most;
* ``at_edge``: whether it touches the border of the frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CellFrame:
    """One cell on one frame (see the module's docstring for the fields)."""

    area: int
    centre: tuple[float, ...]
    diameter: float
    at_edge: bool
    pieces: int = 1
    second_piece: int = 0
    iou: float | None = None  # None: not on the frame before
    own_overlap: int = 0
    aligned_iou: float | None = None
    others: dict[int, int] = field(default_factory=dict)
    contact: float = 0.0
    touching: int = 0


@dataclass
class Measures:
    """``cells[cell][frame]``: a :class:`CellFrame`; ``frames``: how many; ``plane_size``: pixels a frame."""

    cells: dict[int, dict[int, CellFrame]]
    frames: int
    plane_shape: tuple[int, ...]

    @property
    def plane_size(self) -> int:
        return int(np.prod(self.plane_shape))

    def present(self, cell: int) -> list[int]:
        return sorted(self.cells.get(cell, {}))


class MeasureCache:
    """Measures kept per frame, re-taken only for frames whose pixels changed (and the frame
    after each, whose overlaps depend on it): a correction re-measures a few frames, not all.

    A frame's pixels are known by a digest (BLAKE2 of its bytes, about 1 ms for 1024²)."""

    def __init__(self) -> None:
        self._digests: list[bytes] = []
        self._rows: list[dict[int, CellFrame]] = []
        self._shape: tuple[int, ...] = ()

    def update(self, labels) -> tuple[Measures, list[int]]:
        """The measures of ``labels`` (frames first, indexable) and the frames re-measured."""
        total = len(labels)
        digests = [_digest(labels[t]) for t in range(total)]
        changed = [t for t in range(total) if t >= len(self._digests) or digests[t] != self._digests[t]]
        redo = sorted({u for t in changed for u in (t, t + 1) if u < total})
        self._rows = self._rows[:total] + [{} for _ in range(total - len(self._rows))]
        for t in redo:
            self._rows[t] = _measure_frame(np.asarray(labels[t]), np.asarray(labels[t - 1]) if t else None)
        if total:
            self._shape = np.shape(labels[0])
        self._digests = digests
        cells: dict[int, dict[int, CellFrame]] = {}
        for t, rows in enumerate(self._rows):
            for cell, row in rows.items():
                cells.setdefault(cell, {})[t] = row
        return Measures(cells, total, tuple(self._shape)), redo


def _digest(plane) -> bytes:
    import hashlib

    plane = np.ascontiguousarray(plane)
    return hashlib.blake2b(plane.view(np.uint8).ravel(), digest_size=16).digest() + str(plane.shape).encode()


def measure(frames: Iterable[np.ndarray]) -> Measures:
    """Measure every cell of every frame (frames are label planes or volumes, read one by one)."""
    cells: dict[int, dict[int, CellFrame]] = {}
    previous = None
    count, shape = 0, ()
    for t, plane in enumerate(frames):
        plane = np.asarray(plane)
        shape = plane.shape
        for cell, row in _measure_frame(plane, previous).items():
            cells.setdefault(cell, {})[t] = row
        previous = plane
        count = t + 1
    return Measures(cells, count, tuple(shape))


def _measure_frame(plane: np.ndarray, previous: np.ndarray | None) -> dict[int, CellFrame]:
    ids, inverse, areas = np.unique(plane, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(plane.shape)
    coords = np.indices(plane.shape).reshape(plane.ndim, -1)
    sums = [np.bincount(inverse.ravel(), weights=c, minlength=len(ids)) for c in coords]
    edge = _edge_ids(plane)
    out: dict[int, CellFrame] = {}
    for k, cell in enumerate(ids):
        if cell == 0:
            continue
        area = int(areas[k])
        centre = tuple(float(s[k] / area) for s in sums)
        diameter = 2 * (area / np.pi) ** 0.5 if plane.ndim == 2 else 2 * (3 * area / (4 * np.pi)) ** (1 / 3)
        out[int(cell)] = CellFrame(area, centre, float(diameter), int(cell) in edge)
    _pieces(plane, out)
    _contacts(plane, out)
    if previous is not None and previous.shape == plane.shape:
        _overlaps(plane, previous, out)
    return out


def _edge_ids(plane: np.ndarray) -> set[int]:
    found: set[int] = set()
    for axis in range(plane.ndim):
        for side in (0, -1):
            found.update(np.unique(np.take(plane, side, axis=axis)).tolist())
    return found


def _pieces(plane: np.ndarray, out: dict[int, CellFrame]) -> None:
    """Connected pieces per cell: regions of one label value (skimage's ``label`` keeps values apart)."""
    from skimage.measure import label

    regions = label(plane, background=0, connectivity=1)
    n = int(regions.max())
    if n == len(out):
        return  # one piece each
    region_ids, first = np.unique(regions, return_index=True)
    sizes = np.bincount(regions.ravel(), minlength=n + 1)
    owner = plane.ravel()[first]
    by_cell: dict[int, list[int]] = {}
    for region, cell in zip(region_ids, owner):
        if region:
            by_cell.setdefault(int(cell), []).append(int(sizes[region]))
    for cell, parts in by_cell.items():
        if len(parts) > 1 and cell in out:
            parts.sort(reverse=True)
            out[cell].pieces, out[cell].second_piece = len(parts), parts[1]


def _contacts(plane: np.ndarray, out: dict[int, CellFrame]) -> None:
    """Per cell, the share of its outline (pixel faces) against another cell, and which one most."""
    outline: dict[int, int] = {}
    against: dict[tuple[int, int], int] = {}
    for axis in range(plane.ndim):
        a = np.moveaxis(plane, axis, 0)
        here, there = a[:-1].ravel(), a[1:].ravel()
        differ = here != there
        here, there = here[differ], there[differ]
        for x, y in ((here, there), (there, here)):
            cells, counts = np.unique(x[x > 0], return_counts=True)
            for c, n in zip(cells.tolist(), counts.tolist()):
                outline[c] = outline.get(c, 0) + n
            both = (x > 0) & (y > 0)
            if both.any():
                pairs, counts = np.unique(np.stack([x[both], y[both]]), axis=1, return_counts=True)
                for (c, o), n in zip(pairs.T.tolist(), counts.tolist()):
                    against[(c, o)] = against.get((c, o), 0) + n
    for (cell, other), n in against.items():
        row = out.get(cell)
        if row is None or not outline.get(cell):
            continue
        row.contact += n / outline[cell]
        if row.touching == 0 or n > against.get((cell, row.touching), 0):
            row.touching = other


def _overlaps(plane: np.ndarray, previous: np.ndarray, out: dict[int, CellFrame]) -> None:
    now, before = plane.ravel(), previous.ravel()
    both = (now > 0) & (before > 0)
    if both.any():
        pairs, counts = np.unique(np.stack([now[both], before[both]]), axis=1, return_counts=True)
        for (cell, old), n in zip(pairs.T.tolist(), counts.tolist()):
            row = out[cell]
            if cell == old:
                row.own_overlap = n
            else:
                row.others[old] = n
    old_ids, old_areas = np.unique(before[before > 0], return_counts=True)
    old_area = dict(zip(old_ids.tolist(), old_areas.tolist()))
    for cell, row in out.items():
        if cell in old_area:
            row.iou = row.own_overlap / (row.area + old_area[cell] - row.own_overlap)
            row.aligned_iou = _aligned_iou(plane == cell, previous == cell)


def _aligned_iou(now: np.ndarray, before: np.ndarray) -> float:
    """IoU of two masks after moving ``before`` so that its centre falls on ``now``'s."""
    boxes = [np.argwhere(m) for m in (now, before)]
    centres = [b.mean(axis=0) for b in boxes]
    shift = np.round(centres[0] - centres[1]).astype(int)
    moved = {tuple(p) for p in (boxes[1] + shift).tolist()}
    here = {tuple(p) for p in boxes[0].tolist()}
    inter = len(here & moved)
    return inter / (len(here) + len(moved) - inter)
