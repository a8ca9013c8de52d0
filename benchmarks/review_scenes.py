"""Synthetic cell populations with ground truth, and the tracker's mistakes injected into them.

Made for the review queue's benchmark and tests (not the test fixtures of other features):
elliptical cells that drift with persistent motion, slowly turn and grow, divide (the
mother rounds up and grows, the daughters are born touching and drift apart), enter and
leave at the border. Ground truth: a ``(T, Y, X)`` uint16 label stack with CTC-style ids
(daughters get new ids) and ``parents`` (cell -> mother, 0: none).

:func:`inject` then makes one of the mistakes biologists meet and records where it is:
identity switch, swap, blob, merge, split, missed division, false division, early end,
orphan start, flicker and jitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = (
    "identity_switch", "swap", "blob", "merge", "split", "missed_division", "false_division", "early_end",
    "orphan_start", "flicker", "jitter",
)  # fmt: skip


@dataclass
class Cell:
    id: int
    y: float
    x: float
    a: float
    b: float
    angle: float
    vy: float
    vx: float
    parent: int = 0
    divides_at: int | None = None
    born: int = 0
    growth: float = 1.0


@dataclass
class Scene:
    labels: np.ndarray
    parents: dict[int, int]
    divisions: list[tuple[int, int]] = field(default_factory=list)  # (mother, frame of daughters)


@dataclass
class Injected:
    kind: str
    cells: tuple[int, ...]
    frame: int


def population(*, cells: int = 50, frames: int = 60, size: int = 400, seed: int = 0, divisions: int = 8) -> Scene:
    rng = np.random.default_rng(seed)
    alive: list[Cell] = []
    next_id = 1
    while len(alive) < cells:  # apart on the first frame
        cell = _new_cell(rng, next_id, size, 0)
        if all(np.hypot(cell.y - o.y, cell.x - o.x) > cell.a + o.a + 2 for o in alive):
            alive.append(cell)
            next_id += 1
    for c in rng.choice(len(alive), size=divisions, replace=False):
        alive[c].divides_at = int(rng.integers(12, frames - 8))
    labels = np.zeros((frames, size, size), np.uint16)
    parents: dict[int, int] = {c.id: 0 for c in alive}
    done: list[tuple[int, int]] = []
    yy, xx = np.mgrid[:size, :size]
    for t in range(frames):
        born = []
        for cell in alive:
            if cell.divides_at == t:
                born += _divide(rng, cell, next_id, t)
                parents.update({next_id: cell.id, next_id + 1: cell.id})
                done.append((cell.id, t))
                next_id += 2
        alive = [c for c in alive if c.divides_at != t] + born
        for cell in sorted(alive, key=lambda c: c.id):
            _paint(labels[t], cell, yy, xx)
            _move(rng, cell, t, alive)
        alive = [c for c in alive if -30 < c.y < size + 30 and -30 < c.x < size + 30]
    present = set(np.unique(labels)) - {0}
    return Scene(labels, {c: p for c, p in parents.items() if c in present}, done)


def _new_cell(rng, cell_id: int, size: int, t: int) -> Cell:
    a = float(rng.uniform(8, 12))
    speed, heading = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
    return Cell(cell_id, float(rng.uniform(15, size - 15)), float(rng.uniform(15, size - 15)), a,
                a * float(rng.uniform(0.7, 0.95)), float(rng.uniform(0, np.pi)), speed * np.sin(heading),
                speed * np.cos(heading), born=t)  # fmt: skip


def _divide(rng, mother: Cell, next_id: int, t: int) -> list[Cell]:
    """Two daughters born touching, side by side along the mother's long axis."""
    out = []
    for k, sign in enumerate((1, -1)):
        dy, dx = np.sin(mother.angle) * mother.a * 0.5, np.cos(mother.angle) * mother.a * 0.5
        a = mother.a * 0.72
        out.append(Cell(next_id + k, mother.y + sign * dy, mother.x + sign * dx, a, a * 0.85,
                        mother.angle + np.pi / 2, mother.vy + sign * 0.6 * np.sin(mother.angle),
                        mother.vx + sign * 0.6 * np.cos(mother.angle), parent=mother.id, born=t))  # fmt: skip
    return out


