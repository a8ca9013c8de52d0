"""Segment everything through the batched point decoder (speed issue, part 1): the same kept
masks as transformers' decoder module with a copy of the image per point, on random-weight
models whose thresholds are set so that some points pass and some do not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_sam2.core import everything
from napari_sam2.core.everything import EverythingOptions, kept_masks
from napari_sam2.core.frames import FrameSource
from napari_sam2.core.point_decoder import decode_points
from napari_sam2.core.sample import make_timelapse
from napari_sam2.core.session import TrackingSession
from tests.helpers import assert_meaningful


def _session(loaded):
    stack, _ = make_timelapse(1)
    session = TrackingSession(loaded, FrameSource(stack))
    session.encode(0)
    return session


def _reference(model, embeddings, points):
    low_res, iou = everything._decode_points(model, embeddings, points)  # the module, image copied per point
    return low_res.reshape(len(points), 3, *low_res.shape[-2:]), iou.reshape(len(points), 3)


def _grid_and_reference(loaded):
    """A 4 x 4 point grid on a frame: its embeddings, the points' sparse prompts, and the
    decoder module's masks and IoUs for them (a copy of the image per point)."""
    model = loaded.model
    session = _session(loaded)
    with torch.inference_mode():
        embeddings = everything._image_embeddings(session, 0)
        points = torch.as_tensor(everything.point_grid(4, model.config.image_size))
        sparse, _ = everything._point_prompts(model, points, "cpu")
        return embeddings, sparse[:, 0], *_reference(model, embeddings, points)


def test_the_batched_decoder_gives_the_decoder_modules_masks_and_upscales_only_what_can_pass(reduced_model):
    model = reduced_model.model
    embeddings, sparse, want_masks, want_iou = _grid_and_reference(reduced_model)
    cut = float(want_iou.amax(dim=1).median())  # half the points can pass, half cannot
    with torch.inference_mode():
        shared = everything.shared_image(model, embeddings)
        # two chunks on one shared image: the second writes the workspace the first used
        parts = sparse.split(9)
        chunks = [decode_points(model.mask_decoder, shared, part, embeddings[:-1], cut) for part in parts]
    iou = torch.cat([c[1] for c in chunks])
    upscaled = torch.cat([c[2] + 9 * i for i, c in enumerate(chunks)])
    masks = torch.cat([c[0] for c in chunks])
    torch.testing.assert_close(iou, want_iou, atol=1e-5, rtol=1e-5)
    assert upscaled.tolist() == torch.nonzero(want_iou.amax(dim=1) > cut).flatten().tolist()
    assert 0 < len(upscaled) < len(sparse)
    torch.testing.assert_close(masks, want_masks[upscaled], atol=1e-4, rtol=1e-4)
    assert_meaningful(masks[0, 0] > 0)
    assert shared._flat  # the maps went through the workspace (fp32, no autocast)
    with torch.inference_mode():  # no point can pass: nothing upscaled, the IoUs all the same
        none, same_iou, _ = decode_points(model.mask_decoder, shared, sparse[:4], embeddings[:-1], float("inf"))
    assert none.shape == (0, 3, *masks.shape[-2:])
    torch.testing.assert_close(same_iou, want_iou[:4], atol=1e-5, rtol=1e-5)


def _same_kept_masks(loaded, side: int):
    session = _session(loaded)
    with torch.inference_mode():
        embeddings = everything._image_embeddings(session, 0)
        points = torch.as_tensor(everything.point_grid(side, loaded.model.config.image_size))
        _, iou = _reference(loaded.model, embeddings, points)
    # thresholds that keep some masks and drop others (random weights predict no real IoU)
    options = EverythingOptions(
        points_per_side=side,
        pred_iou_thresh=float(iou.flatten().quantile(0.5)),
        stability_score_thresh=0.0,
        box_nms_thresh=1.0,  # random masks are alike: keep them all to compare them all
    )
    masks, scores = kept_masks(session, 0, options)
    want_masks, want_scores = kept_masks(session, 0, replace(options, decode_chunk=0))
    assert len(masks) >= 3 and len(masks) == len(want_masks)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    for got, want in zip(masks, want_masks):
        assert (got & want).sum() / (got | want).sum() >= 0.999
    assert_meaningful(masks[0])
    assert any((a != masks[0]).mean() > 0.01 for a in masks[1:])  # not one mask over and over


def test_batched_segment_everything_keeps_the_same_masks(reduced_model):
    _same_kept_masks(reduced_model, 8)


def test_batched_segment_everything_keeps_the_same_masks_with_the_sam3_tracker(tmp_path):
    """SAM 3's tracker has SAM 2's decoder (EdgeTAM too: checked by hand on its real shape,
    27 of 27 masks identical, session 9)."""
    from napari_sam2.core.models import load_model, save_random_model

    sam3 = load_model(str(save_random_model("sam3-reduced", tmp_path / "sam3")), device="cpu", autocast_dtype=None)
    _same_kept_masks(sam3, 6)


@pytest.mark.slow
def test_batched_segment_everything_keeps_the_same_masks_on_the_real_tiny_shape(tmp_path):
    from napari_sam2.core.models import load_model, save_random_model

    tiny = load_model(str(save_random_model("sam2.1-tiny", tmp_path / "tiny")), device="cpu", autocast_dtype=None)
    _same_kept_masks(tiny, 6)


def test_under_autocast_the_batched_decoder_allocates_its_maps_in_the_autocast_dtype(reduced_model):
    """precision=auto runs bf16 autocast on CPUs with native bf16: the workspace (fp32) is
    not used, each product allocates its bf16 output, and the IoUs stay near fp32's."""
    model = reduced_model.model
    embeddings, sparse, _, want_iou = _grid_and_reference(reduced_model)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        shared = everything.shared_image(model, embeddings)
        _, iou, _ = decode_points(model.mask_decoder, shared, sparse, embeddings[:-1], 0.0)
    assert not shared._flat
    torch.testing.assert_close(iou.float(), want_iou, atol=0.05, rtol=0)
    assert (iou.float() - want_iou).abs().max() > 0  # bf16 really ran
