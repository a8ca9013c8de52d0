"""What the engine takes from transformers' SAM 2 video code, and where it behaves otherwise.

* **The contract.** The private parts of transformers the engine relies on are listed in
  :data:`PRIVATE_CONTRACT`, :data:`PRIVATE_METHODS`, :data:`PRIVATE_CALLS` and
  :data:`PRIVATE_MODULES`;
  :func:`check_transformers_contract` refuses, in one line, a release that changed them, and
  a test checks every tested release.
* **Where the engine differs on purpose** (:class:`Fixes`): corrections kept as
  conditioning frames, clicks that refine the mask shown, prompted frames counted as
  tracked, memory encoded from the stored mask, holes filled as Meta's predictor does, one
  shared copy of the memory position encoding. Each is on; tests switch one off to show it
  is needed. :func:`as_meta` wraps transformers' per-frame inference for one call.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .errors import Sam2SetupError
from .holes import fill_small_holes
from .shadow import shadowing

#: The transformers releases tested (CI runs both ends); pyproject.toml holds the same range.
TESTED_TRANSFORMERS = "transformers>=5.4,<5.25"

#: Attributes of transformers' inference session that the engine reads or writes.
PRIVATE_CONTRACT = (
    "processed_frames",
    "cache",
    "output_dict_per_obj",
    "frames_tracked_per_obj",
    "point_inputs_per_obj",
    "mask_inputs_per_obj",
    "obj_with_new_inputs",
)

#: Model methods shadowed for one call (:func:`~napari_sam2.core.shadow.shadowing`), with
#: the keyword arguments the wrappers read or pass.
PRIVATE_METHODS = {
    "_prepare_memory_conditioned_features": ("frame_idx", "is_initial_conditioning_frame"),  # core.conditioned
    "_run_single_frame_inference": (  # _as_meta
        "inference_session",
        "frame_idx",
        "point_inputs",
        "mask_inputs",
        "prev_sam_mask_logits",
    ),
}

#: Model methods :mod:`~napari_sam2.core.together` calls, with the keywords it passes; the
#: memory attention module it stands aside must be called with keywords only.
PRIVATE_CALLS = {
    "_prepare_vision_features": ("inference_session", "frame_idx", "batch_size"),
    "_prepare_memory_conditioned_features": (
        "inference_session",
        "frame_idx",
        "obj_idx",
        "is_initial_conditioning_frame",
        "current_vision_features",
        "current_vision_positional_embeddings",
        "num_total_frames",
        "track_in_reverse_time",
        "streaming",
    ),
    "_single_frame_forward": ("pixel_values", "image_embeddings", "multimask_output"),
    "_use_multimask": ("is_init_cond_frame", "point_inputs"),
    "_encode_new_memory": ("current_vision_feats", "pred_masks_high_res", "object_score_logits", "is_mask_from_pts"),
}

#: transformers modules imported by path (:func:`_session_class`), not from its top level.
PRIVATE_MODULES = {
    "Sam2VideoInferenceSession": "transformers.models.sam2_video.modeling_sam2_video",
    "EdgeTamVideoInferenceSession": "transformers.models.edgetam_video.modeling_edgetam_video",
    "Sam3TrackerVideoInferenceSession": "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video",
}


@dataclass(frozen=True)
class Fixes:
    """How the engine differs from a plain transformers session (all on by default).

    * ``corrections_kept``: prompts on a tracked frame become a conditioning frame, so the
      next propagation keeps them (transformers and upstream SAM 2 overwrite them).
    * ``previous_mask``: a click on a frame that has a mask refines that mask, as in
      Meta's predictor.
    * ``prompted_frames_tracked``: propagation marks prompted frames as tracked, as Meta's
      does, so a later click there is a correction with memory.
    * ``memory_from_stored_mask``: a prompted frame's memory is encoded from its stored
      low-resolution mask, as Meta does when propagation starts.
    * ``shared_position_encoding``: every tracked frame shares one copy of the memory
      position encoding, which is the same tensor for all (memory, not masks).
    """

    corrections_kept: bool = True
    previous_mask: bool = True
    prompted_frames_tracked: bool = True
    memory_from_stored_mask: bool = True
    shared_position_encoding: bool = True


@contextmanager
def as_meta(
    model, *, fill_hole_area: int, memory_from_stored_mask: bool, frame: int | None = None, previous_logits=None
):
    """Within this call, run each frame's inference as Meta's video predictor does.

    transformers' ``_run_single_frame_inference`` is wrapped, for this call only, to:

    * feed ``previous_logits`` to the mask decoder with the clicks on ``frame`` (see
      :meth:`TrackingSession._previous_logits`); its ``forward`` never passes them;
    * fill holes of up to ``fill_hole_area`` pixels in the low-resolution logits before
      they are stored and shown (:mod:`~napari_sam2.core.holes`);
    * encode a prompted frame's memory from that stored low-resolution mask, upsampled, as
      Meta does when propagation starts (transformers encodes the decoder's own upsampled
      mask, or a mask prompt at full resolution). Tracked frames keep the decoder's mask
      for memory, as in Meta's ``track_step``.
    """
    import torch.nn.functional as F

    def wrap(original):
        def run(**kwargs):
            prompted = kwargs.get("point_inputs") is not None or kwargs.get("mask_inputs") is not None
            refined = kwargs.get("frame_idx") == frame and kwargs.get("point_inputs") is not None
            if previous_logits is not None and refined:
                kwargs["prev_sam_mask_logits"] = previous_logits.to(kwargs["inference_session"].inference_device)
            out = original(**kwargs)
            out["pred_masks"] = fill_small_holes(out["pred_masks"], fill_hole_area)
            high_res = out.get("high_res_masks")
            if memory_from_stored_mask and prompted and high_res is not None:
                size = high_res.shape[-2:]
                upsampled = F.interpolate(out["pred_masks"].float(), size=size, mode="bilinear", align_corners=False)
                out["high_res_masks"] = upsampled.reshape(high_res.shape).to(high_res.dtype)
            return out

        return run

    with shadowing(model, "_run_single_frame_inference", wrap):
        yield


def session_class(model):
    """transformers' inference-state class matching the model (SAM 2, EdgeTAM or SAM 3)."""
    import importlib

    kind = type(model).__name__
    name = "Sam2VideoInferenceSession"
    if kind.startswith("EdgeTam"):
        name = "EdgeTamVideoInferenceSession"
    elif kind.startswith("Sam3"):
        name = "Sam3TrackerVideoInferenceSession"
    return check_transformers_contract(getattr(importlib.import_module(PRIVATE_MODULES[name]), name))


