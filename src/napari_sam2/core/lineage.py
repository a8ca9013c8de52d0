"""The lineage of a tracked population: tracks, their first and last frames, and parents.

A track is one object followed through consecutive frames under one id. A track ends when
its object is gone (absent for a few frames) or divides; daughters are new tracks whose
parent is the mother. The lineage goes into the JSON sidecar, the Cell Tracking Challenge
``res_track.txt`` and GEFF, and napari's Tracks layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
        """The track's object is present on ``frame`` (its last frame moves on)."""
        track = self.tracks[track_id]
        track.last = max(track.last, int(frame))

    def end(self, track_id: int, last: int) -> None:
        """The track stops at ``last`` (its object is gone, or it divided after ``last``)."""
        track = self.tracks[track_id]
        track.last = int(last)
        self.ended.add(track_id)

    def children(self, track_id: int) -> list[int]:
        return sorted(t.id for t in self.tracks.values() if t.parent == track_id)

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
