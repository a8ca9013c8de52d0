"""Seeders: label images become seeds with their ids; the threshold seeder on real nuclei."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.seeders import f1_at_iou, seeds_from_labels, threshold_seeds

STARDIST = Path(__file__).parents[2] / "data" / "stardist"


def test_label_seeds_keep_their_ids_and_bad_labels_are_one_line():
    labels = np.zeros((30, 40), np.uint16)
    labels[2:8, 3:9], labels[20:25, 30:36] = 4, 11
    seeds = seeds_from_labels(labels, frame_shape=(30, 40))
    assert sorted(seeds) == [4, 11] and seeds[4].sum() == 36 and seeds[11][22, 32]
    for bad, message in (
        (labels.astype(np.float32), "whole numbers"),
        (np.zeros((30, 40), np.uint16), "empty"),
        (labels[None], "one 2-D frame"),
    ):
        with pytest.raises(Sam2InputError, match=message):
            seeds_from_labels(bad, frame_shape=(30, 40))
    with pytest.raises(Sam2InputError, match="30x41 pixels, the frames 30x40"):
        seeds_from_labels(np.pad(labels, ((0, 0), (0, 1))), frame_shape=(30, 40))


def test_threshold_seeder_finds_stardists_nuclei_with_f1_above_the_measured_floor():
    """stardist's img2d against its mask2d (125 nuclei). Measured: F1 0.729 at IoU 0.5 with
    the defaults (111 seeds); the defaults were tuned on this image, so the floor guards the
    code, not a general accuracy."""
    if not (STARDIST / "mask2d.tif").exists():
        pytest.fail("tests/data/stardist is missing: run scripts/setup.sh, which fetches it")
    image, truth = tifffile.imread(STARDIST / "img2d.tif"), tifffile.imread(STARDIST / "mask2d.tif")
    seeds = threshold_seeds(image)
    assert 100 <= len(seeds) <= 140
    assert f1_at_iou(seeds, truth) >= 0.70
    assert f1_at_iou(seeds, truth, threshold=0.9) < f1_at_iou(seeds, truth)  # the metric is not trivial
    with pytest.raises(Sam2InputError, match="uniform"):
        threshold_seeds(np.full((50, 50), 7, np.uint16))
