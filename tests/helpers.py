"""Test helpers: synthetic stacks and the checks that keep tracking tests honest."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


class CountingArray:
    """Wraps an array and counts how often frames are read through ``[]``."""

    def __init__(self, data):
        self._data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = 0

    def __getitem__(self, index):
        self.reads += 1
        return self._data[index]


def moving_blob_stack(n_frames: int = 8, shape=(90, 140), *, dtype=np.uint8, seed: int = 0, speed: float = 3.0):
    """A bright disc drifting right on a noisy background; not square, not 1024²."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    frames = []
    for t in range(n_frames):
        disc = ((yy - 0.45 * h) ** 2 + (xx - 0.25 * w - speed * t) ** 2) < (0.22 * h) ** 2
        frames.append(40 + 150 * disc + rng.normal(0, 10, shape))
    stack = np.clip(np.stack(frames), 0, 255)
    if np.dtype(dtype) == np.uint16:
        return (stack * 200).astype(np.uint16)
    return stack.astype(dtype)


def assert_meaningful(mask: np.ndarray) -> None:
    """A mask a test may compare: neither empty nor full (5 % to 95 % foreground)."""
    fraction = float(np.asarray(mask, dtype=bool).mean())
    assert 0.05 <= fraction <= 0.95, f"mask foreground {fraction:.3f} is trivial; the test would prove nothing"


def assert_differs(a: np.ndarray, b: np.ndarray, min_fraction: float = 0.005) -> None:
    changed = float((np.asarray(a) != np.asarray(b)).mean())
    assert changed >= min_fraction, f"masks differ on only {changed:.4f} of pixels"


def reference_masks(loaded, stack_uint8, clicks, direction):
    """Masks from driving transformers' ``Sam2VideoModel`` directly, with no engine code.

    ``clicks``: list of ``(object_id, frame, y, x, positive)``. Each object's clicks on a
    frame go in one ``add_inputs_to_inference_session`` call, followed by one forward call.
    Returns ``{frame: {object_id: mask}}``; a frame visited by two passes keeps the last.
    """
    import torch

    processor, model = loaded.processor, loaded.model
    video = np.repeat(stack_uint8[..., None], 3, -1) if stack_uint8.ndim == 3 else stack_uint8
    h, w = video.shape[1:3]
    state = processor.init_video_session(video=video, inference_device="cpu")
    groups = {}
    for obj, frame, y, x, positive in clicks:
        groups.setdefault((obj, frame), []).append(([x, y], int(positive)))
    for (obj, frame), pts in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        processor.add_inputs_to_inference_session(
            state,
            frame_idx=frame,
            obj_ids=obj,
            input_points=[[[p for p, _ in pts]]],
            input_labels=[[[lab for _, lab in pts]]],
        )
        with torch.inference_mode():
            model(inference_session=state, frame_idx=frame)
    start = min(frame for _, frame, *_ in clicks)
    passes = {"forward": [False], "backward": [True], "both": [False, True]}[direction]
    result = {}
    for reverse in passes:
        for out in model.propagate_in_video_iterator(state, start_frame_idx=start, reverse=reverse):
            masks = processor.post_process_masks([out.pred_masks], original_sizes=[[h, w]], binarize=False)[0]
            result[out.frame_idx] = {oid: (masks[i, 0] > 0).numpy() for i, oid in enumerate(out.object_ids)}
    return result


def engine_masks(loaded, stack, clicks, direction, **session_kwargs):
    """The same run through the engine: ``{frame: {object_id: mask}}``."""
    from napari_sam2.core.frames import FrameSource
    from napari_sam2.core.prompts import Point
    from napari_sam2.core.session import TrackingSession

    session = TrackingSession(loaded, FrameSource(stack), **session_kwargs)
    groups = {}
    for obj, frame, y, x, positive in clicks:
        groups.setdefault((obj, frame), []).append(Point(y, x, positive))
    for (obj, frame), pts in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        session.add_points(obj, frame, pts)
    result = {}
    for r in session.propagate(direction):
        result[r.frame] = {oid: r.masks[i] for i, oid in enumerate(r.object_ids)}
    return result


@contextmanager
def counting_encoder(loaded):
    """Count calls of the model's image encoder inside the block."""
    model = loaded.model
    original = model.get_image_features
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.get_image_features = counted
    try:
        yield calls
    finally:
        del model.get_image_features


@contextmanager
def encoding_equal_pixels_once(loaded):
    """Inside the block, the vision encoder returns its earlier output, as a fresh output
    object (its callers replace fields), when given pixels equal bit for bit to earlier ones:
    the same deterministic pass, not run twice. Yields the indices reused, in order, so a
    test can also check that two paths handed the encoder the very same pixels."""
    import torch

    encoder = loaded.model.vision_encoder
    seen, reused, plain = [], [], encoder.forward

    def forward(pixel_values, **kwargs):
        for i, (pixels, out) in enumerate(seen):
            if pixels.shape == pixel_values.shape and torch.equal(pixels, pixel_values):
                reused.append(i)
                return type(out)(**out)
        out = plain(pixel_values, **kwargs)
        seen.append((pixel_values.clone(), type(out)(**out)))
        return out

    encoder.forward = forward
    try:
        yield reused
    finally:
        del encoder.forward


POPULATION_SHAPE = (96, 128)


def _disk(cy, cx, r, shape=POPULATION_SHAPE):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def known_population():
    """A ground-truth label stack (15 frames) and its lineage: cell 1 divides into 2 and 3
    on frame 5; 2 divides into 6 and 7 on frame 11; cell 4 is gone after frame 8; cell 5
    enters on frame 4."""
    from napari_sam2.core.lineage import Lineage

    gt, lineage = np.zeros((15, *POPULATION_SHAPE), np.uint16), Lineage()
    for t in range(15):
        if t < 5:
            gt[t][_disk(30, 20 + t, 10)] = 1
        elif t < 11:
            gt[t][_disk(23 - 2 * (t - 5), 25 + t, 6)] = 2
        else:
            gt[t][_disk(8, 36, 5)] = 6
            gt[t][_disk(20, 36, 5)] = 7
        if t >= 5:
            gt[t][_disk(38 + 2 * (t - 5), 25 + t, 6)] = 3
        if t <= 8:
            gt[t][_disk(75, 100 - t, 8)] = 4
        if t >= 4:
            gt[t][_disk(72, 40, 7)] = 5
    for track, first, last, parent in [(1, 0, 4, 0), (2, 5, 10, 1), (3, 5, 14, 1), (4, 0, 8, 0), (5, 4, 14, 0)]:
        lineage.start(track, first, parent)
        lineage.end(track, last)
    for track in (6, 7):
        lineage.start(track, 11, parent=2)
        lineage.end(track, 14)
    return gt, lineage


def render_fluorescence(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 16-bit stack in which every labelled cell is a bright, blurred, noisy nucleus."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    bright = ndimage.gaussian_filter((labels > 0).astype(np.float32), sigma=(0, 1.2, 1.2))
    photons = 40 + 400 * bright
    return np.clip(rng.poisson(photons) + rng.normal(100, 6, labels.shape), 0, 65535).astype(np.uint16)
