"""Keep each object-frame's memory-conditioned features from the last pass.

A correction click on a tracked frame re-runs SAM 2's memory attention for that frame
(about 3 s for sam2.1-tiny on a CPU) although its inputs have not changed since the last
pass: the same conditioning frames, the same memories of the neighbouring frames. Keeping
the result of that attention per (object, frame) lets the click cost only the decoder.

Validity: propagation recomputes (and re-stores) every frame it passes, in order, so an
entry always matches the state it was computed from; the only other change, a new set of
conditioning frames for an object, clears that object's entries. The entries live under a
byte budget, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from .shadow import shadowing


class ConditionedFeatures:
    """LRU store ``(object id, frame) -> memory-conditioned features`` under a byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self._entries: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self.nbytes = 0
        self.hits = 0

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self._entries

    def put(self, key: tuple[int, int], value) -> None:
        size = value.element_size() * value.nelement()
        if size > self.budget_bytes:
            return
        self.drop(key)
        self._entries[key] = value
        self.nbytes += size
        while self.nbytes > self.budget_bytes:
            _, old = self._entries.popitem(last=False)
            self.nbytes -= old.element_size() * old.nelement()

    def take(self, key: tuple[int, int]):
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return value

    def drop(self, key: tuple[int, int]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.element_size() * old.nelement()

    def forget_object(self, obj_id: int) -> None:
        for key in [k for k in self._entries if k[0] == obj_id]:
            self.drop(key)

    @contextmanager
    def around(self, model, obj_id: int, *, reuse: bool):
        """Record (and with ``reuse``, serve) the model's memory attention for ``obj_id``."""
        if self.budget_bytes <= 0:
            yield
            return

        def wrap(original: Callable) -> Callable:
            def conditioned(**kwargs):
                if kwargs["is_initial_conditioning_frame"]:
                    return original(**kwargs)
                key = (obj_id, int(kwargs["frame_idx"]))
                if reuse and key in self._entries:
                    return self.take(key)
                value = original(**kwargs)
                self.put(key, value)
                return value

            return conditioned

        with shadowing(model, "_prepare_memory_conditioned_features", wrap):
            yield
