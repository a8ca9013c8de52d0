"""Images in: TIFF (ImageJ, OME, plain), ``.npy``, zarr and OME-Zarr, opened lazily, with their axes.

A TIFF opens through tifffile's zarr store (plain file reads), ``.npy`` as a memory map, a
zarr store through zarr; nothing is decoded until a frame is asked for. What is known of
the axes (tifffile letters) and the pixel size comes with the data; a damaged file, or one
that is not an image, is one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Sam2InputError

IMAGE_SUFFIXES = (".tif", ".tiff", ".npy", ".zarr")
_FRAME_LETTERS = "TZQIR"


@dataclass
class ImageInput:
    """A lazily opened image and what is known about its axes and pixel size."""

    data: Any
    axes: str | None = None  # tifffile letters, e.g. "TZCYX"; None when unknown
    scale: dict[str, float] = field(default_factory=dict)  # axis letter -> size per pixel
    unit: str | None = None
    handle: Any = None  # keeps a TIFF file open while a zarr view reads from it

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


# -- images ---------------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> ImageInput:
    """Open a TIFF (ImageJ, OME or plain), ``.npy`` or zarr array without reading pixels."""
    path = Path(path)
    if not path.exists():
        raise Sam2InputError(f"Input {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _read_tiff(path)
    if suffix == ".npy":
        try:  # never unpickle: an .npy of Python objects is refused, not executed
            return _checked(ImageInput(np.load(path, mmap_mode="r", allow_pickle=False)), path)
        except (ValueError, OSError) as exc:
            raise Sam2InputError(f"{path} is not a readable .npy image ({exc}).") from exc
    if suffix == ".zarr" or (path.is_dir() and any((path / n).exists() for n in (".zarray", "zarr.json"))):
        return _checked(_read_zarr(path), path)
    raise Sam2InputError(f"{path}: unsupported input; use one of {', '.join(IMAGE_SUFFIXES)}.")


def _checked(image: ImageInput, path: Path) -> ImageInput:
    """Refuse arrays that cannot be an image: strings, objects, complex numbers."""
    dtype = np.dtype(image.data.dtype)
    if dtype.kind not in "biuf":
        image.close()
        raise Sam2InputError(f"{path} holds {dtype} values, not image intensities (numbers).")
    return image


def _read_tiff(path: Path) -> ImageInput:
    import tifffile

    try:
        with _tifffile_logging_as_errors() as problems:
            tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise Sam2InputError(f"{path} is not a readable TIFF image ({exc}).") from exc
    try:
        with _tifffile_logging_as_errors() as more:
            series = tif.series[0]
            axes = series.axes
            scale, unit = tiff_scale(tif)
        _check_declared_shape(tif, series, path, problems + more)
    except Sam2InputError:
        tif.close()
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        tif.close()
        raise Sam2InputError(f"{path} is not a readable TIFF image ({exc}).") from exc
    # Frames are read through tifffile's zarr store (plain file reads, any compression):
    # a memory map would keep every page it touched resident, growing with the stack.
    try:
        import zarr

        data = zarr.open(series.aszarr(), mode="r")
        return _checked(ImageInput(data, axes, scale, unit, handle=tif), path)
    except ImportError:
        pass
    try:
        data = tifffile.memmap(path, series=0, mode="r")
    except (ValueError, OSError):
        data = series.asarray()  # compressed and no zarr: the whole stack is decoded once
    tif.close()
    return _checked(ImageInput(data, axes, scale, unit), path)


@contextlib.contextmanager
def _tifffile_logging_as_errors():
    """Collect what tifffile logs about a damaged file instead of letting it print."""
    problems: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            problems.append(record.getMessage())

    logger = logging.getLogger("tifffile")
    handler, propagate = _Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield problems
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_declared_shape(tif, series, path: Path, problems: list[str]) -> None:
    """A TIFF whose declared size disagrees with what the file holds is damaged (truncated)."""
    declared = (tif.imagej_metadata or {}).get("images") if tif.is_imagej else None
    planes = int(np.prod(series.shape[: -2 - (1 if series.axes.endswith("S") else 0)] or (1,)))
    size = path.stat().st_size
    end = series.dataoffset + series.nbytes if series.dataoffset is not None else None
    if (declared and int(declared) > planes) or (end is not None and end > size):
        detail = f"it declares {declared or series.shape} images but holds {planes}" if declared else "it is truncated"
        raise Sam2InputError(f"{path} is damaged: {detail}.")
    if problems and any("corrupt" in p or "invalid" in p for p in problems):
        raise Sam2InputError(f"{path} is damaged: {problems[0].split('>')[-1].strip()}.")


def tiff_scale(tif) -> tuple[dict[str, float], str | None]:
    """Pixel size by axis letter (ImageJ's spacing and frame interval, the resolution tags,
    OME's physical sizes) and the unit; also how the result reader scales our own labels."""
    scale: dict[str, float] = {}
    unit = None
    page = tif.pages[0]
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in page.tags:
            num, den = page.tags[tag].value
            if num and den and (num, den) != (1, 1):
                scale[letter] = den / num
    meta = tif.imagej_metadata or {}
    if meta.get("spacing"):
        scale["Z"] = float(meta["spacing"])
    if meta.get("finterval"):
        scale["T"] = float(meta["finterval"])
    unit = meta.get("unit") or None
    if tif.is_ome and tif.ome_metadata:
        for letter in "XYZ":
            match = re.search(rf'PhysicalSize{letter}="([0-9.eE+-]+)"', tif.ome_metadata)
            if match:
                scale[letter] = float(match.group(1))
        match = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
        unit = match.group(1) if match else unit or "µm"
    return scale, unit


def _read_zarr(path: Path) -> ImageInput:
    try:
        import zarr
    except ImportError as exc:
        raise Sam2InputError("Reading zarr needs the zarr package: pip install 'napari-sam2[zarr]'.") from exc
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a non-zarr folder
        raise Sam2InputError(f"{path} is not a readable zarr array ({exc}).") from exc
    if hasattr(node, "shape"):
        return ImageInput(node)
    from .ome_zarr import is_ome, open_ome_image

    if is_ome(dict(node.attrs)):  # an OME-Zarr image: its full resolution, axes and scale
        data, axes, scale, unit = open_ome_image(node, path)
        return ImageInput(data, axes=axes, scale=scale, unit=unit)
    arrays = sorted(name for name, _ in node.arrays())
    if not arrays:
        raise Sam2InputError(f"{path} is a zarr group with no arrays.")
    return ImageInput(node[arrays[0]])


def default_frame_axis(shape, axes, channel_axis) -> int | None:
    """The file's T or Z axis (then Q, I, R), else the first non-spatial axis; None for 2-D."""
    spatial_candidates = [a for a in range(len(shape)) if a != channel_axis]
    if len(spatial_candidates) <= 2:
        return None
    if axes and len(axes) == len(shape):
        for letter in _FRAME_LETTERS:
            if letter in axes and axes.index(letter) != channel_axis:
                return axes.index(letter)
    return spatial_candidates[0]
