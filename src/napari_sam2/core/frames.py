"""Lazy frame source: which frames the model sees, and how their intensities are mapped.

A :class:`FrameSource` wraps any array-like (numpy, memmap, dask, zarr) without reading it.
It knows which axis is propagated, which other axes are held at fixed indices, which axis
holds channels, the region of interest, and one pair of contrast limits for the whole stack.
``source.model_frame(i)`` reads exactly one frame and returns what SAM 2 expects before its
own resize: ``uint8`` RGB unchanged (the model was trained on ``x/255``), anything else as
``float32`` RGB in ``[0, 1]``.

:class:`PreprocessedFrames` is the mapping handed to transformers' inference session as
``processed_frames``: it reads and preprocesses a frame only when the model asks for it, so
the whole stack is never held at model resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Sam2Error, Sam2FileError, Sam2InputError

#: Percentiles used for default contrast limits of non-uint8 data.
DEFAULT_PERCENTILES = (0.5, 99.8)
#: How many frames, evenly strided, are read to estimate contrast limits.
CONTRAST_SAMPLE_FRAMES = 16
MIN_FRAME_SIZE = 8  # pixels; smaller frames mean nothing to the model (and ROIs are held to it too)


@dataclass(frozen=True)
class Roi:
    """Rectangle ``[y0, y1) x [x0, x1)`` in full-frame pixel coordinates."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)


