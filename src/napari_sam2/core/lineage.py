"""The lineage of a tracked population: tracks, their first and last frames, and parents.

A track is one object followed through consecutive frames under one id. A track ends when
its object is gone (absent for a few frames) or divides; daughters are new tracks whose
parent is the mother. The lineage goes into the JSON sidecar, the Cell Tracking Challenge
``res_track.txt`` and GEFF, and napari's Tracks layer.

The user's corrections are edits of the lineage that say which labels must change with
them (:class:`Relabel`): a division marked by hand (:meth:`Lineage.divide`), a division
undone (:meth:`Lineage.undo_division`) and two tracks joined (:meth:`Lineage.join`). After
every edit a daughter whose parent no longer ends before it starts loses that parent, so
the lineage always obeys the CTC rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import Sam2InputError


@dataclass
class Track:
    id: int
    first: int
    last: int
    parent: int = 0  # 0: no parent

    def as_ctc_row(self) -> str:
        """``L B E P``, the Cell Tracking Challenge's line for this track."""
        return f"{self.id} {self.first} {self.last} {self.parent}"


@dataclass
class Relabel:
    """What an edit does to the labels: ``mapping`` old id -> new id (0 erases) on frames
    ``first`` onwards."""

    mapping: dict[int, int] = field(default_factory=dict)
    first: int = 0

    def apply(self, plane: np.ndarray, frame: int) -> np.ndarray:
        """A copy of one frame's label plane with the edit applied."""
        if frame < self.first or not self.mapping:
            return plane
        out = plane.copy()
        for old, new in self.mapping.items():
            out[plane == old] = new
        return out


def label_centres(plane: np.ndarray) -> dict[int, tuple[float, float]]:
    """``id -> (y, x)``: the centre of each label of a 2-D plane (napari's Tracks points).

    Counts and coordinate sums per id by ``bincount``: one pass over the plane, about 3x
    faster than sorting it (``np.unique``) on a 2048² plane with 200 cells.
    """
    h, w = plane.shape
    flat = np.asarray(plane).ravel()
    counts = np.bincount(flat)
    ids = np.flatnonzero(counts[1:]) + 1
    if not len(ids):
        return {}
    ys = np.bincount(flat, weights=np.repeat(np.arange(h, dtype=np.float64), w), minlength=len(counts))
    xs = np.bincount(flat, weights=np.tile(np.arange(w, dtype=np.float64), h), minlength=len(counts))
    return {int(i): (float(ys[i] / counts[i]), float(xs[i] / counts[i])) for i in ids}


