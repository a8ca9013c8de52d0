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


def frame_axes(layer, viewer) -> list[int]:
    """Layer axes that can be propagated: those not displayed."""
    offset = viewer.dims.ndim - layer.ndim
    displayed = {d - offset for d in viewer.dims.displayed}
    return [a for a in range(layer.ndim) if a not in displayed]


def held_indices(layer, viewer, frame_axis: int) -> dict[int, int]:
    """Current slider index of every non-displayed axis other than the frame axis."""
    position = layer.world_to_data(list(viewer.dims.point)[-layer.ndim :])
    shape = layer_data(layer).shape
    return {
        axis: int(min(max(round(float(position[axis])), 0), shape[axis] - 1))
        for axis in frame_axes(layer, viewer)
        if axis != frame_axis
    }


def source_from_layer(layer, viewer, *, frame_axis: int | None = None, roi=None) -> FrameSource:
    """A FrameSource over ``layer`` along ``frame_axis`` at the viewer's current indices."""
    if layer.ndim < 3:
        raise Sam2InputError(
            f"Layer {layer.name!r} is {layer.ndim}-D; SAM 2 tracking needs a stack (frames or slices plus Y and X)."
        )
    axis = default_frame_axis(layer, viewer) if frame_axis is None else frame_axis
    if axis not in frame_axes(layer, viewer):
        raise Sam2InputError(f"Axis {axis} is displayed; choose an axis that has a slider.")
    contrast = None if layer.rgb else tuple(float(v) for v in layer.contrast_limits)
    return FrameSource(
        layer_data(layer),
        frame_axis=axis,
        held=held_indices(layer, viewer, axis),
        rgb=bool(layer.rgb),
        contrast_limits=contrast,
        roi=roi,
    )
