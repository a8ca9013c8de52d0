"""FrameSource and PreprocessedFrames: what the model sees, read lazily."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.frames import FrameSource, PreprocessedFrames
from tests.helpers import CountingArray, moving_blob_stack


@pytest.fixture(scope="module")
def video_processor():
    from napari_sam2.core.models import make_processor

    return make_processor(1024).video_processor


def test_uint8_preprocessing_equals_transformers_processor_exactly(video_processor):
    # Not square and not 1024²: the antialiased resize must be the processor's own.
    stack = np.random.default_rng(0).integers(0, 256, (3, 300, 517), dtype=np.uint8)
    frames = PreprocessedFrames(FrameSource(stack), video_processor)
    reference = video_processor(videos=np.repeat(stack[..., None], 3, -1), return_tensors="pt")
    for i in range(3):
        assert float((frames[i] - reference.pixel_values_videos[0][i]).abs().max()) == 0.0


def test_uint8_rgb_passes_through_unchanged():
    rgb = np.random.default_rng(1).integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    source = FrameSource(rgb)
    assert source.channel_axis == 3
    np.testing.assert_array_equal(source.model_frame(1), rgb[1])


def test_grayscale_becomes_three_identical_channels():
    frame = FrameSource(moving_blob_stack(2)).model_frame(0)
    assert frame.shape[-1] == 3 and frame.dtype == np.uint8
    assert (frame[..., 0] == frame[..., 2]).all()


def test_uint16_is_mapped_by_one_pair_of_limits_for_the_whole_stack():
    stack = np.stack([np.full((16, 16), v, np.uint16) for v in (1000, 2000, 3000)])
    stack[:, 0, 0] = 0
    source = FrameSource(stack, contrast_limits=(1000, 3000))
    values = [float(source.model_frame(i)[5, 5, 0]) for i in range(3)]
    assert values == [0.0, 0.5, 1.0]  # no per-frame normalisation: brightness does not flicker
    assert source.model_frame(0).dtype == np.float32


def test_uint16_stays_in_unit_range_after_the_processor(video_processor):
    # Fed raw, uint16 goes through transformers' processor silently wrong (values ~1000).
    stack = moving_blob_stack(2, dtype=np.uint16)
    tensor = PreprocessedFrames(FrameSource(stack), video_processor)[0]
    mean = np.array([0.485, 0.456, 0.406])[:, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None]
    unit = tensor.numpy() * std + mean
    assert unit.min() > -0.02 and unit.max() < 1.02


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_default_limits_are_robust_percentiles(dtype):
    stack = moving_blob_stack(6, dtype=np.uint8).astype(dtype) * 3 - 50
    source = FrameSource(stack)
    lo, hi = source.contrast_limits
    assert stack.min() <= lo < hi <= stack.max()
    frame = source.model_frame(2)
    assert frame.min() >= 0.0 and frame.max() <= 1.0 and frame.std() > 0.1


def test_default_limits_read_a_strided_sample_not_the_whole_stack():
    data = CountingArray(moving_blob_stack(200, shape=(20, 30), dtype=np.uint16))
    FrameSource(data)
    assert 0 < data.reads <= 16


def test_nan_and_inf_are_handled():
    stack = moving_blob_stack(3, dtype=np.float32)
    stack[0, :5] = np.nan
    stack[1, :5] = np.inf
    stack[2, :5] = -np.inf
    source = FrameSource(stack)
    for i in range(3):
        frame = source.model_frame(i)
        assert np.isfinite(frame).all()
    assert source.model_frame(0)[0, 0, 0] == 0 and source.model_frame(1)[0, 0, 0] == 1


@pytest.mark.parametrize(
    "stack, message",
    [
        (np.full((4, 10, 10), 7, np.uint16), "constant"),
        (np.full((4, 10, 10), 9, np.uint8), "constant"),
        (np.full((4, 10, 10), np.nan, np.float32), "no finite values"),
        (np.zeros((0, 10, 10), np.uint8), "empty"),
    ],
)
def test_constant_nan_and_empty_stacks_are_clear_errors(stack, message):
    with pytest.raises(Sam2InputError, match=message):
        FrameSource(stack)


def test_multichannel_needs_an_explicit_choice():
    stack = np.random.default_rng(0).integers(0, 999, (4, 5, 20, 20)).astype(np.uint16)  # T C Y X
    with pytest.raises(Sam2InputError, match="choose one channel"):
        FrameSource(stack, channel_axis=1)
    source = FrameSource(stack, channel_axis=1, channels=[3])
    np.testing.assert_array_equal(source.read(2)[..., 0], stack[2, 3])
    rgb = FrameSource(stack, channel_axis=1, channels=[0, 2, 4])
    np.testing.assert_array_equal(rgb.read(1), np.moveaxis(stack[1, [0, 2, 4]], 0, -1))


def test_2d_image_is_a_one_frame_stack():
    image = moving_blob_stack(1)[0]
    source = FrameSource(image, frame_axis=None)
    assert len(source) == 1 and source.read(0).shape == image.shape


def test_nd_stack_holds_the_other_axes():
    tzyx = np.arange(3 * 4 * 10 * 12, dtype=np.uint16).reshape(3, 4, 10, 12)
    along_z = FrameSource(tzyx, frame_axis=1, held={0: 2})
    assert len(along_z) == 4
    np.testing.assert_array_equal(along_z.read(3), tzyx[2, 3])
    along_t = FrameSource(tzyx, frame_axis=0, held={1: 1})
    np.testing.assert_array_equal(along_t.read(2), tzyx[2, 1])
    with pytest.raises(Sam2InputError, match="outside axis"):
        FrameSource(tzyx, frame_axis=0, held={1: 9})


def test_roi_crops_every_frame():
    stack = moving_blob_stack(2)
    source = FrameSource(stack, roi=(10, 20, 60, 100))
    assert source.frame_shape == (50, 80)
    np.testing.assert_array_equal(source.read(1), stack[1, 10:60, 20:100])


def test_frames_are_read_only_when_asked_for(video_processor):
    data = CountingArray(moving_blob_stack(50, shape=(40, 60)))
    frames = PreprocessedFrames(FrameSource(data), video_processor)
    before = data.reads
    assert len(frames) == 50 and data.reads == before  # the length reads nothing
    frames[7]
    assert data.reads == before + 1


@pytest.mark.parametrize("backend", ["memmap", "dask", "zarr"])
def test_lazy_array_backends(tmp_path, backend):
    stack = moving_blob_stack(5, dtype=np.uint16)
    if backend == "memmap":
        np.save(tmp_path / "s.npy", stack)
        data = np.load(tmp_path / "s.npy", mmap_mode="r")
    elif backend == "dask":
        da = pytest.importorskip("dask.array")
        data = da.from_array(stack, chunks=(1, 45, 70))
    else:
        zarr = pytest.importorskip("zarr")
        data = zarr.open(str(tmp_path / "s.zarr"), mode="w", shape=stack.shape, chunks=(1, 90, 140), dtype=stack.dtype)
        data[:] = stack
    source = FrameSource(data)
    np.testing.assert_array_equal(source.read(3), stack[3])
    assert source.model_frame(3).shape == (90, 140, 3)
