"""Merge per-object masks into label images: the one overlap rule of the CLI and the plugin.

Rules, in order:

1. Pixels labelled with an id that is *not* tracked (for example a cell the user painted by
   hand) are never overwritten.
2. Pixels of the result's objects are first cleared, then rewritten from the new masks, so
   a mask that shrinks leaves no stale pixels behind.
3. Where masks of several objects overlap, the object with the higher score on that frame
   wins: among the result's objects, and against a tracked object already written there
   (``others``: the scores on this frame of the tracked objects that are not in the result).

So the labels do not depend on whether objects were tracked together or one after another:
a napari session that adds a cell later and ``napari-sam2 track`` replaying it give the same
pixels. :class:`LabelMerger` keeps the scores this needs, for both.

Labels are ``uint16``, or ``uint32`` once an id exceeds 65535. The target can be any
writable array, including a memory-mapped file on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import Sam2InputError


def label_dtype(max_id: int) -> np.dtype:
    """``uint16`` for ids up to 65535, ``uint32`` above."""
    if max_id > np.iinfo(np.uint32).max:
        raise Sam2InputError(f"Object id {max_id} is too large for a label image.")
    return np.dtype(np.uint16 if max_id <= np.iinfo(np.uint16).max else np.uint32)


def saved_label_dtype(data: np.ndarray) -> np.dtype:
    """The dtype labels are saved in (see :func:`label_dtype`); refuses what is not a label image."""
    if not np.issubdtype(data.dtype, np.integer):
        raise Sam2InputError("Labels must be integers to be saved as a label TIFF.")
    if data.min(initial=0) < 0:
        raise Sam2InputError("Labels with negative values cannot be saved as a label TIFF.")
    return label_dtype(int(data.max(initial=0)))


def erase_object(plane: np.ndarray, obj: int) -> np.ndarray:
    """A copy of the 2-D ``plane`` with object ``obj`` set to background."""
    return np.where(plane == obj, 0, plane).astype(plane.dtype, copy=False)


def merge_masks_into_labels(
    labels: np.ndarray,
    *,
    object_ids: Sequence[int],
    masks: np.ndarray,
    scores: Sequence[float],
    offset: tuple[int, int] = (0, 0),
    others: Mapping[int, float] | None = None,
    erased: Sequence[int] = (),
) -> tuple[slice, slice]:
    """Write ``masks`` (``(n, h, w)`` bool) into the 2-D ``labels`` at ``offset``, in place.

    ``others``: id -> score on this frame of tracked objects outside the result; a pixel of
    theirs goes to a result object only where that object's score is higher. Any other
    non-zero id is never overwritten. ``erased``: ids cleared from the region (objects that
    ended). Returns the ``(rows, cols)`` region that may have changed.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[0] != len(object_ids) or len(scores) != len(object_ids):
        raise ValueError("masks must be (n_objects, h, w) with one id and one score per object")
    if object_ids and max(object_ids) > np.iinfo(labels.dtype).max:
        raise Sam2InputError(f"Object id {max(object_ids)} does not fit in {labels.dtype} labels.")
    y0, x0 = offset
    rows, cols = slice(y0, y0 + masks.shape[1]), slice(x0, x0 + masks.shape[2])
    region = np.asarray(labels[rows, cols])
    ids = np.asarray(object_ids, dtype=labels.dtype)
    ours = np.isin(region, [*ids.tolist(), *erased])
    new = np.where(ours, 0, region).astype(labels.dtype, copy=False)
    if len(ids):
        ranked = np.where(masks, np.asarray(scores, dtype=np.float32)[:, None, None], -np.inf)
        best = np.argmax(ranked, axis=0)
        winner, top = ids[best], np.take_along_axis(ranked, best[None], axis=0)[0]
        held = _held_scores(new, others, set(ids.tolist()))  # score of whatever holds each pixel now
        write = masks.any(axis=0) & (top > held)
        new[write] = winner[write]
    labels[rows, cols] = new
    return rows, cols


def _held_scores(region: np.ndarray, others: Mapping[int, float] | None, ours: set[int]) -> np.ndarray:
    """Per pixel, the score a result mask must beat: -inf for background, the score of a
    tracked object outside the result, +inf for anything else (never overwritten)."""
    held = np.where(region == 0, -np.inf, np.inf).astype(np.float32)
    for obj, score in (others or {}).items():
        if obj not in ours and np.isfinite(score):
            held[region == obj] = score
    return held


def merge_result(plane: np.ndarray, result, others: Mapping[int, float] | None = None) -> tuple[slice, slice]:
    """Merge a :class:`~napari_sam2.core.session.FrameResult` into its 2-D label plane."""
    return merge_masks_into_labels(
        plane,
        object_ids=result.object_ids,
        masks=result.masks,
        scores=result.scores,
        offset=(result.roi.y0, result.roi.x0),
        others=others,
        erased=result.erased,
    )


class LabelMerger:
    """Writes results into label planes by the overlap rule, keeping each tracked object's
    latest score per frame (what the rule compares against). One per label stack: the CLI's
    output file, or a napari Labels layer."""

    def __init__(self) -> None:
        self.scores: dict[int, dict[int, float]] = {}  # frame -> object -> score

    def merge(self, plane: np.ndarray, result, *, contest: bool = True) -> np.ndarray:
        """``plane`` (a 2-D copy) with ``result`` merged in; the scores are kept.

        ``contest=False``: tracked objects outside the result keep their pixels, whatever the
        scores (a population run or a division tracks every cell it means to change)."""
        per_frame = self.scores.setdefault(int(result.frame), {})
        others = {o: s for o, s in per_frame.items() if o not in result.object_ids} if contest else None
        merge_result(plane, result, others)
        for obj, score in zip(result.object_ids, result.scores):
            per_frame[int(obj)] = float(score)
        for obj in result.erased:  # ended before this frame (a mother after her division), not lost
            per_frame.pop(int(obj), None)
        return plane

    def cleared(self, obj: int, frame: int) -> None:
        """``obj`` has no mask on ``frame`` any more (its prompts there were removed)."""
        self.scores.get(frame, {}).pop(obj, None)

    def forget(self, obj: int) -> None:
        """``obj`` is gone from every frame."""
        for per_frame in self.scores.values():
            per_frame.pop(obj, None)