class FrameSource:
    """A stack of 2-D frames taken lazily from an N-D array.

    Parameters
    ----------
    data
        Any array-like with ``shape``, ``dtype`` and integer/slice indexing.
    frame_axis
        Axis that is propagated. ``None`` for a single 2-D image.
    held
        Index at which every other non-spatial, non-channel axis is held (default 0).
    channel_axis
        Axis holding channels, or ``None``. With ``rgb`` (guessed when the last axis has
        3 or 4 entries) the last axis is taken as RGB(A).
    channels
        One channel (shown as grayscale) or three (shown as RGB) of ``channel_axis``.
    contrast_limits
        ``(lo, hi)`` mapping non-uint8 data to ``[0, 1]``; estimated from a strided sample
        of frames when not given.
    roi
        Restrict every frame to this rectangle.
    """

    def __init__(
        self,
        data: Any,
        *,
        frame_axis: int | None = 0,
        held: dict[int, int] | None = None,
        channel_axis: int | None = None,
        channels: Sequence[int] | None = None,
        rgb: bool | None = None,
        contrast_limits: tuple[float, float] | None = None,
        roi: Roi | tuple[int, int, int, int] | None = None,
        origin: str | None = None,
    ) -> None:
        self.origin = origin
        shape = tuple(int(s) for s in getattr(data, "shape", ()))
        if len(shape) < 2:
            raise Sam2InputError(f"Expected an image with at least 2 dimensions, got shape {shape}.")
        if any(s == 0 for s in shape):
            raise Sam2InputError(f"The image is empty (shape {shape}).")
        self.data = data
        self.dtype = np.dtype(data.dtype)
        ndim = len(shape)
        self._channel_axis, self._channels = _resolve_channels(shape, channel_axis, channels, rgb)
        non_channel = [a for a in range(ndim) if a != self._channel_axis]
        self.spatial_axes = tuple(non_channel[-2:])
        if frame_axis is None:
            if len(non_channel) > 2:
                raise Sam2InputError(f"Choose which axis to propagate for an image of shape {shape}.")
            self.frame_axis = None
        else:
            self.frame_axis = _normalise_axis(frame_axis, ndim)
            if self.frame_axis in self.spatial_axes or self.frame_axis == self._channel_axis:
                raise Sam2InputError(
                    f"Axis {frame_axis} is a spatial or channel axis of shape {shape}; "
                    "choose a time or z axis to propagate."
                )
        self.held = _resolve_held(shape, held, self.frame_axis, self.spatial_axes, self._channel_axis)
        self.full_frame_shape = (shape[self.spatial_axes[0]], shape[self.spatial_axes[1]])
        if min(self.full_frame_shape) < MIN_FRAME_SIZE:
            h, w = self.full_frame_shape
            raise Sam2InputError(
                f"Frames of {h}x{w} pixels are too small for SAM 2 (at least {MIN_FRAME_SIZE}x{MIN_FRAME_SIZE}); "
                "check --axis and the channel axis."
            )
        self.roi = _resolve_roi(roi, self.full_frame_shape)
        self.n_frames = 1 if self.frame_axis is None else shape[self.frame_axis]
        self.is_uint8 = self.dtype == np.uint8
        self.contrast_limits = self._resolve_contrast(contrast_limits)

    # -- geometry -------------------------------------------------------------------------
    @property
    def channel_axis(self) -> int | None:
        return self._channel_axis

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Shape ``(H, W)`` of the frames the model sees (the ROI)."""
        return self.roi.shape

    def __len__(self) -> int:
        return self.n_frames

    def to_roi_xy(self, y: float, x: float, what: str) -> list[float]:
        """Full-frame ``(y, x)`` as SAM 2's ``[x, y]`` inside the ROI; outside is a user error."""
        roi, (h, w) = self.roi, self.full_frame_shape
        if not (0 <= y < h and 0 <= x < w):
            raise Sam2InputError(f"{what} at (y={y:g}, x={x:g}) is outside the {h}x{w} image.")
        if not (roi.y0 <= y < roi.y1 and roi.x0 <= x < roi.x1):
            raise Sam2InputError(f"{what} at (y={y:g}, x={x:g}) is outside the region of interest.")
        return [float(x - roi.x0), float(y - roi.y0)]

    def describe(self) -> dict[str, Any]:
        """Settings that decide what the model sees, for provenance and cache keys."""
        return {
            "shape": list(self.data.shape),
            "dtype": str(self.dtype),
            "frame_axis": self.frame_axis,
            "held": {str(k): v for k, v in sorted(self.held.items())},
            "channel_axis": self._channel_axis,
            "channels": list(self._channels) if self._channels is not None else None,
            "roi": [self.roi.y0, self.roi.x0, self.roi.y1, self.roi.x1],
            "contrast_limits": list(self.contrast_limits) if self.contrast_limits else None,
        }

    # -- reading --------------------------------------------------------------------------
    def read(self, i: int) -> np.ndarray:
        """Raw frame ``i`` inside the ROI: ``(H, W)`` or ``(H, W, C)``, original dtype."""
        if not 0 <= i < self.n_frames:
            raise Sam2InputError(f"Frame {i} does not exist; the stack has {self.n_frames} frames.")
        index: list[Any] = []
        for axis in range(len(self.data.shape)):
            if axis == self.frame_axis:
                index.append(i)
            elif axis == self.spatial_axes[0]:
                index.append(slice(self.roi.y0, self.roi.y1))
            elif axis == self.spatial_axes[1]:
                index.append(slice(self.roi.x0, self.roi.x1))
            elif axis == self._channel_axis:
                index.append(slice(None))
            else:
                index.append(self.held[axis])
        try:
            frame = np.asarray(self.data[tuple(index)])
        except (Sam2Error, MemoryError):
            raise
        except Exception as exc:  # a damaged file: any decoder's error type
            what = self.origin or "the image"
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise Sam2FileError(f"Cannot read frame {i} of {what}; the file looks damaged ({detail}).") from exc
        if self._channel_axis is not None:
            # After integer indexing only the spatial and channel axes remain, in order.
            kept = sorted((*self.spatial_axes, self._channel_axis))
            frame = np.moveaxis(frame, kept.index(self._channel_axis), -1)
            frame = frame[..., list(self._channels)]
        return frame

    def model_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as SAM 2 takes it: uint8 RGB, or float32 RGB in ``[0, 1]``."""
        frame = self.read(i)
        if not self.is_uint8:
            frame = _map_to_unit(frame, self.contrast_limits)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=-1)
        elif frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        return np.ascontiguousarray(frame)

    # -- intensities ----------------------------------------------------------------------
    def sample_indices(self, n: int = CONTRAST_SAMPLE_FRAMES) -> list[int]:
        """Evenly strided frame indices used to estimate contrast (never a full read)."""
        return sorted({int(round(v)) for v in np.linspace(0, self.n_frames - 1, min(n, self.n_frames))})

    def _resolve_contrast(self, limits: tuple[float, float] | None) -> tuple[float, float] | None:
        if limits is not None:
            lo, hi = float(limits[0]), float(limits[1])
            if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
                raise Sam2InputError(f"Contrast limits must be two finite numbers LO < HI, got {limits}.")
            return (lo, hi)
        sample = [self.read(i) for i in self.sample_indices()]
        lo, hi = _robust_limits(sample)
        return None if self.is_uint8 else (lo, hi)


def _normalise_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise Sam2InputError(f"Axis {axis} does not exist in an image with {ndim} dimensions.")
    return axis % ndim


def _resolve_channels(shape, channel_axis, channels, rgb):
    ndim = len(shape)
    if channel_axis is None and rgb is None:
        rgb = ndim >= 3 and shape[-1] in (3, 4)
    if channel_axis is None and rgb:
        return ndim - 1, (0, 1, 2)
    if channel_axis is None:
        if channels is not None:
            raise Sam2InputError("Channels were chosen but no channel axis was given.")
        return None, None
    channel_axis = _normalise_axis(channel_axis, ndim)
    n = shape[channel_axis]
    if channels is None:
        if n == 1:
            return channel_axis, (0,)
        raise Sam2InputError(f"The image has {n} channels; choose one channel, or three to combine as RGB.")
    channels = tuple(int(c) for c in channels)
    if len(channels) not in (1, 3):
        raise Sam2InputError(f"Choose one channel or three (RGB), not {len(channels)}.")
    if any(not 0 <= c < n for c in channels):
        raise Sam2InputError(f"Channel out of range: the image has channels 0 to {n - 1}.")
    return channel_axis, channels


def _resolve_held(shape, held, frame_axis, spatial_axes, channel_axis) -> dict[int, int]:
    held = held or {}
    normalised = {_normalise_axis(int(a), len(shape)): int(i) for a, i in held.items()}
    if len(normalised) != len(held):
        raise Sam2InputError(f"The same axis is held twice ({sorted(held)}); hold each axis once.")
    names = {frame_axis: "the propagated axis", channel_axis: "the channel axis"}
    names.update({a: "a spatial (Y or X) axis" for a in spatial_axes})
    for axis in normalised:
        if axis in names:
            raise Sam2InputError(f"Axis {axis} is {names[axis]}; only the other axes can be held at an index.")
    result = {}
    for axis, size in enumerate(shape):
        if axis in names:
            continue
        index = normalised.get(axis, 0)
        if not 0 <= index < size:
            raise Sam2InputError(f"Index {index} is outside axis {axis}, which has {size} entries.")
        result[axis] = index
    return result


def _resolve_roi(roi, frame_shape: tuple[int, int]) -> Roi:
    h, w = frame_shape
    if roi is None:
        return Roi(0, 0, h, w)
    values = (roi.y0, roi.x0, roi.y1, roi.x1) if isinstance(roi, Roi) else tuple(roi)
    if len(values) != 4:
        raise Sam2InputError(f"A region of interest needs four numbers Y0 X0 Y1 X1, got {values}.")
    y0, x0, y1, x1 = (int(round(float(v))) for v in values)
    y0, y1 = max(0, min(y0, y1)), min(h, max(y0, y1))
    x0, x1 = max(0, min(x0, x1)), min(w, max(x0, x1))
    if y1 - y0 < 8 or x1 - x0 < 8:
        raise Sam2InputError(
            f"The region of interest {values} is empty or smaller than 8 pixels inside a {h}x{w} frame."
        )
    return Roi(y0, x0, y1, x1)


def _robust_limits(sample: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([np.asarray(f, dtype=np.float64).ravel()[:: max(1, f.size // 200_000)] for f in sample])
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise Sam2InputError("The image contains no finite values (all NaN or infinite).")
    lo, hi = np.percentile(values, DEFAULT_PERCENTILES)
    if hi <= lo:
        lo, hi = values.min(), values.max()
    if hi <= lo:
        raise Sam2InputError(f"The image is constant (every sampled value is {lo:g}); there is nothing to segment.")
    return float(lo), float(hi)


def _map_to_unit(frame: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    lo, hi = limits
    out = (frame.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
    # NaN becomes background; +inf saturates, -inf is background.
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


class PreprocessedFrames:
    """Read-on-access mapping ``frame index -> (3, S, S)`` tensor for transformers' session.

    transformers' ``Sam2VideoInferenceSession`` only needs ``len()`` and ``[i]`` from its
    ``processed_frames``. Giving it this mapping instead of a dict of every preprocessed
    frame keeps memory flat on long stacks.
    """

    def __init__(self, source: FrameSource, video_processor: Any, dtype: Any = None) -> None:
        self.source = source
        self.video_processor = video_processor
        self.dtype = dtype
        self.reads = 0
        self._last: tuple[int, Any] | None = None  # the disk cache hashes a frame, then encodes it

    def __len__(self) -> int:
        return len(self.source)

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and 0 <= i < len(self.source)

    def __getitem__(self, i: int):
        import torch

        i = int(i)
        if self._last is not None and self._last[0] == i:
            return self._last[1]
        self.reads += 1
        frame = self.source.model_frame(i)
        kwargs = {} if frame.dtype == np.uint8 else {"do_rescale": False}
        pixels = self.video_processor(videos=frame[None], return_tensors="pt", **kwargs)
        tensor = pixels.pixel_values_videos[0][0].to(self.dtype or torch.float32)
        self._last = (i, tensor)
        return tensor
