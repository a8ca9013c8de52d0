"""Read prompts from napari layers: a Points layer (clicks) and a Shapes layer (boxes).

Both layers share the image layer's data coordinates. Each point or rectangle carries the
features ``object_id`` (and ``positive`` for points). Only prompts at the current held
indices of the other axes (for example the current T when propagating along Z) belong to
the active session; the others are left alone. ``frame_axis`` is None for a 2-D image:
every prompt is then on frame 0.
"""

from __future__ import annotations

import numpy as np

from ..core.prompt_files import PointRow
from ..core.prompts import Groups, Point, PromptGroup


def on_held(coords, held: dict[int, int]) -> bool:
    """Layer coordinates ``coords`` lie at the held indices (the slice tracked now)."""
    return all(int(round(float(coords[a]))) == i for a, i in held.items())


def frame_of(coords, frame_axis: int | None) -> int:
    """The frame of layer coordinates ``coords`` (a 2-D image is frame 0)."""
    return 0 if frame_axis is None else int(round(float(coords[frame_axis])))


def point_groups(points_layer, frame_axis: int | None, held: dict[int, int]) -> Groups:
    """``(object id, frame) -> PromptGroup`` from a Points layer, clicks in layer order."""
    groups: Groups = {}
    if points_layer is None or len(points_layer.data) == 0:
        return groups
    features = points_layer.features
    for coords, obj, positive in zip(points_layer.data, features["object_id"], features["positive"]):
        if not on_held(coords, held):
            continue
        group = groups.setdefault((int(obj), frame_of(coords, frame_axis)), PromptGroup())
        group.points.append(Point(float(coords[-2]), float(coords[-1]), bool(positive)))
    return groups


def add_box_groups(groups: Groups, shapes_layer, frame_axis: int | None, held: dict[int, int]) -> Groups:
    """Add each rectangle of a Shapes layer as the box of its object on its frame."""
    if shapes_layer is None or len(shapes_layer.data) == 0:
        return groups
    ids = shapes_layer.features["object_id"] if "object_id" in shapes_layer.features else [1] * len(shapes_layer.data)
    for corners, obj, kind in zip(shapes_layer.data, ids, shapes_layer.shape_type):
        if kind != "rectangle" or not on_held(corners[0], held):
            continue
        group = groups.setdefault((int(obj), frame_of(corners[0], frame_axis)), PromptGroup())
        group.box = box_of(corners)
    return groups


def box_of(corners) -> tuple[float, float, float, float]:
    """``(y0, x0, y1, x1)`` of a rectangle's corners (in layer data coordinates)."""
    corners = np.asarray(corners)
    return (
        float(corners[:, -2].min()),
        float(corners[:, -1].min()),
        float(corners[:, -2].max()),
        float(corners[:, -1].max()),
    )


def point_coords(row: PointRow, ndim: int, frame_axis: int | None, held: dict[int, int]) -> list[float]:
    """Layer data coordinates of a CSV row at the current held indices."""
    coords = [0.0] * ndim
    for axis, index in held.items():
        coords[axis] = float(index)
    if frame_axis is not None:
        coords[frame_axis] = float(row.frame)
    coords[-2], coords[-1] = row.y, row.x
    return coords


def keep_only(layer, keep: np.ndarray) -> None:
    """Remove the points (or shapes) where ``keep`` is False (napari records it for undo)."""
    if len(layer.data) and not keep.all():
        layer.selected_data = set(np.flatnonzero(~keep).tolist())
        layer.remove_selected()
