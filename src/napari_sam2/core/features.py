"""Image-feature cache shared by every object of a session.

transformers' own cache holds one frame by default and evicts the *lowest frame index*,
which is wrong for backward passes and has no byte budget. :class:`FeatureCache` keeps the
same two-method interface (it is assigned to each inference state's ``cache``) with
least-recently-used eviction under a byte budget. The position encodings, identical for
every frame and most of each entry's size, are stored once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


def _nbytes(value: Any) -> int:
    if hasattr(value, "element_size"):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


class FeatureCache:
    """LRU cache ``frame index -> vision features`` under ``budget_bytes``."""

    def __init__(self, budget_bytes: int = 512 * 2**20) -> None:
        self.budget_bytes = int(budget_bytes)
        self._entries: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._pos_embeds: Any = None
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes held, position encodings included."""
        return sum(self._sizes.values()) + _nbytes(self._pos_embeds)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, frame_idx: int) -> bool:
        return frame_idx in self._entries

    # The two methods below are the interface transformers' session calls.
    def cache_vision_features(self, frame_idx: int, features: dict) -> None:
        entry = dict(features)
        if "vision_pos_embeds" in entry:
            if self._pos_embeds is None:
                self._pos_embeds = entry["vision_pos_embeds"]
            entry["vision_pos_embeds"] = None  # restored from the shared copy on read
        self._entries[frame_idx] = entry
        self._entries.move_to_end(frame_idx)
        self._sizes[frame_idx] = _nbytes(list(v for v in entry.values() if v is not None))
        self._evict(keep=frame_idx)

    def get_vision_features(self, frame_idx: int) -> dict | None:
        entry = self._entries.get(frame_idx)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(frame_idx)
        result = dict(entry)
        if "vision_pos_embeds" in result:
            result["vision_pos_embeds"] = self._pos_embeds
        return result

    def clear_all(self) -> None:
        self._entries.clear()
        self._sizes.clear()

    def _evict(self, keep: int) -> None:
        # The newest entry always stays: the frame being processed needs it.
        while self.nbytes > self.budget_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            del self._entries[oldest]
            del self._sizes[oldest]
