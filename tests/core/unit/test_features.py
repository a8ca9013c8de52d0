"""The shared feature cache: LRU under a byte budget, position encodings stored once."""

from __future__ import annotations

import torch

from napari_sam2.core.features import FeatureCache

MIB = 2**20


def _features(seed: float):
    feats = [torch.full((MIB // 4,), float(seed))]  # 1 MiB of float32
    pos = [torch.zeros(MIB // 4)]  # the same for every frame
    return {"vision_feats": feats, "vision_pos_embeds": pos}


def test_byte_budget_is_respected():
    cache = FeatureCache(budget_bytes=int(3.5 * MIB))
    for frame in range(10):
        cache.cache_vision_features(frame, _features(frame))
        assert cache.nbytes <= cache.budget_bytes
    assert len(cache) == 2  # 2 frames + the shared position encodings = 3 MiB


def test_eviction_is_least_recently_used_not_lowest_index():
    cache = FeatureCache(budget_bytes=int(4.5 * MIB))
    for frame in (5, 6, 7):
        cache.cache_vision_features(frame, _features(frame))
    assert cache.get_vision_features(5) is not None  # frame 5 used again: now the newest
    cache.cache_vision_features(8, _features(8))
    assert 5 in cache and 6 not in cache and 8 in cache


def test_position_encodings_are_stored_once_and_returned_with_each_frame():
    cache = FeatureCache(budget_bytes=100 * MIB)
    for frame in range(4):
        cache.cache_vision_features(frame, _features(frame))
    assert cache.nbytes == 5 * MIB  # 4 frames + one copy of the position encodings
    entry = cache.get_vision_features(2)
    assert float(entry["vision_feats"][0][0]) == 2.0 and entry["vision_pos_embeds"][0].shape == (MIB // 4,)


def test_misses_and_hits_are_counted():
    cache = FeatureCache()
    assert cache.get_vision_features(0) is None
    cache.cache_vision_features(0, _features(0))
    cache.get_vision_features(0)
    assert (cache.hits, cache.misses) == (1, 1)
