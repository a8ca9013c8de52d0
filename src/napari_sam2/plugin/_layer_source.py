"""Build the engine's FrameSource from a napari image layer and the viewer's dims.

The propagated axis is a layer axis that is not displayed; every other non-displayed axis
is held at the slider's current index. Intensities reach the model through the layer's own
contrast limits, so the model sees what the user sees.
"""

from __future__ import annotations

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


def axis_name(layer, viewer, axis: int) -> str:
    """``axis 0 (z)`` where the layer (or the viewer) names the axis, else ``axis 0``."""
    labels = tuple(getattr(layer, "axis_labels", ()) or ())
    name = str(labels[axis]) if axis < len(labels) else ""
    if not name or name.lstrip("-").isdigit():
        name = str(viewer.dims.axis_labels[world_axis(layer, viewer, axis)])
    return f"axis {axis}" if name.lstrip("-").isdigit() else f"axis {axis} ({name})"


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
