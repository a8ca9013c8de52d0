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


def new_cells(detections: np.ndarray, tracked: np.ndarray, rules: LinkingRules = LinkingRules()) -> list[np.ndarray]:
    """Masks of the detections (a label image) that no tracked object (a label image) covers."""
    found = []
    for det_id in np.unique(detections):
        if det_id == 0:
            continue
        mask = detections == det_id
        if mask.sum() < rules.min_area:
            continue
        overlapping = [t for t in np.unique(tracked[mask]) if t]
        if all(iou(mask, tracked == t) < rules.new_cell_iou for t in overlapping):
            found.append(mask)
    return found


def split_parts(mask: np.ndarray, area_before: int, rules: LinkingRules = LinkingRules()) -> tuple | None:
    """The two largest connected parts of ``mask`` when each is big enough to be a daughter."""
    from scipy import ndimage

    components, n = ndimage.label(mask)
    if n < 2:
        return None
    areas = ndimage.sum_labels(np.ones_like(mask, dtype=np.int64), components, index=np.arange(1, n + 1))
    floor = max(rules.min_area, rules.daughter_fraction * area_before)
    big = [i + 1 for i in np.argsort(areas)[::-1][:2] if areas[i] >= floor]
    if len(big) < 2:
        return None
    return tuple(components == i for i in big)


def division_by_detection(
    mask: np.ndarray, area_before: int, detections: np.ndarray, rules: LinkingRules = LinkingRules()
) -> tuple | None:
    """A new detection touching a cell that shrank: the cell's mask and the detection are the
    daughters. ``detections`` is a label image of the detections no tracked object covers."""
    from scipy import ndimage

    if area_before <= 0 or mask.sum() >= rules.shrink_fraction * area_before:
        return None
    grown = ndimage.binary_dilation(mask, iterations=2)
    for det_id in np.unique(detections[grown]):
        part = detections == det_id
        if det_id and part.sum() >= max(rules.min_area, rules.daughter_fraction * area_before):
            return mask & ~part, part
    return None


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
