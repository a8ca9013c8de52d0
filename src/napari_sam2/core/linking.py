"""Rules that decide, from masks alone, where cells appear, end and divide.

They take boolean masks and label images, never the model, so they are tested on synthetic
mask sequences with known answers. The defaults were chosen on synthetic data, without real
SAM 2 weights (none can be downloaded where this was written); each is an option.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinkingRules:
    """Thresholds of the population rules, with their defaults."""

    #: A detection whose IoU with every tracked mask is below this is a new cell.
    new_cell_iou: float = 0.3
    #: Masks, detections and daughter parts smaller than this (pixels) are noise.
    min_area: int = 20
    #: An object absent (score <= 0 or an empty mask) this many frames in a row has ended,
    #: at its last present frame.
    absent_frames: int = 3
    #: Each part of a split mask must hold at least this fraction of the mother's area on the
    #: frame before, for the split to be a division (not a stray fragment).
    daughter_fraction: float = 0.2
    #: A division by detection: the cell shrank to below this fraction of its area the frame
    #: before while a new detection appeared touching it.
    shrink_fraction: float = 0.8
    #: A daughter younger than this many frames does not divide again: a cell cycle is far
    #: longer than a few frames, and a fragmented mask must not multiply the population.
    min_cycle_frames: int = 5
    #: Parts closer than this (pixels) are one piece cut by noise: they are joined before
    #: the parts are counted.
    noise_gap: int = 2
    #: One piece is two touching daughters when its two widest places (distance-transform
    #: peaks) are joined by a waist narrower than this fraction of the narrower of them.
    waist_fraction: float = 0.8
    #: A new detection within this many of the cell's diameters of a cell that shrank is its
    #: sister (the mask followed one daughter).
    beside_diameters: float = 0.5
    #: Detections smaller than this share of the tracked cells' median area are noise; a
    #: cell entering at the border is found from this size on (never above ``min_area``).
    entering_fraction: float = 0.05

    def may_divide(self, born: int, frame: int, has_parent: bool) -> bool:
        """Seeds may divide from their second frame (they can be anywhere in their cycle);
        daughters wait ``min_cycle_frames``. No track divides on the frame it starts."""
        return frame > born and (not has_parent or frame - born >= self.min_cycle_frames)

    def __post_init__(self) -> None:
        if not 0 < self.new_cell_iou <= 1 or not 0 < self.daughter_fraction < 0.5 or self.absent_frames < 1:
            raise ValueError("new_cell_iou in (0, 1], daughter_fraction in (0, 0.5), absent_frames >= 1")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def new_cells(
    detections: np.ndarray, tracked: np.ndarray, rules: LinkingRules = LinkingRules(), *, floor: float | None = None
) -> list[np.ndarray]:
    """Masks of the detections (a label image) that no tracked object (a label image) covers,
    from ``floor`` pixels on (default ``min_area``; see :func:`detection_floor`)."""
    found = []
    floor = rules.min_area if floor is None else floor
    for det_id in np.unique(detections):
        if det_id == 0:
            continue
        mask = detections == det_id
        if mask.sum() < floor:
            continue
        overlapping = [t for t in np.unique(tracked[mask]) if t]
        if all(iou(mask, tracked == t) < rules.new_cell_iou for t in overlapping):
            found.append(mask)
    return found


def detection_floor(areas, rules: LinkingRules = LinkingRules()) -> float:
    """The smallest new detection that counts: ``entering_fraction`` of the tracked cells'
    median area, at least 4 pixels and at most ``min_area`` (a cell entering at the border
    shows a sliver first)."""
    if not len(areas):
        return rules.min_area
    return float(min(rules.min_area, max(4.0, rules.entering_fraction * float(np.median(areas)))))


def split_parts(mask: np.ndarray, area_before: int, rules: LinkingRules = LinkingRules()) -> tuple | None:
    """The two daughters in ``mask``, or None: its two largest pieces once gaps of noise are
    closed, or, for one piece, its two halves on either side of a waist (daughters born
    touching). Each must hold ``daughter_fraction`` of the mother's area on the frame before."""
    from scipy import ndimage

    floor = max(rules.min_area, rules.daughter_fraction * area_before)
    closed = ndimage.binary_closing(mask, iterations=rules.noise_gap) | mask if rules.noise_gap else mask
    components, n = ndimage.label(closed)
    if n >= 2:
        areas = ndimage.sum_labels(np.ones_like(mask, dtype=np.int64), components, index=np.arange(1, n + 1))
        big = [i + 1 for i in np.argsort(areas)[::-1][:2] if areas[i] >= floor]
        return tuple(mask & (components == i) for i in big) if len(big) == 2 else None
    if mask.sum() < 2 * floor:
        return None
    return _waist_split(mask, closed, floor, rules)


