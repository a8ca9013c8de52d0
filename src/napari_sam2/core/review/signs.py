"""The signs of a likely mistake on one cell and frame, each from one documented rule.

Every rule turns a measure (:mod:`.measures`) into a :class:`Sign` with a strength from 0
to 1 and a reason in words a biologist uses. A cell's own history is its baseline: its
median area and its usual step, so a large cell or a fast one is not suspicious for being
large or fast. The thresholds are module constants, named and documented here and in the
user guide. Lineage events (ends, starts, divisions) are in :mod:`.events`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .measures import CellFrame, Measures

#: The area changed by this factor or more from one frame to the next.
AREA_JUMP = 1.5
#: The centre moved this many cell diameters in one frame (and 3x the cell's usual step).
STEP_JUMP = 0.5
#: Below this IoU with its own mask on the frame before, a cell "left its own mask".
LOW_IOU = 0.3
#: A mask this many times the cell's median area, or this share of the frame, is a blob.
BLOB_TIMES, BLOB_SHARE = 3.0, 0.1
#: A second piece of at least this share of the cell's area makes it fragmented.
PIECE_SHARE = 0.1
#: Outline jitter: the shape overlaps itself (motion removed) this much less than usual.
JITTER_DROP = 0.15
#: Contact: a third of the outline pressed against one neighbour that was apart before.
CONTACT_SHARE = 0.33


@dataclass(frozen=True)
class Sign:
    kind: str
    cell: int
    frame: int
    strength: float
    reason: str
    cells: tuple[int, ...] = ()  # every cell involved, the first being ``cell``
    last_frame: int | None = None

    @property
    def last(self) -> int:
        return self.frame if self.last_frame is None else self.last_frame


def _ramp(value: float, start: float, full: float) -> float:
    """0 at ``start``, 1 at ``full`` (either direction), linear between."""
    if full == start:
        return float(value >= full)
    return float(min(1.0, max(0.0, (value - start) / (full - start))))


class CellHistory:
    """One cell's frames, with its median area and usual step."""

    def __init__(self, cell: int, rows: dict[int, CellFrame]) -> None:
        self.cell, self.rows = cell, rows
        self.frames = sorted(rows)
        inside = [r.area for r in rows.values() if not r.at_edge]  # cut by the border: not its size
        self.median_area = float(np.median(inside or [r.area for r in rows.values()]))
        steps = [self.step(t) for t in self.frames[1:] if t - 1 in rows]
        self.usual_step = float(np.median(steps)) if steps else 0.0
        shapes = [r.aligned_iou for r in rows.values() if r.aligned_iou is not None]
        self.usual_shape = float(np.median(shapes)) if shapes else 1.0

    def step(self, t: int) -> float:
        return math.dist(self.rows[t].centre, self.rows[t - 1].centre)


def shape_signs(measures: Measures) -> list[Sign]:
    """Signs read from each cell's masks, frame against frame."""
    typical_shape = _typical_aligned_iou(measures)
    out: list[Sign] = []
    for cell, rows in measures.cells.items():
        history = CellHistory(cell, rows)
        usual_shape = min(typical_shape, history.usual_shape)  # small cells overlap themselves less
        for t in history.frames:
            out += _frame_signs(history, t, measures, usual_shape)
        out += _flicker(history)
    out += _swaps(measures)
    return out


def _frame_signs(history: CellHistory, t: int, measures: Measures, typical_shape: float) -> list[Sign]:
    row, cell = history.rows[t], history.cell
    out = _size_signs(history, t, measures)
    if row.iou is None:
        return out
    before = history.rows[t - 1]
    ratio = row.area / before.area
    if max(ratio, 1 / ratio) >= AREA_JUMP and not (row.at_edge or before.at_edge):
        word = "grew" if ratio > 1 else "shrank"
        out.append(
            Sign(
                "area_jump",
                cell,
                t,
                _ramp(abs(math.log(ratio)), math.log(1.3), math.log(2.2)),
                f"area {word} {ratio:.1f}x since frame {t - 1}",
            )
        )
    step = history.step(t)
    if step >= STEP_JUMP * before.diameter and step >= 3 * history.usual_step:
        out.append(
            Sign(
                "jump",
                cell,
                t,
                _ramp(step / before.diameter, 0.4, 1.0),
                f"moved {step / before.diameter:.1f} cell diameters in one frame",
            )
        )
    if row.iou < LOW_IOU and max(ratio, 1 / ratio) < AREA_JUMP:
        out.append(
            Sign(
                "low_overlap",
                cell,
                t,
                _ramp(LOW_IOU - row.iou, 0.0, 0.3) * 0.7,
                f"overlaps its own mask of frame {t - 1} by {row.iou:.0%} only",
            )
        )
    out += _neighbour_signs(history, t, measures)
    if (
        row.aligned_iou is not None
        and row.aligned_iou < typical_shape - JITTER_DROP
        and max(ratio, 1 / ratio) < AREA_JUMP
    ):
        out.append(
            Sign(
                "jitter",
                cell,
                t,
                _ramp(typical_shape - row.aligned_iou, JITTER_DROP, 0.4) * 0.8,
                f"outline changed shape since frame {t - 1} (shape overlap {row.aligned_iou:.0%})",
            )
        )
    return out


