"""From signs to the review queue: one item per place to look, ranked by suspicion.

**Merging.** Signs that name a common cell on frames at most :data:`NEAR` apart become one
item: a cell that lost its mask, jumped and shrank on frames 40-42 is one place to look,
not three; a swap of cells 3 and 7 is one item, not two. The contact sign alone never
joins cells (neighbours touch all the time).

**Score.** Each kind counts once per item, at its strongest; the kinds combine as
independent pieces of evidence (noisy-or): ``score = 1 - prod(1 - strength)``. One strong
sign (a swap, 1.0) ranks above several weak ones; two medium signs on one place (a jump
0.6 and an area jump 0.6: 0.84) rank above either alone.

**Listing.** Items scoring :data:`LISTED` or more are listed, highest first (ties: earlier
frame, then lower cell id). The item's kind and reason are its strongest sign's (between
equally strong signs, the most specific kind: :data:`SPECIFIC`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .signs import Sign

NEAR = 2
#: When signs are equally strong, the item takes the kind that says most (earlier here).
SPECIFIC = (
    "swap", "identity_switch", "merge", "missed_division", "false_division", "blob", "split", "one_daughter",
    "flicker", "end_inside", "orphan_start", "unequal_daughters", "quick_division", "jitter", "area_jump", "jump",
    "low_overlap", "lost", "score_drop", "short_track", "contact",
)  # fmt: skip
LISTED = 0.5
#: Signs that join an item only through their own cell (not the neighbour they name).
OWN_CELL_ONLY = {"contact"}


@dataclass(frozen=True)
class ReviewItem:
    """A place to look: the cell(s), frames ``frame``-``last_frame``, a score 0-1 and why."""

    kind: str
    cell: int
    frame: int
    last_frame: int
    score: float
    reason: str
    cells: tuple[int, ...]
    kinds: tuple[str, ...]

    @property
    def key(self) -> str:
        """What a reviewed mark is saved under: it survives a re-ranking of the queue."""
        return f"{self.kind}:{self.cell}:{self.frame}"

    def as_row(self, rank: int) -> dict:
        return {
            "rank": rank,
            "kind": self.kind,
            "cell": self.cell,
            "frame": self.frame,
            "last_frame": self.last_frame,
            "score": round(self.score, 3),
            "reason": self.reason,
        }


def rank(signs: list[Sign]) -> list[ReviewItem]:
    """The listed items, best first."""
    items = [_item(group) for group in _groups(signs)]
    items = [i for i in items if i.score >= LISTED]
    return sorted(items, key=lambda i: (-i.score, i.frame, i.cell))


def _groups(signs: list[Sign]) -> list[list[Sign]]:
    """Union of signs sharing a cell on frames at most ``NEAR`` apart."""
    parent = list(range(len(signs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_cell: dict[int, list[int]] = {}
    for k, sign in enumerate(signs):
        for cell in (sign.cell,) if sign.kind in OWN_CELL_ONLY else (sign.cell, *sign.cells):
            by_cell.setdefault(cell, []).append(k)
    for members in by_cell.values():
        members.sort(key=lambda k: signs[k].frame)
        reach, anchor = -(10**9), None
        for k in members:
            if anchor is not None and signs[k].frame <= reach + NEAR:
                parent[find(k)] = find(anchor)
            if signs[k].last > reach:
                reach = signs[k].last
            anchor = k
    groups: dict[int, list[Sign]] = {}
    for k, sign in enumerate(signs):
        groups.setdefault(find(k), []).append(sign)
    return list(groups.values())


def _item(group: list[Sign]) -> ReviewItem:
    strongest: dict[str, Sign] = {}
    for sign in group:
        if sign.kind not in strongest or sign.strength > strongest[sign.kind].strength:
            strongest[sign.kind] = sign
    miss = 1.0
    for sign in strongest.values():
        miss *= 1.0 - sign.strength
    top = max(strongest.values(), key=lambda s: (s.strength, -_specificity(s.kind), -s.frame))
    cells = tuple(dict.fromkeys(c for s in group for c in (s.cell, *s.cells)))
    others = sorted(k for k in strongest if k != top.kind)
    reason = f"cell {top.cell}, frame {top.frame}: {top.reason}"
    if others:
        reason += f" (also: {', '.join(k.replace('_', ' ') for k in others)})"
    return ReviewItem(
        kind=top.kind,
        cell=top.cell,
        frame=min(s.frame for s in group),
        last_frame=max(s.last for s in group),
        score=1.0 - miss,
        reason=reason,
        cells=cells,
        kinds=tuple(sorted(strongest)),
    )


def _specificity(kind: str) -> int:
    return SPECIFIC.index(kind) if kind in SPECIFIC else len(SPECIFIC)