@functools.cache
def check_transformers_contract(session_class):
    """``session_class`` if it has every private part the engine uses; else one clear error.

    pip keeps transformers inside the tested range; this catches an installation forced
    outside it before anything is tracked, instead of an AttributeError mid-run.
    """
    import transformers

    try:
        state = session_class(video=None, video_height=10, video_width=10)
        missing = [name for name in PRIVATE_CONTRACT if not hasattr(state, name)]
        missing += [
            f"cache.{name}"
            for name in ("get_vision_features", "cache_vision_features")
            if not hasattr(getattr(state, "cache", None), name)
        ]
    except Exception as exc:  # a changed constructor is a changed contract
        missing = [f"its constructor ({type(exc).__name__})"]
    if missing:
        raise Sam2SetupError(
            f"transformers {transformers.__version__} changed parts of its SAM 2 video session that napari-sam2 "
            f"uses ({', '.join(missing)}); install a tested release: pip install '{TESTED_TRANSFORMERS}'."
        )
    return session_class


def previous_logits(state, frame: int):
    """The frame's last low-resolution mask logits for this object, clamped as Meta does.

    SAM's interactive refinement: clicks on a frame that already has a mask (a tracked
    frame, or one prompted before) go to the mask decoder together with that mask, so a
    negative click trims the mask the user sees instead of starting again from the clicks
    alone. Meta's predictor does this; transformers' ``forward`` never passes them.
    """
    import torch

    outputs = state.output_dict_per_obj[0]
    for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
        stored = outputs[kind].get(frame)
        if stored is not None and stored.get("pred_masks") is not None:
            return torch.clamp(stored["pred_masks"], -32.0, 32.0)
    return None


