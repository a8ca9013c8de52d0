"""The engine's masks equal those of transformers' Sam2VideoModel driven directly.

transformers has no hole filling (Meta's ``fill_hole_area``), so the engine runs here with it
off (``fill_hole_area=0``): what is compared is everything else, bit for bit. With it on, the
engine equals Meta's own predictor instead (test_meta_reference.py).

The reference side builds its session with ``processor.init_video_session(video=uint8
frames)`` and uses no engine code. 22 frames on the reduced shape fill the memory bank
(7 slots, 16 object pointers); a few frames in the real SAM 2.1-tiny shape check the
full-size path.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import assert_differs, assert_meaningful, engine_masks, moving_blob_stack, reference_masks


def _assert_same(engine, reference):
    assert engine.keys() == reference.keys()
    for frame in reference:
        assert engine[frame].keys() == reference[frame].keys()
        for obj in reference[frame]:
            np.testing.assert_array_equal(engine[frame][obj], reference[frame][obj], err_msg=f"frame {frame} obj {obj}")


@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_equivalent_over_22_frames_on_the_reduced_shape(reduced_model, direction):
    stack = moving_blob_stack(22, speed=2.0)
    clicks = [(1, 11, 40, 35 + 22, True), (1, 11, 80, 10, False)]
    engine = engine_masks(reduced_model, stack, clicks, direction, fill_hole_area=0)
    reference = reference_masks(reduced_model, stack, clicks, direction)
    _assert_same(engine, reference)
    far = 21 if direction != "backward" else 0
    assert_meaningful(engine[far][1])
    other = engine_masks(reduced_model, stack, [(1, 11, 80, 130, True)], direction)
    assert_differs(engine[far][1], other[far][1])


def test_equivalent_with_two_objects(reduced_model):
    stack = moving_blob_stack(12, speed=2.0)
    clicks = [(1, 0, 40, 35, True), (2, 0, 80, 125, True), (2, 4, 70, 120, True)]
    engine = engine_masks(reduced_model, stack, clicks, "both", fill_hole_area=0)
    reference = reference_masks(reduced_model, stack, clicks, "both")
    _assert_same(engine, reference)
    assert_meaningful(engine[11][2])
    assert_differs(engine[11][1], engine[11][2])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from napari_sam2.core.models import load_model, save_random_model

    torch.set_num_threads(2)
    directory = save_random_model("sam2.1-tiny", tmp_path_factory.mktemp("tiny"))
    return load_model(str(directory), device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_equivalent_in_the_real_sam21_tiny_shape(tiny_model, direction):
    assert tiny_model.image_size == 1024
    stack = moving_blob_stack(3, shape=(96, 150))
    clicks = [(1, 1, 40, 42, True)]
    engine = engine_masks(tiny_model, stack, clicks, direction, fill_hole_area=0)
    reference = reference_masks(tiny_model, stack, clicks, direction)
    _assert_same(engine, reference)
    assert_meaningful(engine[1][1])


@pytest.mark.slow
def test_edgetam_real_shape_runs_through_the_engine_like_the_reference(tmp_path):
    import torch
    import transformers
    from packaging.version import Version

    from napari_sam2.core.errors import ModelUnavailableError
    from napari_sam2.core.models import EDGETAM_MIN_TRANSFORMERS, load_model, save_random_model

    torch.set_num_threads(2)
    if Version(transformers.__version__) < Version(EDGETAM_MIN_TRANSFORMERS):  # CI's oldest-release pass
        with pytest.raises(ModelUnavailableError, match=f"EdgeTAM needs transformers {EDGETAM_MIN_TRANSFORMERS}"):
            save_random_model("edgetam", tmp_path / "edgetam")
        return
    directory = save_random_model("edgetam", tmp_path / "edgetam")
    loaded = load_model(str(directory), device="cpu")
    assert type(loaded.model).__name__ == "EdgeTamVideoModel"
    assert type(loaded.model.vision_encoder.backbone).__name__ == "TimmWrapperModel"  # RepViT, not Hiera
    stack = moving_blob_stack(3, shape=(96, 150))
    clicks = [(1, 0, 40, 42, True)]
    engine = engine_masks(loaded, stack, clicks, "forward", fill_hole_area=0)
    reference = reference_masks(loaded, stack, clicks, "forward")
    _assert_same(engine, reference)
    other = engine_masks(loaded, stack, [(1, 0, 80, 130, True)], "forward")
    for frame in (0, 2):
        assert_meaningful(engine[frame][1])
        assert_differs(engine[frame][1], other[frame][1])
