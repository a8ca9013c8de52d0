"""Seeds: the cells a population run starts from, as ``{id: mask}`` on one frame.

* :func:`seeds_from_labels`: a label image (cellpose, stardist, painted cells); ids kept.
* :func:`threshold_seeds`: bright nuclei by Otsu threshold and a distance-transform
  watershed (scikit-image); no model, no GPU.

Every seed becomes an object with a mask prompt on its frame.
"""

from __future__ import annotations

import numpy as np

from .errors import Sam2InputError

Seeds = dict[int, np.ndarray]  # object id -> boolean mask of one frame


def seeds_as_labels(seeds: Seeds, shape: tuple[int, int], dtype=np.int32) -> np.ndarray:
    """One label image of ``seeds`` (a later seed wins where two overlap)."""
    labels = np.zeros(shape, dtype)
    for obj, mask in seeds.items():
        labels[mask] = obj
    return labels


def renumbered(seeds: Seeds, first_id: int) -> Seeds:
    """The same seeds with ids ``first_id``, ``first_id + 1``, ... in their order."""
    return {first_id + k: mask for k, (_, mask) in enumerate(sorted(seeds.items()))}


def full_frame_grayscale(source, frame: int) -> np.ndarray:
    """Frame ``frame`` of a FrameSource as one full-frame grayscale image (zero outside its region)."""
    crop = np.asarray(source.read(frame), dtype=np.float32)
    roi, image = source.roi, np.zeros(source.full_frame_shape, np.float32)
    image[roi.y0 : roi.y1, roi.x0 : roi.x1] = crop.mean(axis=-1) if crop.ndim == 3 else crop
    return image


def label_detector(find, shape: tuple[int, int]):
    """``frame -> label image`` from a seeder ``find(frame) -> Seeds``: re-detection for a run."""
    return lambda frame: seeds_as_labels(find(frame), shape)


def threshold_detector(source):
    """Re-detection by :func:`threshold_seeds` on the frames of ``source`` (reads frames only)."""
    return label_detector(lambda frame: threshold_seeds(full_frame_grayscale(source, frame)), source.full_frame_shape)


def seeds_from_labels(labels: np.ndarray, *, frame_shape: tuple[int, int] | None = None, min_area: int = 1) -> Seeds:
    """Each non-zero id of a 2-D label image, with its mask."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise Sam2InputError(f"Seed labels must be whole numbers (a label image), not {labels.dtype}.")
    if labels.ndim != 2:
        raise Sam2InputError(f"Seed labels must be one 2-D frame, got shape {labels.shape}.")
    if frame_shape is not None and labels.shape != tuple(frame_shape):
        (h, w), (fh, fw) = labels.shape, frame_shape
        raise Sam2InputError(f"Seed labels are {h}x{w} pixels, the frames {fh}x{fw}.")
    if labels.min(initial=0) < 0:
        raise Sam2InputError("Seed labels have negative ids; ids must be positive.")
    if _looks_like_intensities(labels):
        raise Sam2InputError(
            "The seed labels look like an intensity image (neighbouring pixels differ): give a label image."
        )
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    seeds = {int(i): labels == i for i, c in zip(ids, counts) if c >= min_area}
    if not seeds:
        raise Sam2InputError("The seed labels are empty: no cell to start from.")
    return seeds


def _looks_like_intensities(labels: np.ndarray) -> bool:
    """In a label image, neighbouring cell pixels mostly share an id; in an intensity image
    they mostly differ."""
    left, right = labels[:, :-1], labels[:, 1:]
    both = (left > 0) & (right > 0)
    return bool(both.sum() > 100 and (left[both] != right[both]).mean() > 0.3)


def threshold_seeds(
    frame: np.ndarray, *, smoothing: float = 2.0, min_distance: int = 7, min_area: int = 20, first_id: int = 1
) -> Seeds:
    """Bright objects on a dark background, split where they touch.

    Otsu's threshold on the Gaussian-smoothed frame gives the foreground; peaks of its
    distance transform at least ``min_distance`` pixels apart seed a watershed that splits
    touching nuclei; parts under ``min_area`` pixels are dropped.
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import watershed

    image = np.asarray(frame, dtype=np.float32)
    if image.ndim != 2:
        raise Sam2InputError(f"The threshold seeder needs one grayscale frame, got shape {image.shape}.")
    smooth = gaussian(image, sigma=smoothing, preserve_range=True) if smoothing > 0 else image
    if float(smooth.max()) == float(smooth.min()):
        raise Sam2InputError("The frame is uniform: there is nothing to threshold.")
    foreground = ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))
    distance = ndimage.distance_transform_edt(foreground)
    regions, _ = ndimage.label(foreground)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=regions, exclude_border=False)
    markers = np.zeros(image.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    cells = watershed(-distance, markers, mask=foreground)
    seeds, next_id = {}, first_id
    for i in range(1, int(cells.max()) + 1):
        mask = cells == i
        if mask.sum() >= min_area:
            seeds[next_id], next_id = mask, next_id + 1
    return seeds


def f1_at_iou(predicted: Seeds, truth: np.ndarray, threshold: float = 0.5) -> float:
    """F1 of ``predicted`` masks against a ground-truth label image: a match is one truth
    object with IoU >= ``threshold`` (above 0.5 a match is unique)."""
    truth_ids = [int(i) for i in np.unique(truth) if i]
    matched = 0
    for mask in predicted.values():
        for t in np.unique(truth[mask]):
            if t:
                gt = truth == t
                if np.logical_and(mask, gt).sum() / np.logical_or(mask, gt).sum() >= threshold:
                    matched += 1
                    break
    denominator = len(predicted) + len(truth_ids)
    return 2 * matched / denominator if denominator else 1.0
