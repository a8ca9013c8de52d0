"""Image-feature cache shared by every object of a session.

transformers' own cache holds one frame by default and evicts the *lowest frame index*,
which is wrong for backward passes and has no byte budget. :class:`FeatureCache` keeps the
same two-method interface (it is assigned to each inference state's ``cache``) with
least-recently-used eviction under a byte budget. The position encodings, identical for
every frame and most of each entry's size, are stored once.

Two options, both off by default:

* ``store_dtype`` (for example ``torch.float16``) halves the memory per cached frame; the
  features are cast back to the model's dtype on read, so masks may differ slightly from an
  uncached run (measured in ``docs/benchmarks.md``);
* ``disk`` (a :class:`~napari_sam2.core.diskcache.DiskFeatureCache`) is a second tier that
  survives the session: a frame missing from memory is looked up there by ``frame_key``
  before the encoder runs, and every newly encoded frame is written there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def _nbytes(value: Any) -> int:
    if hasattr(value, "element_size"):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


class FeatureCache:
    """LRU cache ``frame index -> vision features`` under ``budget_bytes``."""

    def __init__(
        self,
        budget_bytes: int = 512 * 2**20,
        *,
        store_dtype: Any = None,
        disk: Any = None,
        frame_key: Callable[[int], str] | None = None,
    ) -> None:
        if disk is not None and frame_key is None:
            raise ValueError("a disk tier needs frame_key")
        self.budget_bytes = int(budget_bytes)
        self.store_dtype = store_dtype
        self.disk = disk
        self.frame_key = frame_key
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
        if self.disk is not None:
            self.disk.put(self.frame_key(frame_idx), list(features["vision_feats"]))
            self.disk.put_pos(list(features["vision_pos_embeds"]))
        self._remember(frame_idx, features)

    def _remember(self, frame_idx: int, features: dict) -> None:
        entry = dict(features)
        if "vision_pos_embeds" in entry:
            if self._pos_embeds is None:
                self._pos_embeds = entry["vision_pos_embeds"]
            entry["vision_pos_embeds"] = None  # restored from the shared copy on read
        if self.store_dtype is not None:
            feats = entry["vision_feats"]
            self._feat_dtype = feats[0].dtype
            entry["vision_feats"] = [f.to(self.store_dtype) for f in feats]
        self._entries[frame_idx] = entry
        self._entries.move_to_end(frame_idx)
        self._sizes[frame_idx] = _nbytes(list(v for v in entry.values() if v is not None))
        self._evict(keep=frame_idx)

    def get_vision_features(self, frame_idx: int) -> dict | None:
        entry = self._entries.get(frame_idx)
        if entry is None and self.disk is not None:
            entry = self._from_disk(frame_idx)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(frame_idx)
        result = dict(entry)
        if "vision_pos_embeds" in result:
            result["vision_pos_embeds"] = self._pos_embeds
        if self.store_dtype is not None:
            result["vision_feats"] = [f.to(self._feat_dtype) for f in result["vision_feats"]]
        return result

    def _from_disk(self, frame_idx: int) -> dict | None:
        feats = self.disk.get(self.frame_key(frame_idx))
        pos = self._pos_embeds if self._pos_embeds is not None else self.disk.get_pos()
        if feats is None or pos is None:
            return None
        self._remember(frame_idx, {"vision_feats": feats, "vision_pos_embeds": pos})
        return self._entries[frame_idx]

    def ahead_order(self, center: int, n_frames: int, frame_range: tuple[int, int] | None = None) -> list[int]:
        """Frames still to encode, nearest to ``center`` first (later frames before earlier).

        Bounded by what the memory holds without evicting the frames it has, unless a disk
        tier keeps everything anyway.
        """
        first, last = (0, n_frames - 1) if frame_range is None else frame_range
        order = sorted(range(first, last + 1), key=lambda f: (abs(f - center), f < center))
        todo = [f for f in order if f not in self]
        if self.disk is None:
            room = self.room_for_frames()
            todo = todo[:room] if room is not None else todo[:1]
        return todo

    def room_for_frames(self) -> int | None:
        """How many more frames fit without eviction; ``None`` before the first frame is seen."""
        if not self._sizes:
            return None
        per_frame = max(self._sizes.values())
        return max(0, (self.budget_bytes - self.nbytes) // per_frame)

    def _evict(self, keep: int) -> None:
        # The newest entry always stays: the frame being processed needs it.
        while self.nbytes > self.budget_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            del self._entries[oldest]
            del self._sizes[oldest]
