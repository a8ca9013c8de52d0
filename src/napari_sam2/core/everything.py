"""Segment everything on one frame: SAM 2's own seeder for a population run.

A grid of points (``points_per_side`` squared) is prompted on the frame's cached image
features, in batches, through the prompt encoder and mask decoder: the image encoder runs
once for the frame (not at all when the frame is cached). Each of a point's three masks is
kept when its predicted IoU and its stability score are high enough and its area is neither
tiny nor most of the frame; overlapping masks are resolved by non-maximum suppression on
their boxes, then by painting the best masks first. The filtering and the suppression are
transformers' own mask-generation steps (``Sam2ImageProcessor.filter_masks`` and
``post_process_for_mask_generation``, the whole frame as the one crop); only masks whose
predicted IoU passes are upsampled for them, which keeps a 32 x 32 grid affordable.

The defaults follow Meta's ``SAM2AutomaticMaskGenerator`` where it has one
(``points_per_side=32``, ``pred_iou_thresh=0.8``, ``stability_score_thresh=0.95``,
``stability_score_offset=1``, ``box_nms_thresh=0.7``); ``min_area`` and
``max_area_fraction`` are ours, for cells. They were not tuned on real weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .seeders import Seeds


@dataclass(frozen=True)
class EverythingOptions:
    points_per_side: int = 32
    points_per_batch: int = 64  # points filtered together (Meta's default)
    #: Points decoded together on the shared image (core.point_decoder). None: 16 in fp32,
    #: their 4 MB maps in a workspace kept for the frame (160 MB; fastest of 4 to 32); 4
    #: under autocast, where each product allocates its map and a 64 MB map is fresh pages
    #: every time (4 beat 16 there; docs/benchmarks.md, session 13). 0: transformers' own
    #: decoder module, a copy of the image per point (the reference).
    decode_chunk: int | None = None
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    min_area: int = 20
    max_area_fraction: float = 0.3


def decode_chunk(options: EverythingOptions, autocast: bool) -> int:
    """``options.decode_chunk``, or where it is None the fastest measured for the precision."""
    if options.decode_chunk is not None:
        return options.decode_chunk
    return 4 if autocast else 16


def point_grid(n: int, size: int) -> np.ndarray:
    """``n x n`` points ``(x, y)`` at the centres of a grid over a ``size``-pixel square."""
    centres = (np.arange(n) + 0.5) / n * size
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def segment_everything(session, frame: int, options: EverythingOptions | None = None) -> Seeds:
    """Masks of everything SAM 2 finds on ``frame`` (full-frame masks, ids from 1)."""
    options = options or EverythingOptions()
    masks, scores = kept_masks(session, frame, options)
    if not len(masks):
        return {}
    return _paint_best_first(masks, scores, session.source, options.min_area)


def kept_masks(session, frame: int, options: EverythingOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The masks that pass the filters and the suppression (ROI coordinates), with their
    scores, before overlaps are painted away: ``(n, H, W)`` bool and ``(n,)``."""
    import torch

    options = options or EverythingOptions()
    model, processor = session.loaded.model, session.loaded.processor
    generator = processor.image_processor  # Sam2ImageProcessor: transformers' mask-generation steps
    session.encode(frame)  # the one image-encoder call (none when the frame is cached)
    h, w = session.source.frame_shape
    grid = point_grid(options.points_per_side, model.config.image_size)
    whole_frame = torch.tensor([0, 0, w, h])
    rles, scores, boxes = [], [], []
    with torch.inference_mode(), session.loaded.autocast():
        embeddings = _image_embeddings(session, frame)
        chunk = decode_chunk(options, autocast=session.loaded.autocast_dtype is not None)
        shared = shared_image(model, embeddings) if chunk else None
        for start in range(0, len(grid), options.points_per_batch):
            points = torch.as_tensor(grid[start : start + options.points_per_batch])
            if shared is not None:  # masks of the upscaled points only, ``rows`` of the batch's
                low_res, iou, rows = _decode_on_shared_image(model, shared, embeddings, points, chunk, options)
            else:
                low_res, iou = _decode_points(model, embeddings, points)
            iou = iou.float().cpu()
            confident = iou > options.pred_iou_thresh  # filtered before the costly upsampling
            if not confident.any():
                continue
            picked = low_res[confident] if shared is None else low_res[confident[rows]]
            logits = processor.post_process_masks([picked.float().cpu()], original_sizes=[[h, w]], binarize=False)
            kept, kept_scores, kept_boxes = generator.filter_masks(
                logits[0],
                iou[confident][:, None],
                (h, w),
                whole_frame,
                pred_iou_thresh=options.pred_iou_thresh,
                stability_score_thresh=options.stability_score_thresh,
                stability_score_offset=options.stability_score_offset,
            )
            areas = [_rle_area(rle) for rle in kept]
            sized = [i for i, a in enumerate(areas) if options.min_area <= a <= options.max_area_fraction * h * w]
            rles += [kept[i] for i in sized]
            scores.append(kept_scores[sized])
            boxes.append(kept_boxes[sized])
    if not rles:
        return np.zeros((0, h, w), bool), np.zeros(0, np.float32)
    masks, scores, _, _ = generator.post_process_for_mask_generation(
        rles, torch.cat(scores), torch.cat(boxes), options.box_nms_thresh
    )
    return np.stack([np.asarray(m, bool) for m in masks]), scores.float().numpy()


