"""Merging per-object masks into label images."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.labels import label_dtype, merge_masks_into_labels


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def test_overlap_goes_to_the_higher_score():
    a, b = _disc((40, 40), 20, 15, 10), _disc((40, 40), 20, 25, 10)
    labels = np.zeros((40, 40), np.uint16)
    merge_masks_into_labels(labels, object_ids=[3, 7], masks=np.stack([a, b]), scores=[1.0, 5.0])
    assert (labels[a & b] == 7).all()
    assert (labels[a & ~b] == 3).all() and (labels[~a & ~b] == 0).all()
    merge_masks_into_labels(labels, object_ids=[3, 7], masks=np.stack([a, b]), scores=[9.0, 5.0])
    assert (labels[a & b] == 3).all()


def test_pixels_of_other_objects_are_never_overwritten():
    labels = np.zeros((30, 30), np.uint16)
    labels[10:20, 10:20] = 42  # painted by hand, not tracked
    mask = np.zeros((1, 30, 30), bool)
    mask[0, 5:25, 5:25] = True
    merge_masks_into_labels(labels, object_ids=[1], masks=mask, scores=[3.0])
    assert (labels[10:20, 10:20] == 42).all()
    assert (labels[5:25, 5:25][labels[5:25, 5:25] != 42] == 1).all()


def test_a_shrinking_mask_leaves_no_stale_pixels():
    labels = np.zeros((30, 30), np.uint16)
    big, small = np.zeros((1, 30, 30), bool), np.zeros((1, 30, 30), bool)
    big[0, 5:25, 5:25], small[0, 12:18, 12:18] = True, True
    merge_masks_into_labels(labels, object_ids=[2], masks=big, scores=[1.0])
    merge_masks_into_labels(labels, object_ids=[2], masks=small, scores=[1.0])
    assert (labels == 2).sum() == 36


def test_roi_offset_writes_at_full_frame_coordinates():
    labels = np.zeros((50, 60), np.uint16)
    mask = np.ones((1, 10, 20), bool)
    rows, cols = merge_masks_into_labels(labels, object_ids=[5], masks=mask, scores=[1.0], offset=(30, 40))
    assert (labels[30:40, 40:60] == 5).all() and labels.sum() == 5 * 200
    assert (rows, cols) == (slice(30, 40), slice(40, 60))


def test_dtype_grows_to_uint32_past_65535():
    assert label_dtype(65535) == np.uint16
    assert label_dtype(65536) == np.uint32
    labels = np.zeros((4, 4), label_dtype(70000))
    merge_masks_into_labels(labels, object_ids=[70000], masks=np.ones((1, 4, 4), bool), scores=[1.0])
    assert (labels == 70000).all()
    with pytest.raises(Sam2InputError):
        merge_masks_into_labels(
            np.zeros((4, 4), np.uint16), object_ids=[70000], masks=np.ones((1, 4, 4), bool), scores=[0]
        )


def test_target_can_be_a_disk_backed_array(tmp_path):
    labels = np.lib.format.open_memmap(tmp_path / "l.npy", mode="w+", dtype=np.uint16, shape=(3, 20, 20))
    merge_masks_into_labels(labels[1], object_ids=[4], masks=np.ones((1, 5, 5), bool), scores=[1.0], offset=(2, 3))
    labels.flush()
    assert (np.load(tmp_path / "l.npy")[1, 2:7, 3:8] == 4).all()