class Lineage:
    """Tracks by id. Frames are added as they are tracked; ``end`` closes a track."""

    def __init__(self) -> None:
        self.tracks: dict[int, Track] = {}
        self.ended: set[int] = set()

    def __contains__(self, track_id: int) -> bool:
        return track_id in self.tracks

    def __len__(self) -> int:
        return len(self.tracks)

    def start(self, track_id: int, frame: int, parent: int = 0) -> Track:
        if track_id in self.tracks:
            raise Sam2InputError(f"Track {track_id} exists already; every new cell needs a new id.")
        if parent and parent not in self.tracks:
            raise Sam2InputError(f"Track {track_id} names parent {parent}, which is not a track.")
        self.tracks[track_id] = track = Track(int(track_id), int(frame), int(frame), int(parent))
        return track

    def seen(self, track_id: int, frame: int) -> None:
        """The track's object is present on ``frame`` (its span grows to hold it: the last
        frame moves on, or the first back for a cell found after it appeared)."""
        track = self.tracks[track_id]
        track.first, track.last = min(track.first, int(frame)), max(track.last, int(frame))

    def end(self, track_id: int, last: int) -> None:
        """The track stops at ``last`` (its object is gone, or it divided after ``last``)."""
        track = self.tracks[track_id]
        track.last = int(last)
        self.ended.add(track_id)

    def children(self, track_id: int) -> list[int]:
        return sorted(t.id for t in self.tracks.values() if t.parent == track_id)

    def descendants(self, track_id: int) -> list[int]:
        """Daughters, their daughters, and so on."""
        found, todo = [], self.children(track_id)
        while todo:
            found.append(todo.pop(0))
            todo += self.children(found[-1])
        return sorted(found)

    def copy(self) -> Lineage:
        return Lineage.from_dict(self.as_dict())

    def _track(self, track_id: int) -> Track:
        if track_id not in self.tracks:
            raise Sam2InputError(f"Cell {track_id} is not a track of this lineage.")
        return self.tracks[track_id]

    def _remove(self, ids) -> None:
        for i in ids:
            self.tracks.pop(i, None)
            self.ended.discard(i)

    def _drop_broken_parents(self) -> None:
        """A daughter must start after its parent ends (the CTC rule); otherwise it has none."""
        for track in self.tracks.values():
            parent = self.tracks.get(track.parent)
            if track.parent and (parent is None or parent.last >= track.first):
                track.parent = 0

    # -- the user's corrections ---------------------------------------------------------------
    def divide(self, mother: int, frame: int, daughters: tuple[int, int]) -> Relabel:
        """``mother`` divides into ``daughters`` on ``frame``; her later descendants are dropped.

        Returns the relabelling: the mother and every earlier descendant erased from
        ``frame`` on (the daughters' masks are written by the run that tracks them).
        """
        track = self._track(mother)
        if not track.first < frame <= track.last + 1:
            raise Sam2InputError(
                f"Cell {mother} is tracked on frames {track.first}–{track.last}: a division must be on a later "
                f"frame than its first, up to {track.last + 1}."
            )
        if len(set(daughters)) != 2 or set(daughters) & set(self.tracks):
            raise Sam2InputError(f"The daughters need two new ids, got {daughters}.")
        gone = self.descendants(mother)
        self._remove(gone)
        self.end(mother, frame - 1)
        for daughter in daughters:
            self.start(daughter, frame, parent=mother)
        return Relabel({i: 0 for i in (mother, *gone)}, frame)

    def undo_division(self, track_id: int) -> Relabel:
        """The division that made ``track_id`` (a daughter), or that ``track_id`` (a mother)
        made, did not happen: the daughters' labels become the mother's again."""
        track = self._track(track_id)
        mother = track_id if self.children(track_id) else track.parent
        if not mother:
            raise Sam2InputError(f"Cell {track_id} has neither a mother nor daughters: there is no division to undo.")
        start = self.tracks[mother].last + 1
        daughters = [d for d in self.children(mother) if self.tracks[d].first == start]
        if not daughters:
            raise Sam2InputError(f"Cell {mother}'s daughters do not start right after it: join the tracks instead.")
        mapping = {d: mother for d in daughters}
        self.tracks[mother].last = max(self.tracks[d].last for d in daughters)
        for d in daughters:
            for grandchild in self.children(d):
                self.tracks[grandchild].parent = mother
        self._remove(daughters)
        self._drop_broken_parents()
        return Relabel(mapping, start)

    def join(self, first: int, second: int) -> Relabel:
        """``second`` is the same cell as ``first``, seen later: one track under ``first``'s id.

        ``second``'s daughters become ``first``'s; a daughter of ``first`` that now starts
        before ``first`` ends loses her parent.
        """
        a, b = self._track(first), self._track(second)
        if first == second or a.last >= b.first:
            raise Sam2InputError(
                f"Cell {second} (frames {b.first}–{b.last}) must start after cell {first} ends (frame {a.last}) "
                "to continue it."
            )
        for child in self.children(second):
            self.tracks[child].parent = first
        a.last = b.last
        if second in self.ended:
            self.ended.add(first)
        self._remove([second])
        self._drop_broken_parents()
        return Relabel({second: first}, b.first)

    def graph(self) -> dict[int, list[int]]:
        """napari's Tracks ``graph``: daughter -> [parent]."""
        return {t.id: [t.parent] for t in self.tracks.values() if t.parent}

    def as_dict(self) -> list[dict]:
        return [asdict(t) for t in sorted(self.tracks.values(), key=lambda t: t.id)]

    @classmethod
    def from_dict(cls, rows: list[dict]) -> Lineage:
        lineage = cls()
        for row in sorted(rows, key=lambda r: (r["first"], r["id"])):
            lineage.tracks[int(row["id"])] = Track(
                int(row["id"]), int(row["first"]), int(row["last"]), int(row["parent"])
            )
        return lineage

    def check_against(self, labels: np.ndarray) -> list[str]:
        """Disagreements between the lineage and a label stack ``(T, Y, X)``; empty when they agree.

        Every track's id must be present on every frame from its first to its last and on no
        other frame; a parent must end before its daughters start.
        """
        problems = []
        present = {int(i): set() for i in np.unique(labels) if i}
        for frame in range(labels.shape[0]):
            for i in np.unique(labels[frame]):
                if i:
                    present.setdefault(int(i), set()).add(frame)
        for track in self.tracks.values():
            frames = present.pop(track.id, set())
            wanted = set(range(track.first, track.last + 1))
            if frames != wanted:
                problems.append(f"track {track.id}: frames {sorted(frames)[:5]}… not {track.first}..{track.last}")
            parent = self.tracks.get(track.parent)
            if track.parent and (parent is None or parent.last >= track.first):
                problems.append(f"track {track.id}: parent {track.parent} does not end before it starts")
        problems += [f"label {i} has no track" for i in sorted(present)]
        return problems
