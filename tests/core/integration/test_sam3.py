"""The SAM 3 tracker (formats issue, point 3) through the engine, with random weights.

``random:sam3-reduced`` has the SAM 3 tracker's parts (a ViT backbone with its FPN neck,
SAM 3's normalisation, its memory) at a size tests can run; ``sam3`` is the real shape. The
engine's masks equal those of transformers' ``Sam3TrackerVideoModel`` driven directly (hole
filling off, as for SAM 2: test_equivalence.py), the masks are not trivial and follow the
prompt. The gated download says what to do in one line.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.integration.test_equivalence import _assert_same
from tests.helpers import (
    assert_differs,
    assert_meaningful,
    encoding_equal_pixels_once,
    engine_masks,
    moving_blob_stack,
    reference_masks,
)


@pytest.fixture(scope="module")
def sam3_model(tmp_path_factory):
    from napari_sam2.core.models import load_model, save_random_model

    directory = save_random_model("sam3-reduced", tmp_path_factory.mktemp("sam3"))
    return load_model(str(directory), device="cpu")  # saved and loaded as a user's model is


def test_a_sam3_directory_loads_as_the_sam3_tracker_with_its_own_processor(sam3_model):
    assert type(sam3_model.model).__name__ == "Sam3TrackerVideoModel"
    assert type(sam3_model.processor).__name__ == "Sam3TrackerVideoProcessor"
    assert list(sam3_model.processor.video_processor.image_mean) == [0.5, 0.5, 0.5]  # SAM 3's, not ImageNet's
    assert sam3_model.image_size == 252


@pytest.mark.parametrize("direction", ["forward", "both"])
def test_sam3_through_the_engine_equals_transformers_driven_directly(sam3_model, direction):
    stack = moving_blob_stack(10, speed=2.0)
    clicks = [(1, 4, 40, 35 + 8, True), (1, 4, 80, 10, False), (2, 4, 80, 125, True)]
    engine = engine_masks(sam3_model, stack, clicks, direction, fill_hole_area=0)
    reference = reference_masks(sam3_model, stack, clicks, direction)
    _assert_same(engine, reference)
    assert_meaningful(engine[9][1])
    other = engine_masks(sam3_model, stack, [(1, 4, 80, 130, True)], direction)
    assert_differs(engine[9][1], other[9][1])  # the masks follow the prompt


def test_sam3_corrections_stick_like_sam2s(sam3_model):
    """A click on a tracked frame becomes a conditioning frame, kept by the next run (the
    engine's ``corrections_kept``, as for SAM 2). SAM 3 attends to at most 4 conditioning
    frames (``max_cond_frame_num``), the nearest ones; SAM 2 to all."""
    from napari_sam2.core.frames import FrameSource
    from napari_sam2.core.session import TrackingSession

    assert sam3_model.model.config.max_cond_frame_num == 4
    stack = moving_blob_stack(8, speed=2.0)
    session = TrackingSession(sam3_model, FrameSource(stack))
    session.add_points(1, 0, [(40, 35)])
    list(session.propagate("forward"))
    corrected = session.add_points(1, 5, [(40, 45), (80, 120)]).masks[0]
    again = {r.frame: r.masks[0] for r in session.propagate("forward", start=5)}
    np.testing.assert_array_equal(again[5], corrected)  # the correction is kept, not overwritten
    assert_meaningful(again[7])


def test_the_gated_download_says_what_to_do_in_one_line(monkeypatch, capsys):
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError

    from napari_sam2.cli import main

    def gated(repo_id, *, local_files_only=False, **kwargs):
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        response = SimpleNamespace(headers={}, request=None, status_code=403)  # what the hub answers, in short
        raise GatedRepoError("403 Client Error: access to model facebook/sam3 is restricted", response=response)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    assert main(["download", "sam3"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "is gated: accept its licence at https://huggingface.co/facebook/sam3" in err
    assert "hf auth login" in err and "--model DIR" in err


@pytest.mark.slow
def test_sam3_real_shape_runs_through_the_engine_like_the_reference(tmp_path):
    """The real SAM 3 tracker shape (1008-pixel input, a 1024-wide 32-layer ViT) with random
    weights: one click, then one tracked frame, equal to transformers driven directly (about
    a minute on 2 cores: each frame is a 1008-pixel ViT-L pass, done once for both sides,
    since the engine hands the encoder the very pixels the reference does)."""
    import torch

    from napari_sam2.core.models import load_model

    torch.set_num_threads(2)
    loaded = load_model("random:sam3", device="cpu")
    assert loaded.image_size == 1008 and type(loaded.model).__name__ == "Sam3TrackerVideoModel"
    stack = moving_blob_stack(2, shape=(96, 150))
    clicks = [(1, 0, 40, 42, True)]
    with encoding_equal_pixels_once(loaded) as reused:
        engine = engine_masks(loaded, stack, clicks, "forward", fill_hole_area=0)
        reference = reference_masks(loaded, stack, clicks, "forward")
    _assert_same(engine, reference)
    assert reused == [0, 1], "the reference's frames were not the engine's pixels, bit for bit"
    assert_meaningful(engine[1][1])
