"""Keep the session's prompts in step with the prompt layers, one (object, frame) at a time.

The Points and Shapes layers are the source of truth: the user adds, moves, deletes and
undoes prompts there. After each change the groups of prompts are compared with what was
last submitted (or, before that, last taken by the session), and only the groups that
differ are sent. A group counts as taken only when its preview came back; a failed one is
taken out of the layer again, so a refused click never stays behind as a stray point.
"""

from __future__ import annotations

import numpy as np

from ..core.pipeline import Groups
from ..core.session import Point, PromptGroup
from ._prompts import keep_points

EMPTY = PromptGroup().key()


class PromptSync:
    def __init__(self) -> None:
        self._taken: dict[tuple[int, int], tuple] = {}
        self._submitted: dict[tuple[int, int], tuple] = {}

    def reset(self, assume: Groups | None = None) -> None:
        """A new session is coming. ``assume``: the groups it will be given before its first
        run (so they are not previewed again now); only later edits are previewed."""
        self._taken = {key: group.key() for key, group in (assume or {}).items()}
        self._submitted = {}

    def changed(self, groups: Groups) -> list[tuple[int, int]]:
        """Keys whose prompts differ from what the session has or will have."""
        known = {**self._taken, **self._submitted}
        keys = set(groups) | set(known)
        return sorted(k for k in keys if groups.get(k, PromptGroup()).key() != known.get(k, EMPTY))

    def submitted(self, key: tuple[int, int], group: PromptGroup | None) -> None:
        self._submitted[key] = (group or PromptGroup()).key()

    def taken(self, key: tuple[int, int], prompts: tuple) -> None:
        self._taken[key] = prompts
        if self._submitted.get(key) == prompts:
            del self._submitted[key]

    def forget_object(self, obj: int) -> None:
        for table in (self._taken, self._submitted):
            for key in [k for k in table if k[0] == obj]:
                del table[key]

    def failed(self, key: tuple[int, int], points_layer, *, frame_axis, held: dict[int, int]) -> None:
        """The session refused the group ``key``: remove the points it does not have."""
        self._submitted.pop(key, None)
        if points_layer is None or not len(points_layer.data):
            return
        taken = set(self._taken.get(key, EMPTY)[0])
        obj, frame = key
        keep = []
        for coords, o, positive in zip(
            points_layer.data, points_layer.features["object_id"], points_layer.features["positive"]
        ):
            here = int(o) == obj and (frame_axis is None or int(round(float(coords[frame_axis]))) == frame)
            here = here and all(int(round(float(coords[a]))) == i for a, i in held.items())
            keep.append(not here or Point(float(coords[-2]), float(coords[-1]), bool(positive)) in taken)
        keep_points(points_layer, np.array(keep, bool))
