"""Signs read from the lineage: tracks that end or start where they should not, odd divisions.

The lineage is the sidecar's or ``res_track.txt``'s when there is one. Labels from another
tool come without it; then each label is a track from its first to its last frame, and a
track that starts on the frame after another ended, inside that one's last mask, is taken
for its daughter (so a division whose daughters got new labels is not reported as two
orphans and a lost cell).

Rules (constants below): a track that ends before the last frame, or starts after the first,
with its centre more than one cell diameter from the border, is suspicious (cells leave and
enter at the border); so is a track of :data:`SHORT` frames or fewer, a mother with one
daughter, daughters whose areas differ :data:`UNEQUAL` times or more, a division within
:data:`QUICK` frames of the mother's own birth, and a "daughter" that is her mother going on
(IoU :data:`CONTINUES` or more with the mother's last mask). A mother with one daughter born
frames after her end is a gap the tracker closed (CTC folders split a track at a gap): a
flicker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .measures import CellFrame, Measures
from .signs import Sign

SHORT = 3
UNEQUAL = 2.0
QUICK = 4
CONTINUES = 0.6
#: A new cell inside this many diameters of a cell that shrank to this share: a missed division.
BESIDE, HALVED = 1.5, 0.65


@dataclass
class TrackSpan:
    first: int
    last: int
    parent: int = 0


def spans(measures: Measures, parents: dict[int, int] | None) -> dict[int, TrackSpan]:
    """Each label's first and last frame, and its parent (given, or inferred when ``None``)."""
    out = {c: TrackSpan(min(rows), max(rows)) for c, rows in measures.cells.items() if rows}
    if parents is not None:
        for cell, parent in parents.items():
            if cell in out and parent in out:
                out[cell].parent = parent
        return out
    for cell, span in out.items():
        if span.first == 0:
            continue
        first = measures.cells[cell][span.first]
        ended = {o: n for o, n in first.others.items() if o in out and out[o].last == span.first - 1}
        if ended:
            parent, shared = max(ended.items(), key=lambda kv: kv[1])
            if shared >= 0.2 * first.area:
                span.parent = parent
    return out


def lineage_signs(measures: Measures, tracks: dict[int, TrackSpan]) -> list[Sign]:
    children: dict[int, list[int]] = {}
    for cell, span in tracks.items():
        if span.parent:
            children.setdefault(span.parent, []).append(cell)
    out: list[Sign] = []
    for cell, span in tracks.items():
        rows = measures.cells[cell]
        out += _ends(measures, cell, span, rows, children.get(cell, []))
        out += _start(measures, cell, span, rows)
        out += _division(measures, cell, span, children.get(cell, []), tracks)
    return out


def _inside(measures: Measures, row: CellFrame) -> bool:
    """Its centre more than one diameter from every border."""
    margin = max(row.diameter, 1.0)
    return not row.at_edge and all(margin < c < size - 1 - margin for c, size in zip(row.centre, measures.plane_shape))


def _ends(measures, cell, span, rows, kids) -> list[Sign]:
    out = []
    if span.last < measures.frames - 1 and not kids and _inside(measures, rows[span.last]):
        out.append(
            Sign("end_inside", cell, span.last, 0.8, f"track ends on frame {span.last} away from the edge: cell lost?")
        )
    length = len(rows)
    if length <= SHORT and span.first > 0 and span.last < measures.frames - 1:
        out.append(
            Sign("short_track", cell, span.first, 0.5, f"tracked on {length} frame(s) only", last_frame=span.last)
        )
    return out


def _start(measures: Measures, cell: int, span: TrackSpan, rows) -> list[Sign]:
    if span.first == 0 or span.parent or not _inside(measures, rows[span.first]):
        return []
    row = rows[span.first]
    beside = _shrunk_neighbour(measures, cell, span.first, row)
    if beside:
        return [
            Sign(
                "missed_division",
                cell,
                span.first,
                0.9,
                f"appears beside cell {beside}, which halved: a division without its lineage?",
                (cell, beside),
            )
        ]
    return [
        Sign(
            "orphan_start",
            cell,
            span.first,
            0.8,
            f"track starts on frame {span.first} without a parent, away from the edge",
        )
    ]


def _shrunk_neighbour(measures: Measures, cell: int, t: int, row: CellFrame) -> int:
    for other, rows in measures.cells.items():
        if other == cell or t not in rows or t - 1 not in rows:
            continue
        now, before = rows[t], rows[t - 1]
        near = math.dist(now.centre, row.centre) <= BESIDE * before.diameter
        if near and now.area <= HALVED * before.area:
            return other
    return 0


def _division(measures, cell, span, kids, tracks) -> list[Sign]:
    if not kids:
        return []
    out = []
    first_rows = {k: measures.cells[k][tracks[k].first] for k in kids}
    if len(kids) == 1 and tracks[kids[0]].first > span.last + 1:  # a gap closed (CTC splits gapped tracks)
        first = tracks[kids[0]].first
        gap = f"frame {span.last + 1}" if first == span.last + 2 else f"frames {span.last + 1}-{first - 1}"
        reason = f"absent on {gap}, then tracked again as cell {kids[0]}"
        out.append(Sign("flicker", cell, span.last + 1, 0.85, reason, (cell, *kids), last_frame=first - 1))
    elif len(kids) == 1:
        out.append(
            Sign(
                "one_daughter",
                cell,
                span.last,
                0.8,
                f"divides on frame {span.last + 1} into one daughter (cell {kids[0]})",
                (cell, *kids),
            )
        )
    areas = sorted(r.area for r in first_rows.values())
    if len(kids) >= 2 and areas[-1] >= UNEQUAL * areas[0]:
        out.append(
            Sign(
                "unequal_daughters",
                cell,
                span.last,
                0.6,
                f"daughters {', '.join(map(str, kids))} differ {areas[-1] / areas[0]:.1f}x in size",
                (cell, *kids),
            )
        )
    if span.first > 0 and span.last - span.first + 1 <= QUICK:
        out.append(
            Sign(
                "quick_division",
                cell,
                span.last,
                0.6,
                f"divides {span.last - span.first + 1} frames after its own birth",
                (cell, *kids),
            )
        )
    mother = measures.cells[cell][span.last]
    for kid, row in first_rows.items():
        shared = row.others.get(cell, 0)
        iou = shared / (row.area + mother.area - shared) if shared else 0.0
        if iou >= CONTINUES:
            out.append(
                Sign(
                    "false_division",
                    cell,
                    span.last,
                    0.85,
                    f"daughter {kid} is cell {cell} going on (overlap {iou:.0%}): a false division?",
                    (cell, kid),
                )
            )
    return out
