"""Test helpers: synthetic stacks and the checks that keep tracking tests honest."""

from __future__ import annotations

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
