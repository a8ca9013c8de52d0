"""Bounded tracked state: per-frame outputs far from where the model is working are spilled.

transformers keeps every tracked frame's output (memory features, object pointer) in a
plain dict per object, so state grows with the stack: about 0.5 MiB per frame and object
once the engine has dropped what is never read (:class:`StateSlimmer`), 10 GiB for 20 objects
over 1000 frames. Those entries cannot simply be deleted: a backward pass after a forward
pass reads the forward pass's memories up to about 15 frames past its start, and a
correction at frame ``f`` reads the memories of ``f-6 .. f-1`` and object pointers back to
about ``f-15``; any tracked frame may be corrected later.

:class:`SpillingOutputs` replaces that dict. It keeps the ``resident`` most recently used
entries as they are and moves the large tensors of older entries out of the way: to CPU
memory when the model runs on a GPU, to an unlinked temporary file on a CPU. An entry is
brought back, bit for bit, the moment transformers looks it up again, so masks do not
change (tested against keeping everything). transformers reads these entries only through
``get``, ``in``, ``[]`` and ``pop`` on frames near the current one, so the working set of a
pass is about 16 entries per object; the default window of 32 keeps every pass free of
disk reads except the first frames of a backward pass.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

#: Tensors smaller than this stay in memory when an entry spills (object pointers, scores).
SMALL_BYTES = 4096


@dataclass(frozen=True)
class _Slot:
    offset: int
    nbytes: int
    dtype: Any
    shape: tuple[int, ...]
    device: Any


class SpillStore:
    """Where spilled tensors go: CPU memory (``target="cpu"``) or an unlinked temporary file.

    Used by one session, from one thread at a time (the session's own rule), so no lock.

    File slots are reused: every spilled tensor of a model has one of a few sizes, so a
    free list per size keeps the file as large as the most ever spilled at once.
    """

    def __init__(self, target: str = "disk", directory: str | os.PathLike | None = None) -> None:
        if target not in ("disk", "cpu"):
            raise ValueError(f"target must be 'disk' or 'cpu', not {target!r}")
        self.target = target
        # Unlinked at once: nothing is left behind, even after a crash. Closed by close().
        self._file = tempfile.TemporaryFile(dir=directory) if target == "disk" else None  # noqa: SIM115
        self._end = 0
        self._free: dict[int, list[int]] = {}
        self.nbytes = 0  # bytes currently spilled
        self.writes = 0
        self.reads = 0

    def put(self, tensor) -> Any:
        """Move ``tensor`` out; return a handle for :meth:`take`."""
        import torch

        if self.target == "cpu":
            self.nbytes += tensor.element_size() * tensor.nelement()
            self.writes += 1
            return (tensor.device, tensor.to("cpu"))
        flat = tensor.detach().contiguous().view(-1)
        raw = flat.view(torch.uint8) if flat.element_size() > 1 else flat
        data = raw.cpu().numpy().tobytes()
        free = self._free.get(len(data))
        if free:
            offset = free.pop()
        else:
            offset, self._end = self._end, self._end + len(data)
        os.pwrite(self._file.fileno(), data, offset)
        self.nbytes += len(data)
        self.writes += 1
        return _Slot(offset, len(data), tensor.dtype, tuple(tensor.shape), tensor.device)

    def take(self, handle: Any):
        """Bring a tensor back and release its place."""
        import torch

        self.reads += 1
        if self.target == "cpu":
            self.release(handle)
            device, tensor = handle
            return tensor.to(device)
        data = os.pread(self._file.fileno(), handle.nbytes, handle.offset)
        self.release(handle)
        tensor = torch.frombuffer(bytearray(data), dtype=handle.dtype).reshape(handle.shape)
        return tensor.to(handle.device)

    def release(self, handle: Any) -> None:
        """Forget a spilled tensor without reading it."""
        if self.target == "cpu":
            self.nbytes -= handle[1].element_size() * handle[1].nelement()
            return
        self._free.setdefault(handle.nbytes, []).append(handle.offset)
        self.nbytes -= handle.nbytes

    @property
    def file_bytes(self) -> int:
        return self._end

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _SpilledEntry:
    """An output dict whose large tensors live in a :class:`SpillStore`."""

    __slots__ = ("kept", "handles")

    def __init__(self, kept: dict, handles: dict) -> None:
        self.kept = kept
        self.handles = handles


class SpillingOutputs(MutableMapping):
    """``frame -> output dict`` keeping the ``resident`` most recently used entries in place.

    Used for each object's ``non_cond_frame_outputs``. ``shared`` values (for example the one
    position-encoding tensor every frame shares) are never spilled.
    """

    def __init__(self, store: SpillStore, resident: int = 32, shared: Any = None) -> None:
        self.store = store
        self.resident_limit = max(2, int(resident))
        self._resident: OrderedDict[int, dict] = OrderedDict()
        self._spilled: dict[int, _SpilledEntry] = {}
        self._is_shared = shared or (lambda value: False)

    # -- mapping protocol ---------------------------------------------------------------
    def __getitem__(self, frame: int) -> dict:
        entry = self._resident.get(frame)
        if entry is not None:
            self._resident.move_to_end(frame)
            return entry
        spilled = self._spilled.pop(frame, None)
        if spilled is None:
            raise KeyError(frame)
        entry = dict(spilled.kept)
        for key, handle in spilled.handles.items():
            entry[key] = self.store.take(handle)
        self._admit(frame, entry)
        return entry

    def __setitem__(self, frame: int, entry: dict) -> None:
        self._discard(frame)
        self._admit(frame, entry)

    def __delitem__(self, frame: int) -> None:
        if frame not in self:
            raise KeyError(frame)
        self._discard(frame)

    def __contains__(self, frame: object) -> bool:
        return frame in self._resident or frame in self._spilled

    def __iter__(self) -> Iterator[int]:
        yield from list(self._resident)
        yield from list(self._spilled)

    def __len__(self) -> int:
        return len(self._resident) + len(self._spilled)

    def clear(self) -> None:
        """Forget every entry; spilled ones release their place without being read back."""
        for frame in list(self._resident) + list(self._spilled):
            self._discard(frame)

    # -- introspection ------------------------------------------------------------------
    def resident_items(self):
        """Entries held in memory, without bringing spilled ones back."""
        return list(self._resident.items())

    def in_memory_items(self):
        """What stays in memory: resident entries and the small tensors of spilled ones."""
        return self.resident_items() + [(frame, entry.kept) for frame, entry in self._spilled.items()]

    @property
    def spilled_frames(self) -> list[int]:
        return sorted(self._spilled)

    # -- internals ----------------------------------------------------------------------
    def _discard(self, frame: int) -> None:
        self._resident.pop(frame, None)
        spilled = self._spilled.pop(frame, None)
        if spilled is not None:
            for handle in spilled.handles.values():
                self.store.release(handle)

    def _admit(self, frame: int, entry: dict) -> None:
        self._resident[frame] = entry
        self._resident.move_to_end(frame)
        while len(self._resident) > self.resident_limit:
            old_frame, old = self._resident.popitem(last=False)
            self._spilled[old_frame] = self._spill(old)

    def _spill(self, entry: dict) -> _SpilledEntry:
        kept, handles = {}, {}
        for key, value in entry.items():
            large = hasattr(value, "element_size") and value.element_size() * value.nelement() >= SMALL_BYTES
            if large and not self._is_shared(value):
                handles[key] = self.store.put(value)
            else:
                kept[key] = value
        return _SpilledEntry(kept, handles)


class StateSlimmer:
    """What a tracked frame keeps in memory: what is never read again is dropped, what is the
    same for every frame is stored once.

    ``high_res_masks`` (4 MiB per frame and object at 1024²) is used once, by the memory
    encoder, then released; ``maskmem_pos_enc`` (1 MiB) depends only on the feature-map
    shape, so every frame shares one copy (``share``). What remains per frame and object is
    the bf16 memory (0.5 MiB at 1024²) and the object pointer: state grows by about 0.5 MiB
    per frame instead of 5.75 MiB.
    """

    def __init__(self, *, share: bool = True) -> None:
        self.share = share
        self._shared_pos_enc = None

    def is_shared(self, value) -> bool:
        """``value`` is the one shared copy (spilling leaves it in place)."""
        return value is self._shared_pos_enc

    def drop_unread(self, state, frame: int) -> None:
        outputs = state.output_dict_per_obj[0]
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            stored = outputs[kind].get(frame)
            if stored is None:
                continue
            fresh = stored.pop("high_res_masks", None) is not None  # just computed, not a kept output
            # The mask logits stay (a click there refines them, as in Meta's predictor), as a
            # fresh copy made after the frame's transient buffers are freed: kept where the
            # model allocated them, the heap around them could not be returned, and a CLI
            # run's peak grew by 4.2 MiB per frame instead of 0.3 (docs/benchmarks.md).
            if fresh and stored.get("pred_masks") is not None:
                stored["pred_masks"] = stored["pred_masks"].clone()
            if self.share:
                stored["maskmem_pos_enc"] = self._shared(stored.get("maskmem_pos_enc"))

    def _shared(self, pos_enc):
        import torch

        if pos_enc is None:
            return None
        shared = self._shared_pos_enc
        if shared is not None and shared.shape == pos_enc.shape and torch.equal(shared, pos_enc):
            return shared
        self._shared_pos_enc = pos_enc.clone()
        return self._shared_pos_enc

    @staticmethod
    def nbytes(states) -> int:
        """Bytes of tracked state held in memory (shared tensors counted once; spilled state not)."""
        seen: set[int] = set()
        total = 0
        for state in states:
            for outputs in state.output_dict_per_obj[0].values():
                items = outputs.in_memory_items() if isinstance(outputs, SpillingOutputs) else outputs.items()
                for _, stored in items:
                    for value in stored.values():
                        if hasattr(value, "untyped_storage") and value.untyped_storage().data_ptr() not in seen:
                            seen.add(value.untyped_storage().data_ptr())
                            total += value.untyped_storage().nbytes()
        return total