def _waist_split(mask: np.ndarray, closed: np.ndarray, floor: float, rules: LinkingRules) -> tuple | None:
    """The two halves of a piece with a waist, split along it (watershed from its two peaks).
    The waist is looked for in the piece with its noise closed, so a cut is not a waist."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    distance = ndimage.distance_transform_edt(closed)
    peaks = peak_local_max(distance, min_distance=2, labels=mask.astype(int), num_peaks=2, exclude_border=False)
    if len(peaks) < 2:
        return None
    (y0, x0), (y1, x1) = peaks
    steps = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    line = distance[np.linspace(y0, y1, steps).round().astype(int), np.linspace(x0, x1, steps).round().astype(int)]
    if line.min() >= rules.waist_fraction * min(distance[y0, x0], distance[y1, x1]):
        return None  # no waist: an elongated cell, not two
    markers = np.zeros(mask.shape, np.int32)
    markers[y0, x0], markers[y1, x1] = 1, 2
    halves = watershed(-distance, markers, mask=closed)
    parts = (mask & (halves == 1), mask & (halves == 2))
    return parts if all(p.sum() >= floor for p in parts) else None


def division_by_detection(
    mask: np.ndarray, area_before: int, detections: np.ndarray, rules: LinkingRules = LinkingRules()
) -> tuple | None:
    """A new detection beside a cell that shrank: the cell's mask and the detection are the
    daughters. "Beside": within ``beside_diameters`` of the cell's diameter (on the frame
    before) of its mask. ``detections`` is a label image of the detections no tracked object
    covers."""
    from scipy import ndimage

    if area_before <= 0 or mask.sum() >= rules.shrink_fraction * area_before:
        return None
    reach = max(2.0, rules.beside_diameters * 2 * np.sqrt(area_before / np.pi))
    near = ndimage.distance_transform_edt(~mask) <= reach
    for det_id in np.unique(detections[near]):
        part = detections == det_id
        if det_id and part.sum() >= max(rules.min_area, rules.daughter_fraction * area_before):
            return mask & ~part, part
    return None


def shrank(area: int, area_before: int, rules: LinkingRules = LinkingRules()) -> bool:
    """The cell lost enough of its area for a division that left one daughter behind."""
    return 0 < area < rules.shrink_fraction * area_before


class Absences:
    """Counts the frames in a row each object has been absent; says when one has ended."""

    def __init__(self, rules: LinkingRules = LinkingRules()) -> None:
        self.rules = rules
        self.missing: dict[int, int] = {}
        self.last_present: dict[int, int] = {}

    def update(self, obj: int, frame: int, present: bool) -> int | None:
        """Record ``frame``; returns the object's last present frame once it has ended."""
        if present:
            self.missing[obj] = 0
            self.last_present[obj] = frame
            return None
        self.missing[obj] = self.missing.get(obj, 0) + 1
        if self.missing[obj] >= self.rules.absent_frames:
            return self.last_present.get(obj, frame - self.missing[obj])
        return None