def mask_logits(model, mask: np.ndarray):
    """A binary mask (ROI coordinates) as the low-resolution logits SAM 2 keeps for a mask
    prompt: resized to the model's input and binarised as transformers' processor does, then
    +10 inside and -10 outside, downsampled as ``_use_mask_as_output`` does (Meta's too)."""
    import torch
    import torch.nn.functional as F

    size = model.image_size
    resized = F.interpolate(
        torch.as_tensor(np.asarray(mask, np.float32))[None, None],
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    high = (resized >= 0.5).float() * 20.0 - 10.0
    return F.interpolate(
        high, size=model.prompt_encoder.mask_input_size, mode="bilinear", align_corners=False, antialias=True
    )


def make_conditioning(outputs: dict, frame: int) -> None:
    """Move a corrected frame's output to the conditioning outputs, so propagation keeps it.

    On a frame that is already conditioning (a second correction), transformers writes
    the fresh memory encoding into the old conditioning entry, not the new output: carry
    it over before the new output replaces the old one.
    """
    fresh = outputs["non_cond_frame_outputs"].pop(frame)
    stale = outputs["cond_frame_outputs"].get(frame)
    if stale is not None and "maskmem_features" not in fresh:
        fresh["maskmem_features"] = stale["maskmem_features"]
        fresh["maskmem_pos_enc"] = stale["maskmem_pos_enc"]
    outputs["cond_frame_outputs"][frame] = fresh


def add_inputs(processor, state, obj_id: int, frame: int, prompts, source) -> None:
    """Hand one object's prompts on ``frame`` (a :class:`~.prompts.FramePrompts`) to
    transformers' inference state: points as ``(x, y)`` inside the region, a box as its two
    corners, or a mask."""
    from .prompts import box_corners

    if prompts.mask is not None:
        processor.add_inputs_to_inference_session(state, frame_idx=frame, obj_ids=obj_id, input_masks=prompts.mask)
        return
    kwargs = {}
    if prompts.points:
        where = f"A point on frame {frame}"
        kwargs["input_points"] = [[[source.to_roi_xy(p.y, p.x, where) for p in prompts.points]]]
        kwargs["input_labels"] = [[[int(p.positive) for p in prompts.points]]]
    if prompts.box is not None:
        (ax, ay), (bx, by) = (source.to_roi_xy(y, x, f"The box on frame {frame}") for y, x in box_corners(*prompts.box))
        kwargs["input_boxes"] = [[[min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]]]
    processor.add_inputs_to_inference_session(state, frame_idx=frame, obj_ids=obj_id, **kwargs)


def inference_state(loaded, frame_shape: tuple[int, int], frames, cache):
    """A transformers inference state for one object: frames read on access from ``frames``
    (no video held), image features from the session's shared ``cache``."""
    import torch

    h, w = frame_shape
    device = loaded.device
    state = session_class(loaded.model)(
        video=None,
        video_height=h,
        video_width=w,
        inference_device=device,
        inference_state_device=device,
        video_storage_device=device,
        dtype=torch.float32,
    )
    state.processed_frames = frames
    state.cache = cache
    return state


def masks_and_scores(loaded, frame_shape: tuple[int, int], outs: list):
    """Binary masks ``(n, H, W)`` at the frame's size, and object-score logits ``(n,)``, from
    transformers' per-object outputs (low-resolution logits upsampled, thresholded at 0)."""
    import numpy as np
    import torch

    h, w = frame_shape
    if not outs:
        return np.zeros((0, h, w), bool), np.zeros(0, np.float32)
    logits = torch.cat([o.pred_masks.float() for o in outs], dim=0)
    masks = loaded.processor.post_process_masks([logits.cpu()], original_sizes=[[h, w]], binarize=False)[0]
    scores = torch.cat([o.object_score_logits.float().reshape(-1) for o in outs]).cpu().numpy()
    return (masks[:, 0] > 0).numpy(), scores.astype(np.float32)
