"""Read prompts from napari layers: a Points layer (clicks) and a Shapes layer (boxes).

Both layers share the image layer's data coordinates. Each point or rectangle carries the
features ``object_id`` (and ``positive`` for points). Only prompts at the current held
indices of the other axes (for example the current T when propagating along Z) belong to
the active session; the others are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.io import BoxRow, PointRow
from ..core.session import Point


@dataclass
class PromptGroup:
    points: list[Point] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None

    def key(self) -> tuple:
        return (tuple(self.points), self.box)


def _on_held(coords: np.ndarray, held: dict[int, int]) -> bool:
    return all(int(round(float(coords[a]))) == i for a, i in held.items())


def point_groups(points_layer, frame_axis: int, held: dict[int, int]) -> dict[tuple[int, int], PromptGroup]:
    """``(object id, frame) -> PromptGroup`` from a Points layer."""
    groups: dict[tuple[int, int], PromptGroup] = {}
    if points_layer is None or len(points_layer.data) == 0:
        return groups
    features = points_layer.features
    for coords, obj, positive in zip(points_layer.data, features["object_id"], features["positive"]):
        if not _on_held(coords, held):
            continue
        frame = int(round(float(coords[frame_axis])))
        group = groups.setdefault((int(obj), frame), PromptGroup())
        group.points.append(Point(float(coords[-2]), float(coords[-1]), bool(positive)))
    return groups


def add_box_groups(groups, shapes_layer, frame_axis: int, held: dict[int, int]) -> dict[tuple[int, int], PromptGroup]:
    """Add each rectangle of a Shapes layer as the box of its object on its frame."""
    if shapes_layer is None or len(shapes_layer.data) == 0:
        return groups
    ids = shapes_layer.features["object_id"] if "object_id" in shapes_layer.features else [1] * len(shapes_layer.data)
    for corners, obj, kind in zip(shapes_layer.data, ids, shapes_layer.shape_type):
        if kind != "rectangle" or not _on_held(corners[0], held):
            continue
        frame = int(round(float(corners[0][frame_axis])))
        y0, x0 = corners[:, -2].min(), corners[:, -1].min()
        y1, x1 = corners[:, -2].max(), corners[:, -1].max()
        group = groups.setdefault((int(obj), frame), PromptGroup())
        group.box = (float(y0), float(x0), float(y1), float(x1))
    return groups


def rows_from_groups(groups: dict[tuple[int, int], PromptGroup]) -> tuple[list[PointRow], list[BoxRow]]:
    """The CLI's CSV rows for these prompts."""
    points, boxes = [], []
    for (obj, frame), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        points += [PointRow(obj, frame, p.y, p.x, p.positive) for p in group.points]
        if group.box is not None:
            boxes.append(BoxRow(obj, frame, *group.box))
    return points, boxes


def point_coords(row: PointRow, ndim: int, frame_axis: int, held: dict[int, int]) -> list[float]:
    """Layer data coordinates of a CSV row at the current held indices."""
    coords = [0.0] * ndim
    for axis, index in held.items():
        coords[axis] = float(index)
    coords[frame_axis] = float(row.frame)
    coords[-2], coords[-1] = row.y, row.x
    return coords