def _paint(plane: np.ndarray, cell: Cell, yy, xx) -> None:
    a, b = cell.a * cell.growth, cell.b * cell.growth
    if cell.divides_at is not None and cell.divides_at - 6 <= 0:
        pass
    y0, y1 = int(max(cell.y - a - 2, 0)), int(min(cell.y + a + 3, plane.shape[0]))
    x0, x1 = int(max(cell.x - a - 2, 0)), int(min(cell.x + a + 3, plane.shape[1]))
    if y0 >= y1 or x0 >= x1:
        return
    dy, dx = yy[y0:y1, x0:x1] - cell.y, xx[y0:y1, x0:x1] - cell.x
    c, s = np.cos(cell.angle), np.sin(cell.angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1
    region = plane[y0:y1, x0:x1]
    region[inside & (region == 0)] = cell.id


def _move(rng, cell: Cell, t: int, alive: list[Cell]) -> None:
    cell.vy = 0.9 * cell.vy + rng.normal(0, 0.3)
    cell.vx = 0.9 * cell.vx + rng.normal(0, 0.3)
    for other in alive:  # soft repulsion keeps cells mostly apart
        if other is cell:
            continue
        d = np.hypot(cell.y - other.y, cell.x - other.x)
        reach = cell.a + other.a
        if 0 < d < reach:
            push = 0.3 * (reach - d) / d
            cell.vy += push * (cell.y - other.y)
            cell.vx += push * (cell.x - other.x)
    cell.y += cell.vy
    cell.x += cell.vx
    cell.angle += rng.normal(0, 0.05)
    if cell.divides_at is not None:  # a mother rounds up and grows before dividing
        left = cell.divides_at - t
        cell.growth = 1.0 + 0.25 * max(0.0, 1 - left / 8)
        if left < 8:
            cell.b += 0.3 * (cell.a - cell.b)


# -- injected mistakes ------------------------------------------------------------------------------
def inject(scene: Scene, kinds: list[str], *, seed: int = 0) -> tuple[np.ndarray, dict[int, int], list[Injected]]:
    """The scene's labels and parents with one mistake of each of ``kinds``, and where each is."""
    rng = np.random.default_rng(seed)
    labels, parents = scene.labels.copy(), dict(scene.parents)
    used: set[int] = set()
    found: list[Injected] = []
    next_id = [int(labels.max()) + 1]
    for kind in kinds:
        for _ in range(200):
            made = _INJECT[kind](rng, scene, labels, parents, used, next_id)
            if made is not None:
                found.append(made)
                used.update(made.cells)
                break
    return labels, parents, found


def _spans(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for t, plane in enumerate(labels):
        for c in np.unique(plane).tolist():
            if c:
                first = out.get(c, (t, t))[0]
                out[c] = (first, t)
    return out


def _inner_cell(rng, labels, used, *, length: int = 8, margin: int = 40, avoid_lineage: dict | None = None):
    """A cell present on frames t-1..t+length, well inside the frame, not used yet."""
    spans = _spans(labels)
    ids = [c for c, (f, last) in spans.items() if c not in used and last - f > length + 4]
    if avoid_lineage is not None:
        ids = [c for c in ids if c not in avoid_lineage.values()]
    if not ids:
        return None
    cell = int(rng.choice(ids))
    first, last = spans[cell]
    t = int(rng.integers(first + 2, last - length + 1))
    ys, xs = np.nonzero(labels[t] == cell)
    size = labels.shape[1]
    if ys.min() < margin or xs.min() < margin or ys.max() > size - margin or xs.max() > size - margin:
        return None
    return cell, t


def _neighbour(labels, cell, t, used, within: float = 45.0):
    ys, xs = np.nonzero(labels[t] == cell)
    cy, cx = ys.mean(), xs.mean()
    best = None
    for other in np.unique(labels[t]).tolist():
        if other in (0, cell) or other in used:
            continue
        oy, ox = np.nonzero(labels[t] == other)
        if not (labels[min(t + 6, len(labels) - 1)] == other).any():
            continue
        d = np.hypot(oy.mean() - cy, ox.mean() - cx)
        if d < within and (best is None or d < best[1]):
            best = (other, d)
    return None if best is None else best[0]


def _identity_switch(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    b = _neighbour(labels, a, t, used)
    if b is None:
        return None
    for k in range(t, len(labels)):  # A's mask jumps onto B and follows it; A itself is lost
        plane = labels[k]
        was_a, was_b = plane == a, plane == b
        plane[was_a] = 0
        plane[was_b] = a
    return Injected("identity_switch", (a, b), t)


def _swap(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    b = _neighbour(labels, a, t, used)
    if b is None:
        return None
    for k in range(t, len(labels)):
        plane = labels[k]
        was_a, was_b = plane == a, plane == b
        plane[was_a], plane[was_b] = b, a
    return Injected("swap", (a, b), t)


def _blob(rng, scene, labels, parents, used, next_id):
    from scipy import ndimage

    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    for k in range(t, t + int(rng.integers(1, 4))):
        grown = ndimage.binary_dilation(labels[k] == a, iterations=int(rng.integers(25, 45)))
        labels[k][grown & (labels[k] == 0)] = a
    return Injected("blob", (a,), t)


def _merge(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    b = _neighbour(labels, a, t, used, within=30)
    if b is None:
        return None
    for k in range(t, min(t + int(rng.integers(3, 8)), len(labels))):
        labels[k][labels[k] == b] = a
    return Injected("merge", (a, b), t)


def _split(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    new = next_id[0]
    next_id[0] += 1
    for k in range(t, t + int(rng.integers(2, 6))):  # a part of the cell under a new id
        ys, xs = np.nonzero(labels[k] == a)
        cut = (ys - ys.mean()) * np.cos(0.7) + (xs - xs.mean()) * np.sin(0.7) > 0
        labels[k][ys[cut], xs[cut]] = new
    parents[new] = 0
    return Injected("split", (a, new), t)


def _missed_division(rng, scene, labels, parents, used, next_id):
    choices = [(m, t) for m, t in scene.divisions if m not in used and t + 4 < len(labels)]
    if not choices:
        return None
    mother, t = choices[int(rng.integers(len(choices)))]
    kids = [c for c, p in parents.items() if p == mother]
    if len(kids) != 2 or set(kids) & used:
        return None
    if rng.random() < 0.5:  # the mask covers both daughters for a few frames, then follows one
        for k in range(t, t + int(rng.integers(3, 6))):
            labels[k][np.isin(labels[k], kids)] = mother
    for k in range(t, len(labels)):  # it follows one daughter; her sister is a new cell
        labels[k][labels[k] == kids[0]] = mother
    parents.pop(kids[0], None)
    parents[kids[1]] = 0
    return Injected("missed_division", (mother, *kids), t)


def _false_division(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used, avoid_lineage=parents)
    if picked is None:
        return None
    a, t = picked
    d1, d2 = next_id[0], next_id[0] + 1
    next_id[0] += 2
    span = _spans(labels)[a]
    for k in range(t, span[1] + 1):  # the cell goes on under a new id; a sliver becomes a sister
        ys, xs = np.nonzero(labels[k] == a)
        labels[k][ys, xs] = d1
        if k < t + 3 and len(ys):
            cut = (ys - ys.mean()) * 0.6 + (xs - xs.mean()) * 0.8 > 0.35 * np.sqrt(len(ys) / np.pi)
            labels[k][ys[cut], xs[cut]] = d2
    parents[d1] = parents[d2] = a
    return Injected("false_division", (a, d1, d2), t)


def _early_end(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    if any(p == a for p in parents.values()):
        return None
    for k in range(t, len(labels)):
        labels[k][labels[k] == a] = 0
    return Injected("early_end", (a,), t)


def _orphan_start(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    new = next_id[0]
    next_id[0] += 1
    for k in range(t, len(labels)):  # the tracker lost the cell and found it again as a new one
        labels[k][labels[k] == a] = new
    for c, p in list(parents.items()):
        if p == a:
            parents[c] = new
    parents[new] = 0
    return Injected("orphan_start", (a, new), t)


def _flicker(rng, scene, labels, parents, used, next_id):
    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    for k in range(t, t + int(rng.integers(1, 3))):
        labels[k][labels[k] == a] = 0
    return Injected("flicker", (a,), t)


def _jitter(rng, scene, labels, parents, used, next_id):
    from scipy import ndimage

    picked = _inner_cell(rng, labels, used)
    if picked is None:
        return None
    a, t = picked
    for k in range(t, t + int(rng.integers(3, 6))):
        mask = labels[k] == a
        noise = ndimage.gaussian_filter(rng.normal(size=mask.shape), 3)
        wobbly = ndimage.distance_transform_edt(mask) - ndimage.distance_transform_edt(~mask) + 40 * noise
        labels[k][mask] = 0
        labels[k][(wobbly > 0) & (labels[k] == 0)] = a
    return Injected("jitter", (a,), t)


_INJECT = {
    "identity_switch": _identity_switch, "swap": _swap, "blob": _blob, "merge": _merge, "split": _split,
    "missed_division": _missed_division, "false_division": _false_division, "early_end": _early_end,
    "orphan_start": _orphan_start, "flicker": _flicker, "jitter": _jitter,
}  # fmt: skip


def found_at(items, injected: Injected, k: int, slack: int = 2) -> bool:
    """The injected mistake is named by one of the first ``k`` items (a cell it involves, ±slack frames)."""
    for item in items[:k]:
        if set(item.cells) & set(injected.cells) and item.frame - slack <= injected.frame <= item.last_frame + slack:
            return True
    return False
