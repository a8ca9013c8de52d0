"""Synthetic fluorescence stacks for demos and tests, made procedurally (no licence needed).

* :func:`make_timelapse`: cells that drift, deform and touch, on a 16-bit camera with
  background, shot noise and read noise.
* :func:`make_zstack`: nuclei as ellipsoids with a blurred axial profile, as in a
  confocal z-stack.

Each returns the stack and one positive click per object on the middle frame, in the
prompt format of :mod:`napari_sam2.core.io`.
"""

from __future__ import annotations

import numpy as np

from .prompt_files import PointRow


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    coarse = rng.normal(size=(shape[0] // scale + 2, shape[1] // scale + 2))
    rows = np.linspace(0, coarse.shape[0] - 1.001, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1.001, shape[1])
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def _camera(rng: np.random.Generator, photons: np.ndarray) -> np.ndarray:
    counts = rng.poisson(np.clip(photons, 0, None)) + rng.normal(0, 6, photons.shape) + 100
    return np.clip(counts, 0, 65535).astype(np.uint16)


def make_timelapse(
    n_frames: int = 12, shape: tuple[int, int] = (160, 224), *, n_cells: int = 4, seed: int = 0
) -> tuple[np.ndarray, list[PointRow]]:
    """A 16-bit time-lapse ``(T, Y, X)`` of moving, deforming, partly touching cells."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    # Two cells start side by side so that they touch; the others are spread out.
    starts = [(0.45 * h, 0.30 * w), (0.45 * h, 0.30 * w + 0.16 * h), (0.25 * h, 0.72 * w), (0.72 * h, 0.65 * w)]
    starts += [tuple(rng.uniform(0.2, 0.8) * np.array(shape)) for _ in range(max(0, n_cells - 4))]
    cells = []
    for i in range(n_cells):
        cells.append(
            dict(
                start=np.array(starts[i]),
                velocity=rng.normal(0, 0.8, 2) + (0.6, 0.9 if i % 2 else -0.5),
                radius=rng.uniform(0.075, 0.1) * h,
                brightness=rng.uniform(500, 900),
                phase=rng.uniform(0, 2 * np.pi),
                texture=_smooth_noise(rng, shape, 8),
            )
        )
    frames, prompts = [], []
    middle = n_frames // 2
    for t in range(n_frames):
        photons = 40 + 30 * _smooth_noise(np.random.default_rng(seed + 1), shape, 40)
        for i, c in enumerate(cells):
            cy, cx = c["start"] + c["velocity"] * t
            wobble = 1 + 0.18 * np.sin(0.6 * t + c["phase"])  # the cell elongates and relaxes
            ry, rx = c["radius"] * wobble, c["radius"] / wobble
            d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
            body = 1 / (1 + np.exp((d - 1) * 12))
            photons += body * c["brightness"] * (1 + 0.25 * c["texture"])
            if t == middle:
                prompts.append(PointRow(i + 1, t, float(cy), float(cx), True))
        frames.append(_camera(rng, photons))
    return np.stack(frames), prompts


def make_zstack(
    n_slices: int = 15, shape: tuple[int, int] = (160, 160), *, n_nuclei: int = 3, seed: int = 1
) -> tuple[np.ndarray, list[PointRow]]:
    """A 16-bit confocal-like z-stack ``(Z, Y, X)`` of ellipsoidal nuclei."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    nuclei = []
    for i in range(n_nuclei):
        nuclei.append(
            dict(
                centre=(rng.uniform(0.3, 0.7) * n_slices, (0.3 + 0.4 * (i % 2)) * h, (0.25 + 0.25 * i) * w),
                radii=(rng.uniform(0.3, 0.4) * n_slices, rng.uniform(0.12, 0.16) * h, rng.uniform(0.1, 0.14) * w),
                brightness=rng.uniform(600, 1000),
                texture=_smooth_noise(rng, shape, 6),
            )
        )
    slices, prompts = [], []
    middle = n_slices // 2
    for z in range(n_slices):
        photons = np.full(shape, 30.0, dtype=np.float32)
        for i, n in enumerate(nuclei):
            cz, cy, cx = n["centre"]
            rz, ry, rx = n["radii"]
            d = np.sqrt(((z - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
            photons += n["brightness"] * (1 + 0.3 * n["texture"]) / (1 + np.exp((d - 1) * 8))
            if z == middle:
                prompts.append(PointRow(i + 1, z, float(cy), float(cx), True))
        slices.append(_camera(rng, photons))
    return np.stack(slices), prompts
