"""Sample data for napari's File > Open Sample menu: synthetic 16-bit stacks with prompts."""

from __future__ import annotations

import numpy as np

from ..core.sample import make_timelapse, make_zstack


def _points_layer(prompts, name: str, **geometry):
    data = np.array([[p.frame, p.y, p.x] for p in prompts], dtype=float)
    features = {"object_id": [p.object_id for p in prompts], "positive": [p.positive for p in prompts]}
    meta = {"name": name, "features": features, "size": 6, "face_color": "yellow", **geometry}
    return (data, meta, "points")


def timelapse_sample():
    """Cells drifting, deforming and touching over 24 frames, with one click per cell."""
    stack, prompts = make_timelapse(24)
    axes = {"axis_labels": ("t", "y", "x")}
    return [
        (stack, {"name": "cells (time-lapse)", "colormap": "gray", **axes}, "image"),
        _points_layer(prompts, "example clicks", **axes),
    ]


def zstack_sample():
    """Three nuclei through 21 confocal-like slices, with one click per nucleus."""
    stack, prompts = make_zstack(21)
    geometry = {"scale": (2.0, 1.0, 1.0), "axis_labels": ("z", "y", "x")}  # the z-step is twice the pixel size
    return [
        (stack, {"name": "nuclei (z-stack)", "colormap": "gray", **geometry}, "image"),
        _points_layer(prompts, "example clicks", **geometry),
    ]
