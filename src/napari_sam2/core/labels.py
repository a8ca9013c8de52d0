"""Merge per-object masks into label images.

Rules, in order:

1. Pixels labelled with an id that is *not* among the objects of the result (for example
   a cell the user painted by hand) are never overwritten.
2. Pixels of the result's objects are first cleared, then rewritten from the new masks, so
   a mask that shrinks leaves no stale pixels behind.
3. Where masks of several objects overlap, the object with the higher score wins.

Labels are ``uint16``, or ``uint32`` once an id exceeds 65535. The target can be any
writable array, including a memory-mapped file on disk.
"""

from __future__ import annotations

from collections.abc import Sequence

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
) -> tuple[slice, slice]:
    """Write ``masks`` (``(n, h, w)`` bool) into the 2-D ``labels`` at ``offset``, in place.

    Returns the ``(rows, cols)`` slices of the region that may have changed.
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
    ours = np.isin(region, ids)
    foreign = (region != 0) & ~ours
    new = np.where(ours, 0, region).astype(labels.dtype, copy=False)
    if len(ids):
        ranked = np.where(masks, np.asarray(scores, dtype=np.float32)[:, None, None], -np.inf)
        winner = ids[np.argmax(ranked, axis=0)]
        write = masks.any(axis=0) & ~foreign
        new[write] = winner[write]
    labels[rows, cols] = new
    return rows, cols


def merge_result(plane: np.ndarray, result) -> tuple[slice, slice]:
    """Merge a :class:`~napari_sam2.core.session.FrameResult` into its 2-D label plane."""
    return merge_masks_into_labels(
        plane,
        object_ids=result.object_ids,
        masks=result.masks,
        scores=result.scores,
        offset=(result.roi.y0, result.roi.x0),
    )
