"""Smoke test with the real sam2.1-tiny weights, when they are in the local hub cache.

Pre-download with ``napari-sam2 download sam2.1-tiny``. Without network and cache, this
test skips with the reason; it never downloads.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.sample import make_zstack


def _cached_tiny():
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download("facebook/sam2.1-hiera-tiny", local_files_only=True)
    except Exception:
        return None


@pytest.mark.slow
@pytest.mark.skipif(
    _cached_tiny() is None, reason="sam2.1-tiny is not in the local hub cache (napari-sam2 download sam2.1-tiny)"
)
def test_real_sam21_tiny_segments_a_nucleus():
    from napari_sam2.core import FrameSource, ModelLoader, TrackingSession

    stack, prompts = make_zstack(5)
    loaded = ModelLoader().load("sam2.1-tiny", device="auto", progress=False)
    assert loaded.source == "hub" and len(loaded.revision) == 40
    session = TrackingSession(loaded, FrameSource(stack))
    p = prompts[0]
    result = session.add_points(1, 2, [(p.y, p.x)])
    mask = result.masks[0]
    assert mask[int(p.y), int(p.x)], "the clicked pixel should be inside the nucleus mask"
    assert 0.005 < mask.mean() < 0.3
    frames = {r.frame: r.masks[0] for r in session.propagate("both")}
    assert sorted(frames) == list(range(5)) and np.mean([m.mean() for m in frames.values()]) > 0.002
