"""Build the engine's FrameSource from a napari image layer and the viewer's dims.

The propagated axis is a layer axis that is not displayed; every other non-displayed axis
is held at the slider's current index. Intensities reach the model through the layer's own
contrast limits, so the model sees what the user sees.

What an axis *is* (Z or T) and the pixel size come from the layer when it says (axis
labels, a scale), else from the file it was opened from: napari's own TIFF reader drops
ImageJ's axes and spacing, and a z-stack must still be saved as a z-stack.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Sam2InputError
from ..core.frames import FrameSource


def layer_data(layer) -> Any:
    """Full-resolution data of a (possibly multiscale) image layer."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def default_frame_axis(layer, viewer) -> int:
    """The first non-displayed axis of the layer (the first slider)."""
    axes = frame_axes(layer, viewer)
    if not axes:
        raise Sam2InputError(f"Layer {layer.name!r} has no axis to propagate along; it needs 3 or more dimensions.")
    return axes[0]


def world_axis(layer, viewer, axis: int) -> int:
    """The viewer's dims axis of ``layer``'s axis ``axis`` (layers are right-aligned)."""
    return axis + viewer.dims.ndim - layer.ndim


def frame_axes(layer, viewer) -> list[int]:
    """Layer axes that can be propagated: those not displayed."""
    displayed = set(viewer.dims.displayed)
    return [a for a in range(layer.ndim) if world_axis(layer, viewer, a) not in displayed]


def data_position(layer, viewer):
    """The viewer's current point in ``layer``'s data coordinates."""
    return layer.world_to_data(list(viewer.dims.point)[-layer.ndim :])


@dataclass(frozen=True)
class FileAxes:
    """What the file a layer was opened from says of its axes (tifffile letters)."""

    axes: str | None = None
    scale: dict[str, float] = field(default_factory=dict)
    unit: str | None = None


def file_axes(layer) -> FileAxes:
    """Axes, pixel size and unit of the file ``layer`` was opened from, when its shape is the
    layer's (nothing when the layer was not opened from a file we can read)."""
    path = getattr(getattr(layer, "source", None), "path", None)
    if not path or not os.path.exists(path):
        return FileAxes()
    stat = os.stat(path)
    found = _read_file_axes(str(path), stat.st_mtime_ns, stat.st_size)
    if found is None or found[0] != tuple(layer_data(layer).shape):
        return FileAxes()
    return found[1]


@functools.lru_cache(maxsize=32)
def _read_file_axes(path: str, _mtime: int, _size: int):
    from ..core.errors import Sam2Error
    from ..core.images import read_image

    try:
        image = read_image(path)
    except (Sam2Error, OSError, ValueError):
        return None
    try:
        return tuple(image.data.shape), FileAxes(image.axes, dict(image.scale), image.unit)
    finally:
        image.close()


def _named(text: str) -> bool:
    return bool(text) and not text.lstrip("-").isdigit()


def axis_label(layer, viewer, axis: int) -> str:
    """What ``layer``'s axis is called: its own axis label, the file's axis letter, or the
    viewer's axis label; "" when none names it."""
    labels = tuple(getattr(layer, "axis_labels", ()) or ())
    if axis < len(labels) and _named(str(labels[axis])):
        return str(labels[axis])
    axes = file_axes(layer).axes
    if axes and len(axes) == layer.ndim and axes[axis] not in "YXQ":
        return axes[axis].lower()
    name = str(viewer.dims.axis_labels[world_axis(layer, viewer, axis)])
    return name if _named(name) else ""


def axis_name(layer, viewer, axis: int) -> str:
    """``axis 0 (z)`` where the layer, its file or the viewer names the axis, else ``axis 0``."""
    name = axis_label(layer, viewer, axis)
    return f"axis {axis} ({name})" if name else f"axis {axis}"


def axis_letter(layer, viewer, axis: int | None) -> str:
    """``Z`` for an axis named like a z axis, ``T`` for any other (or none)."""
    if layer is None or axis is None:
        return "T"
    name = axis_label(layer, viewer, axis).strip().lower()
    return "Z" if name in ("z", "slice", "slices", "depth", "plane") else "T"


def physical_scale(layer) -> tuple[tuple[float, ...], str | None]:
    """The layer's scale and unit; the file's where the layer says nothing (all ones, pixels)."""
    scale = tuple(float(v) for v in layer.scale)
    units = [str(u) for u in (getattr(layer, "units", None) or ())]
    unit = next((u for u in units[-2:] if u not in ("pixel", "px", "")), None)
    found = file_axes(layer)
    if any(v != 1.0 for v in scale) or not found.axes or len(found.axes) != layer.ndim:
        return scale, unit
    return tuple(float(found.scale.get(letter, 1.0)) for letter in found.axes), unit or found.unit


def held_indices(layer, viewer, frame_axis: int) -> dict[int, int]:
    """Current slider index of every non-displayed axis other than the frame axis."""
    position = data_position(layer, viewer)
    shape = layer_data(layer).shape
    return {
        axis: int(min(max(round(float(position[axis])), 0), shape[axis] - 1))
        for axis in frame_axes(layer, viewer)
        if axis != frame_axis
    }


def is_single_image(layer) -> bool:
    """A 2-D image (RGB included): tracked as a stack of one frame."""
    return layer.ndim == 2


def source_from_layer(layer, viewer, *, frame_axis: int | None = None, roi=None) -> FrameSource:
    """A FrameSource over ``layer`` along ``frame_axis`` at the viewer's current indices.

    A 2-D image is a stack of one frame (``frame_axis`` is then ignored).
    """
    contrast = None if layer.rgb else tuple(float(v) for v in layer.contrast_limits)
    if is_single_image(layer):
        return FrameSource(layer_data(layer), frame_axis=None, rgb=bool(layer.rgb), contrast_limits=contrast, roi=roi)
    axis = default_frame_axis(layer, viewer) if frame_axis is None else frame_axis
    if axis not in frame_axes(layer, viewer):
        raise Sam2InputError(f"Axis {axis} is displayed; choose an axis that has a slider.")
    return FrameSource(
        layer_data(layer),
        frame_axis=axis,
        held=held_indices(layer, viewer, axis),
        rgb=bool(layer.rgb),
        contrast_limits=contrast,
        roi=roi,
    )


def image_layers(viewer) -> list:
    """Image layers the tracker can use: stacks, and 2-D images as one frame."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def labels_layers(viewer) -> list:
    from napari.layers import Labels

    return [layer for layer in viewer.layers if isinstance(layer, Labels)]
