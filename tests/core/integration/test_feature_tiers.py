"""The on-disk feature cache and half-precision storage, on the real (random-weight) model."""

from __future__ import annotations

import copy
import os

import numpy as np
import torch

from napari_sam2.core.diskcache import DiskFeatureCache, model_fingerprint
from napari_sam2.core.frames import FrameSource
from napari_sam2.core.session import TrackingSession
from tests.helpers import CountingArray, assert_differs, assert_meaningful, counting_encoder, moving_blob_stack

CLICK = (40, 35)


def _forward(loaded, data, **kwargs):
    session = TrackingSession(loaded, FrameSource(data), **kwargs)
    session.add_points(1, 0, [CLICK])
    return session, {r.frame: r.masks[0].copy() for r in session.propagate("forward")}


def test_reopening_a_stack_reads_features_from_disk_with_identical_masks(reduced_model, tmp_path):
    stack = moving_blob_stack(8)
    _, plain = _forward(reduced_model, stack)
    with counting_encoder(reduced_model) as first_calls:
        _, first = _forward(reduced_model, stack, disk_cache=tmp_path)
    data = CountingArray(stack)
    with counting_encoder(reduced_model) as second_calls:
        session, second = _forward(reduced_model, data, disk_cache=tmp_path)
    assert len(first_calls) == 8 and len(second_calls) == 0  # the encoder never ran on reopening
    assert session.cache.disk.hits == 8
    assert session.frames.reads == 8  # hashed and used from one read per frame
    for frame in plain:
        np.testing.assert_array_equal(first[frame], plain[frame])
        np.testing.assert_array_equal(second[frame], plain[frame])
    assert_meaningful(second[7])


def test_the_disk_key_follows_the_data_the_contrast_and_the_model(reduced_model, tmp_path):
    stack = moving_blob_stack(3)
    _forward(reduced_model, stack, disk_cache=tmp_path)
    with counting_encoder(reduced_model) as calls:
        _, other = _forward(reduced_model, moving_blob_stack(3, seed=5, speed=-2), disk_cache=tmp_path)
        assert len(calls) == 3
        source = FrameSource(stack.astype(np.uint16) * 200, contrast_limits=(0, 30000))
        session = TrackingSession(reduced_model, source, disk_cache=tmp_path)
        session.add_points(1, 0, [CLICK])
        list(session.propagate("forward"))
        assert len(calls) == 6
    assert_meaningful(other[2])
    changed = copy.deepcopy(reduced_model.model)
    with torch.no_grad():
        next(changed.vision_encoder.parameters()).add_(1e-3)
    assert model_fingerprint(changed) != model_fingerprint(reduced_model.model)
    assert model_fingerprint(copy.deepcopy(reduced_model.model)) == model_fingerprint(reduced_model.model)


def test_the_disk_cache_respects_its_budget_and_survives_damage(reduced_model, tmp_path):
    stack = moving_blob_stack(6)
    probe = DiskFeatureCache(tmp_path, "probe")
    probe.put("x", [torch.ones(1, 32, 64, 64), torch.ones(1, 64, 32, 32), torch.ones(1, 256, 16, 16)])
    entry = probe.nbytes
    disk = DiskFeatureCache(tmp_path, model_fingerprint(reduced_model.model), budget_bytes=3.5 * entry)
    _forward(reduced_model, stack, disk_cache=disk)
    assert disk.writes == 6 and 0 < disk.nbytes <= 3.5 * entry
    assert len([n for n in os.listdir(disk.folder) if n.endswith(".zarr")]) == 3
    # Damage every entry: a damaged entry is recomputed, not an error.
    for name in os.listdir(disk.folder):
        for root, _, files in os.walk(disk.folder / name):
            for f in files:
                if f != "zarr.json":
                    os.remove(os.path.join(root, f))
    _, again = _forward(reduced_model, stack, disk_cache=disk)
    _, plain = _forward(reduced_model, stack)
    for frame in plain:
        np.testing.assert_array_equal(again[frame], plain[frame])


def test_half_precision_features_halve_memory_and_nearly_agree(reduced_model):
    # Not bit-identical (a few pixels flip on the reduced model), so it is an option, off by default.
    stack = moving_blob_stack(6)
    full, a = _forward(reduced_model, stack)
    half, b = _forward(reduced_model, stack, feature_dtype=torch.float16)
    pos = full.cache.nbytes - sum(full.cache._sizes.values())
    assert sum(half.cache._sizes.values()) * 2 == sum(full.cache._sizes.values())
    assert half.cache.nbytes - sum(half.cache._sizes.values()) == pos
    for frame in a:
        iou = (a[frame] & b[frame]).sum() / (a[frame] | b[frame]).sum()
        assert iou > 0.99, iou
    assert_meaningful(b[5])
    assert_differs(b[0], b[5])


def test_encoding_ahead_fills_the_cache_nearest_first_and_changes_no_masks(reduced_model):
    stack = moving_blob_stack(8)
    _, plain = _forward(reduced_model, stack)
    session = TrackingSession(reduced_model, FrameSource(stack))
    assert session.encode_ahead_order(3) == [3]  # the size of a frame is not known yet
    assert session.encode(3) and not session.encode(3)
    order = session.encode_ahead_order(3)
    assert order[:5] == [4, 2, 5, 1, 6] and len(order) == 7
    for frame in order:
        assert session.encode(frame)
    assert session.encode_ahead_order(3) == []
    session.add_points(1, 0, [CLICK])
    with counting_encoder(reduced_model) as calls:
        ahead = {r.frame: r.masks[0].copy() for r in session.propagate("forward")}
    assert not calls  # every frame was encoded ahead
    for frame in plain:
        np.testing.assert_array_equal(ahead[frame], plain[frame])
    assert_meaningful(ahead[7])


def test_encoding_ahead_stops_where_the_memory_budget_would_evict(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(10)))
    session.encode(0)
    per_frame, pos = session.cache._sizes[0], session.cache.nbytes - session.cache._sizes[0]
    session.cache.budget_bytes = pos + 4 * per_frame
    order = session.encode_ahead_order(0)
    assert order == [1, 2, 3]
    for frame in order:
        session.encode(frame)
    assert len(session.cache) == 4 and session.encode_ahead_order(0) == []