def _size_signs(history: CellHistory, t: int, measures: Measures) -> list[Sign]:
    row, cell, out = history.rows[t], history.cell, []
    share = row.area / measures.plane_size
    times = row.area / history.median_area
    if share >= BLOB_SHARE or (times >= BLOB_TIMES and len(history.frames) > 3 and not row.at_edge):
        what = f"covers {share:.0%} of the frame" if share >= BLOB_SHARE else f"{times:.1f}x its usual size"
        out.append(Sign("blob", cell, t, 1.0, f"mask {what}: lost in the background?"))
    if row.pieces > 1 and row.second_piece >= max(PIECE_SHARE * row.area, 4):
        out.append(
            Sign(
                "split",
                cell,
                t,
                _ramp(row.second_piece / row.area, 0.05, 0.3),
                f"mask in {row.pieces} pieces: one cell split, or two cells under one id?",
            )
        )
    return out


def _neighbour_signs(history: CellHistory, t: int, measures: Measures) -> list[Sign]:
    """Identity switch (its mask is now where another cell was), merge (it took a neighbour in)."""
    row, cell, out = history.rows[t], history.cell, []
    for other, shared in sorted(row.others.items(), key=lambda kv: -kv[1]):
        theirs = measures.cells.get(other, {})
        was = theirs.get(t - 1)
        if was is None:
            continue
        if shared > row.own_overlap and shared >= 0.5 * row.area:
            out.append(
                Sign(
                    "identity_switch",
                    cell,
                    t,
                    0.9,
                    f"its mask is where cell {other} was on frame {t - 1}: identity switch?",
                    (cell, other),
                )
            )
        elif shared >= 0.3 * was.area and (t not in theirs or theirs[t].area < 0.5 * was.area):
            out.append(
                Sign(
                    "merge",
                    cell,
                    t,
                    0.9,
                    f"took in cell {other}'s place (frame {t - 1}): two cells under one id?",
                    (cell, other),
                )
            )
    if row.touching and row.contact >= CONTACT_SHARE:
        before = history.rows[t - 1]
        if before.touching != row.touching or before.contact < CONTACT_SHARE / 3:
            out.append(
                Sign(
                    "contact",
                    cell,
                    t,
                    0.3,
                    f"pressed against cell {row.touching} over {row.contact:.0%} of its outline",
                    (cell, row.touching),
                )
            )
    return out


def _flicker(history: CellHistory) -> list[Sign]:
    out = []
    for before, after in zip(history.frames, history.frames[1:]):
        gap = after - before - 1
        if 1 <= gap <= 3:
            frames = f"frame {before + 1}" if gap == 1 else f"frames {before + 1}-{after - 1}"
            out.append(
                Sign(
                    "flicker",
                    history.cell,
                    before + 1,
                    0.85,
                    f"absent on {frames}, present around: a lost mask?",
                    last_frame=after - 1,
                )
            )
    return out


def _swaps(measures: Measures) -> list[Sign]:
    """Two neighbours that traded places between two frames: each mask lies where the other
    cell was, or the line between their centres turned round (cells do not pass through one
    another in one frame)."""
    out = []
    for t in range(1, measures.frames):
        here = {c: (rows[t - 1], rows[t]) for c, rows in measures.cells.items() if t in rows and t - 1 in rows}
        cells = sorted(here)
        for k, a in enumerate(cells):
            for b in cells[k + 1 :]:
                if _traded(here[a], here[b], a, b):
                    out.append(Sign("swap", a, t, 1.0, f"cells {a} and {b} traded places: ids swapped?", (a, b)))
                    out.append(Sign("swap", b, t, 1.0, f"cells {b} and {a} traded places: ids swapped?", (b, a)))
    return out


def _traded(a: tuple[CellFrame, CellFrame], b: tuple[CellFrame, CellFrame], a_id: int, b_id: int) -> bool:
    (a0, a1), (b0, b1) = a, b
    if a1.others.get(b_id, 0) > a1.own_overlap and b1.others.get(a_id, 0) > b1.own_overlap:
        return True
    before = np.subtract(a0.centre, b0.centre)
    if np.linalg.norm(before) > 2.5 * max(a0.diameter, b0.diameter):
        return False  # not neighbours
    return float(np.dot(before, np.subtract(a1.centre, b1.centre))) < 0


def _typical_aligned_iou(measures: Measures) -> float:
    values = [r.aligned_iou for rows in measures.cells.values() for r in rows.values() if r.aligned_iou is not None]
    return float(np.median(values)) if values else 1.0
