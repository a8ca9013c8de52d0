"""Keep the session's prompts in step with the prompt layers, one (object, frame) at a time.

The Points and Shapes layers are the source of truth: the user adds, moves, deletes and
undoes prompts there. After each change the groups of prompts are compared with what was
last submitted (or, before that, last taken by the session), and only the groups that
differ are sent. A group counts as taken only when its preview came back; a failed one is
taken out of the layer again, so a refused click never stays behind as a stray point.
"""

from __future__ import annotations

import numpy as np

from ..core.prompts import Groups, Point, PromptGroup
from ._prompts import box_of, frame_of, keep_only, on_held

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

    def failed(self, key: tuple[int, int], points_layer, shapes_layer, *, frame_axis, held: dict[int, int]) -> None:
        """The session refused the group ``key``: remove the points and the box it does not have."""
        self._submitted.pop(key, None)
        taken_points, taken_box = self._taken.get(key, EMPTY)
        obj, frame = key

        def here(coords, o) -> bool:
            return int(o) == obj and frame_of(coords, frame_axis) == frame and on_held(coords, held)

        if points_layer is not None and len(points_layer.data):
            features = points_layer.features
            keep = [
                not here(c, o) or Point(float(c[-2]), float(c[-1]), bool(p)) in set(taken_points)
                for c, o, p in zip(points_layer.data, features["object_id"], features["positive"])
            ]
            keep_only(points_layer, np.array(keep, bool))
        if shapes_layer is not None and len(shapes_layer.data) and "object_id" in shapes_layer.features:
            ids = shapes_layer.features["object_id"]
            keep = [not here(c[0], o) or box_of(c) == taken_box for c, o in zip(shapes_layer.data, ids)]
            keep_only(shapes_layer, np.array(keep, bool))
