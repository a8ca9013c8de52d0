"""Hole filling in low-resolution logits (Meta's fill_hole_area), on synthetic logits.

These decide from masks only, so synthetic logits prove the rule; where it applies in the
pipeline is proven against Meta's predictor in tests/core/integration/test_meta_reference.py.
"""

from __future__ import annotations

import numpy as np
import torch

from napari_sam2.core.holes import FILLED_LOGIT, fill_small_holes


def _logits(background: np.ndarray) -> torch.Tensor:
    """Foreground 5.0 everywhere except ``background`` (-5.0), shaped (1, 1, H, W)."""
    return torch.from_numpy(np.where(background, -5.0, 5.0).astype(np.float32))[None, None]


def test_holes_up_to_the_area_are_filled_and_larger_ones_kept():
    background = np.zeros((32, 32), bool)
    background[2:4, 2:6] = True  # 8 pixels: filled
    background[10:13, 10:13] = True  # 9 pixels: kept
    out = fill_small_holes(_logits(background), 8)[0, 0].numpy()
    assert (out[2:4, 2:6] == np.float32(FILLED_LOGIT)).all()
    assert (out[10:13, 10:13] == -5.0).all()
    assert (out[~background] == 5.0).all()


def test_diagonal_neighbours_are_one_region_as_with_8_connectivity():
    background = np.zeros((32, 32), bool)
    background[5:7, 5:7] = True  # 4 pixels
    background[7:9, 7:9] = True  # 4 more, touching only at a corner: one region of 8
    background[20:22, 20:22] = True
    background[22:25, 22:24] = True  # 4 + 6 diagonal: one region of 10, kept
    out = fill_small_holes(_logits(background), 8)[0, 0].numpy()
    assert (out[5:9, 5:9][background[5:9, 5:9]] == np.float32(FILLED_LOGIT)).all()
    assert (out[20:25, 20:24][background[20:25, 20:24]] == -5.0).all()


def test_small_background_at_the_border_counts_too_and_specks_stay():
    # Meta fills every small background region, at the border as well, and removes no
    # small foreground specks in its video predictor.
    background = np.ones((16, 16), bool)
    background[0:8, 0:8] = False  # foreground block
    background[0, 15] = False  # a one-pixel foreground speck
    background[0:2, 8] = True  # part of the large background: kept
    logits = _logits(background)
    logits[0, 0, 0:2, 0:2] = -1.0  # a 4-pixel hole at the corner, inside the block
    out = fill_small_holes(logits, 8)[0, 0].numpy()
    assert (out[0:2, 0:2] == np.float32(FILLED_LOGIT)).all()
    assert out[0, 15] == 5.0 and (out[8:, :] == -5.0).all()


def test_nothing_to_fill_returns_the_same_tensor_and_zero_turns_it_off():
    logits = _logits(np.zeros((8, 8), bool))
    assert fill_small_holes(logits, 8) is logits
    holey = _logits(np.eye(8, dtype=bool))
    assert fill_small_holes(holey, 0) is holey


def test_each_object_is_filled_on_its_own():
    a, b = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    a[3, 3] = True
    b[8:12, 8:12] = True  # 16 pixels, kept
    logits = torch.cat([_logits(a), _logits(b)])
    out = fill_small_holes(logits, 8)
    assert out[0, 0, 3, 3] == np.float32(FILLED_LOGIT) and (out[1, 0, 8:12, 8:12] == -5.0).all()