def everything_detector(session, options: EverythingOptions | None = None):
    """Re-detection by segmenting each asked frame again: ``frame -> label image``."""
    from .seeders import label_detector

    return label_detector(lambda frame: segment_everything(session, frame, options), session.source.full_frame_shape)


def _rle_area(rle: dict) -> int:
    """Foreground pixels of transformers' run-length encoding (runs alternate, background first)."""
    return int(sum(rle["counts"][1::2]))


def _point_prompts(model, points, device):
    """The prompt encoder's sparse and dense embeddings of one positive point per entry."""
    import torch

    return model.prompt_encoder(
        input_points=points[:, None, None, :].to(device),
        input_labels=torch.ones(len(points), 1, 1, dtype=torch.int, device=device),
        input_boxes=None,
        input_masks=None,
    )


def _decode_points(model, embeddings: list, points):
    """Every point's three candidate masks (low-resolution logits) and predicted IoUs, as
    Meta's automatic mask generator takes them: one point per batch entry."""
    n = len(points)
    sparse, dense = _point_prompts(model, points, embeddings[-1].device)
    low_res, iou, _, _ = model.mask_decoder(
        image_embeddings=embeddings[-1].expand(n, -1, -1, -1),
        image_positional_embeddings=model.get_image_wide_positional_embeddings().repeat(n, 1, 1, 1),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=True,
        high_resolution_features=[e.expand(n, -1, -1, -1) for e in embeddings[:-1]],
    )
    return low_res.reshape(-1, 1, *low_res.shape[-2:]), iou.reshape(-1)


def shared_image(model, embeddings: list):
    """:func:`~.point_decoder.share_image` of a frame's embeddings: what every point on it
    shares, made once per frame."""
    from .point_decoder import share_image

    anywhere = embeddings[-1].new_zeros((1, 2))  # no mask prompt: one dense embedding for every point
    _, dense = _point_prompts(model, anywhere, embeddings[-1].device)
    return share_image(model.mask_decoder, embeddings[-1] + dense, model.get_image_wide_positional_embeddings())


def _decode_on_shared_image(model, shared, embeddings: list, points, chunk: int, options: EverythingOptions):
    """As :func:`_decode_points`, by :func:`~.point_decoder.decode_points` in chunks on the
    frame's :func:`shared_image`: the image is not copied per point, and only points with a
    mask that can pass ``pred_iou_thresh`` are upscaled. Returns ``(low_res, iou, rows)``:
    the upscaled points' masks ``(3n, 1, 4H, 4W)``, every point's IoUs ``(3P,)``, and which
    of those IoUs' masks ``low_res`` holds ``(3n,)``: every mask that passes the threshold
    (its point is upscaled). The others' masks are never made: a 64-point batch of zero
    masks was 50 MB written afresh."""
    import torch

    from .point_decoder import decode_points

    device = embeddings[-1].device
    masks, ious, rows = [], [], []
    for start in range(0, len(points), chunk):
        sparse, _ = _point_prompts(model, points[start : start + chunk], device)
        low_res, iou, upscaled = decode_points(
            model.mask_decoder, shared, sparse[:, 0], embeddings[:-1], options.pred_iou_thresh
        )
        masks.append(low_res.flatten(0, 1))
        ious.append(iou)
        rows.append((3 * (start + upscaled)[:, None] + torch.arange(3, device=upscaled.device)).flatten())
    return torch.cat(masks)[:, None], torch.cat(ious).reshape(-1), torch.cat(rows).cpu()


def _image_embeddings(session, frame: int) -> list:
    """The frame's cached features as the mask decoder takes them (no memory: a still image)."""
    model = session.loaded.model
    cached = session.cache.get_vision_features(frame)
    feats = list(cached["vision_feats"])
    feats[-1] = feats[-1] + model.no_memory_embedding
    return [f.permute(1, 2, 0).view(1, -1, *size) for f, size in zip(feats, model.backbone_feature_sizes)]


def _paint_best_first(masks: np.ndarray, scores: np.ndarray, source, min_area: int) -> Seeds:
    owner = np.zeros(masks.shape[1:], np.int32)
    for i in np.argsort(-scores):
        owner[(owner == 0) & masks[i]] = i + 1
    roi, seeds = source.roi, {}
    for i in np.unique(owner):
        if i and (owner == i).sum() >= min_area:
            full = np.zeros(source.full_frame_shape, bool)
            full[roi.y0 : roi.y1, roi.x0 : roi.x1] = owner == i
            seeds[len(seeds) + 1] = full
    return seeds
