"""Objects tracked together give what tracking them one at a time gives.

Random-weight models saved and loaded as users' models are (the reduced SAM 2.1 shape, SAM
3's tracker; the real tiny shape is marked slow). The scenario has what the batch must keep
apart: objects that start on different frames (their memories differ in shape for a while),
one that ends early, a correction on one object, an object added after a first run, and
passes in both directions. Every frame's masks and scores, and every tensor each object
keeps in its state, must be equal: bit for bit on the reduced shapes; on the real tiny
shape the masks are equal and the kept tensors agree to float rounding (see that test).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_sam2.core.frames import FrameSource
from napari_sam2.core.population import PopulationOptions, PopulationTracker
from napari_sam2.core.prompts import Point
from napari_sam2.core.session import TrackingSession
from tests.helpers import assert_differs, assert_meaningful, moving_blob_stack


def _scenario(model, stack, together: bool, **session_kwargs):
    n = len(stack)
    later, end, corrected, added = n // 4, n // 2 - 1, n // 2 + 1, n // 2
    session = TrackingSession(model, FrameSource(stack), together=together, **session_kwargs)
    results = []
    session.add_points(1, 0, [(40, 35)])
    session.add_points(2, 0, [(80, 130)])
    session.add_points(3, 0, [(20, 100)])
    session.add_points(4, later, [(60, 60)])  # starts later: a memory of another shape
    session.limit_object(3, last=end)  # ends early
    results += session.propagate("forward")
    results += [session.add_points(2, corrected, [Point(70, 120, False)])]  # a correction on one object
    results += session.propagate("forward", start=corrected)
    results += [session.add_points(5, added, [(30, 60)])]  # an object added after the first run
    results += session.propagate("both", start=added)  # the backward pass too
    return session, results


def _stored(session) -> dict:
    """Every tensor each object keeps: (object, kind, frame, key) -> tensor."""
    out = {}
    for obj_id in session.object_ids:
        for kind, frames in session._objects[obj_id].state.output_dict_per_obj[0].items():
            for frame in list(frames.keys()):
                for key, value in frames[frame].items():
                    if torch.is_tensor(value):
                        out[(obj_id, kind, frame, key)] = value
    return out


def _memory_attention_batches(model):
    sizes = []
    hook = model.model.memory_attention.register_forward_hook(
        lambda module, args, kwargs, out: sizes.append(kwargs["memory"].shape[1]), with_kwargs=True
    )
    return sizes, hook


def _assert_same_as_one_at_a_time(model, stack, *, bitwise=True, **session_kwargs):
    alone_session, alone = _scenario(model, stack, together=False, **session_kwargs)
    sizes, hook = _memory_attention_batches(model)
    try:
        together_session, together = _scenario(model, stack, together=True, **session_kwargs)
    finally:
        hook.remove()
    assert max(sizes) >= 3, sizes  # objects really went through memory attention together
    assert len(set(sizes)) > 1, sizes  # and memories of different shapes apart
    assert [(r.frame, r.object_ids) for r in alone] == [(r.frame, r.object_ids) for r in together]
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=0 if bitwise else 1e-4)
    kept_alone, kept_together = _stored(alone_session), _stored(together_session)
    assert kept_alone.keys() == kept_together.keys()
    for key, value in kept_alone.items():
        if bitwise:
            assert torch.equal(value, kept_together[key]), key
        else:
            torch.testing.assert_close(value.float(), kept_together[key].float(), rtol=0, atol=1e-3, msg=str(key))
    last = {r.frame: r for r in alone}[len(stack) - 1]
    for mask in last.masks:
        assert_meaningful(mask)
    assert_differs(last.masks[0], last.masks[1])


def test_objects_tracked_together_equal_one_at_a_time_bit_for_bit(reduced_model):
    # state_window=2: older frames are spilled to disk and read back (core.spill) in both runs
    _assert_same_as_one_at_a_time(reduced_model, moving_blob_stack(8, shape=(110, 160)), state_window=2)


def test_objects_tracked_together_equal_one_at_a_time_with_the_sam3_tracker(tmp_path):
    from napari_sam2.core.models import load_model, save_random_model

    sam3 = load_model(str(save_random_model("sam3-reduced", tmp_path / "sam3")), device="cpu", autocast_dtype=None)
    _assert_same_as_one_at_a_time(sam3, moving_blob_stack(8, shape=(110, 160)))


def test_a_population_run_is_the_same_with_objects_together(reduced_model):
    """Seeds, new cells found by re-detection, ends and divisions: the same labels and lineage."""
    from napari_sam2.core.labels import merge_result
    from napari_sam2.core.sample import make_timelapse
    from napari_sam2.core.seeders import seeds_as_labels, threshold_seeds

    stack, _ = make_timelapse(6)
    seeds = threshold_seeds(stack[0])
    assert len(seeds) >= 3

    def run(together):
        session = TrackingSession(reduced_model, FrameSource(stack), together=together)
        tracker = PopulationTracker(
            session,
            options=PopulationOptions(redetect_every=2),
            detect=lambda f: seeds_as_labels(threshold_seeds(stack[f]), stack.shape[1:]),
        )
        labels = np.zeros(stack.shape, np.uint16)
        merge_result(labels[0], tracker.seed(0, seeds))
        for result in tracker.track(start=0):
            merge_result(labels[result.frame], result)
        return labels, tracker.lineage.as_dict()

    alone, together = run(False), run(True)
    np.testing.assert_array_equal(alone[0], together[0])
    assert alone[1] == together[1]
    assert_meaningful(alone[0][5] > 0)


def test_objects_go_together_by_default_on_a_gpu_only(reduced_model):
    """On a CPU one at a time was faster (docs/benchmarks.md, session 10), so it stays the default."""
    from dataclasses import replace

    from napari_sam2.core.together import objects_together_by_default

    assert TrackingSession(reduced_model, FrameSource(moving_blob_stack(2))).together is False
    assert objects_together_by_default(replace(reduced_model, device="cuda:0"))
    assert not objects_together_by_default(replace(reduced_model, device="cpu"))


@pytest.mark.slow
def test_objects_tracked_together_equal_one_at_a_time_on_the_real_tiny_shape(tmp_path):
    from napari_sam2.core.models import load_model, save_random_model

    tiny = load_model(str(save_random_model("sam2.1-tiny", tmp_path / "tiny")), device="cpu", autocast_dtype=None)
    # The same masks; the kept tensors agree to float rounding, not bit for bit: at this
    # size the feed-forward products of 3 objects at once (12288 rows) are blocked
    # differently from one object's (4096 rows), which rounds about 1e-6 apart.
    _assert_same_as_one_at_a_time(tiny, moving_blob_stack(4, shape=(110, 160)), bitwise=False)
