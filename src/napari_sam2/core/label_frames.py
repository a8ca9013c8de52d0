"""A label TIFF (or an OME-Zarr label image) read one frame at a time: the exports and the
review never hold a stack whole.

``tifffile.memmap`` maps the file, and every page the exports touch then counts in the
process's resident memory until it ends (a 400 MiB stack read once shows as 400 MiB more).
:class:`LabelFrames` reads the pages of one frame each time it is indexed and keeps
nothing, so the memory of an export is one frame whatever the stack's length.
"""

from __future__ import annotations

import math
import os

import numpy as np


class LabelFrames:
    """``frames[t]`` reads frame ``t`` of a label TIFF's first series; ``shape``, ``dtype``, ``len``.

    Use as a context manager, or call :meth:`close`. Frames are the first axis; the planes
    of a frame (Z, ...) are its consecutive pages.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self._tif = tifffile.TiffFile(path)
        series = self._tif.series[0]
        self.shape: tuple[int, ...] = tuple(series.shape)
        self.dtype = np.dtype(series.dtype)
        self.ndim = len(self.shape)
        self.axes: str = series.axes
        self._pages = series.pages
        self._per_frame = math.prod(self.shape[1:-2]) if self.ndim > 2 else 1

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frame) -> np.ndarray:
        if not isinstance(frame, (int, np.integer)):
            raise TypeError("LabelFrames is indexed by one frame number")
        frame = int(frame) + (len(self) if frame < 0 else 0)
        if not 0 <= frame < len(self):
            raise IndexError(f"frame {frame} of {len(self)}")
        if self.ndim == 2:
            return self._pages[0].asarray()[frame]
        first = frame * self._per_frame
        planes = [self._pages[i].asarray() for i in range(first, first + self._per_frame)]
        return np.stack(planes).reshape(self.shape[1:]) if self._per_frame > 1 else planes[0]

    def close(self) -> None:
        self._tif.close()

    def __enter__(self) -> LabelFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ZarrLabelFrames:
    """The full resolution of a label image in an OME-Zarr store (``STORE/labels/NAME``), read
    a frame (one chunk) at a time, with :class:`LabelFrames`' interface; ``sidecar`` is the
    run's provenance kept in the label group's attributes."""

    def __init__(self, path: str | os.PathLike) -> None:
        import zarr

        from .errors import Sam2InputError
        from .ome_zarr import labels_target, open_ome_image

        root, name = labels_target(path)
        try:
            group = zarr.open_group(str(root / "labels" / name), mode="r")
        except Exception as exc:  # zarr raises several types for what is no group
            raise Sam2InputError(f"{root.name}/labels/{name} is not a readable label image ({exc}).") from exc
        self._array = open_ome_image(group, root / "labels" / name)[0]  # level 0, as for an image
        self.sidecar: dict | None = dict(group.attrs).get("napari_sam2")
        self.shape: tuple[int, ...] = tuple(self._array.shape)
        self.dtype = np.dtype(self._array.dtype)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frame) -> np.ndarray:
        return np.asarray(self._array[int(frame)])

    def close(self) -> None:
        pass

    def __enter__(self) -> ZarrLabelFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_label_frames(path: str | os.PathLike):
    """A label TIFF's or an OME-Zarr label image's frames (``--out`` either way)."""
    from .ome_zarr import labels_target

    return ZarrLabelFrames(path) if labels_target(path) is not None else LabelFrames(path)
