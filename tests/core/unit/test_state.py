"""Spilled tracked state comes back bit for bit and stays within its window."""

from __future__ import annotations

import torch

from napari_sam2.core.spill import SpillingOutputs, SpillStore


def _entry(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "maskmem_features": torch.randn(1, 64, 8, 8, generator=g).to(torch.bfloat16),
        "object_pointer": torch.randn(1, 16, generator=g),
        "pred_masks": torch.randn(1, 1, 64, 64, generator=g),
        "flag": True,
    }


def test_entries_round_trip_bit_for_bit_through_the_file():
    store = SpillStore("disk")
    outputs = SpillingOutputs(store, resident=2)
    originals = {f: _entry(f) for f in range(6)}
    for f, e in originals.items():
        outputs[f] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in e.items()}
    assert len(outputs.resident_items()) == 2 and outputs.spilled_frames == [0, 1, 2, 3]
    for f in (0, 3, 5, 1):
        got = outputs[f]
        for key, value in originals[f].items():
            if torch.is_tensor(value):
                assert got[key].dtype == value.dtype and torch.equal(got[key], value)
            else:
                assert got[key] == value
    assert 0 in outputs and 9 not in outputs and len(outputs) == 6 and set(outputs) == set(range(6))
    assert outputs.get(9) is None


def test_file_slots_are_reused_and_released():
    store = SpillStore("disk")
    outputs = SpillingOutputs(store, resident=2)
    for _ in range(3):
        for f in range(8):
            outputs[f] = _entry(f)
    size = store.file_bytes
    for f in range(8):
        outputs[f] = _entry(f)
    assert store.file_bytes == size
    reads = store.reads
    outputs.clear()
    assert store.nbytes == 0 and len(outputs) == 0 and store.reads == reads  # nothing read back


def test_shared_tensors_and_small_ones_stay_in_memory():
    shared = torch.zeros(1, 64, 32, 32)
    store = SpillStore("cpu")
    outputs = SpillingOutputs(store, resident=2, shared=lambda v: v is shared)
    for f in range(4):
        outputs[f] = {**_entry(f), "maskmem_pos_enc": shared}
    (_, kept), *_ = [(f, e) for f, e in outputs.in_memory_items() if f == 0]
    assert kept["maskmem_pos_enc"] is shared and "object_pointer" in kept and "pred_masks" not in kept
    assert outputs[0]["maskmem_pos_enc"] is shared
