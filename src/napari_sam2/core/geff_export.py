"""GEFF (graph exchange file format) export of a tracked population, written with ``geff``.

Nodes are cells on frames: ``t``, ``y``, ``x`` (centroid, pixels), ``track_id`` and
``seg_id`` (the label in the exported masks), and ``area``. When the masks are in a file
(the ``track`` output), the store names it as its segmentation (``related_objects``, type
``labels``, linked by ``seg_id``, its path relative to the store), so a GEFF reader finds the
masks with the graph. Edges link a cell to itself on
the next frame, and a mother's last node to each daughter's first. Tracks are those of the
CTC export (:class:`~napari_sam2.core.ctc.CtcTracks`), so both files tell the same story.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .ctc import CtcTracks
from .errors import Sam2InputError
from .lineage import Lineage


def lineage_graph(labels: np.ndarray, lineage: Lineage | None = None):
    """A networkx DiGraph of the population (see the module docstring)."""
    import networkx as nx
    from scipy import ndimage

    plan = CtcTracks(labels, lineage)
    tracks = plan.tracks
    graph = nx.DiGraph()
    node_of: dict[tuple[int, int], int] = {}
    for frame in range(labels.shape[0]):  # one frame in memory at a time
        plane = plan.frame(frame)
        ids = [int(i) for i in np.unique(plane) if i]
        if not ids:
            continue
        centres = ndimage.center_of_mass(np.ones(plane.shape), plane, ids)
        areas = ndimage.sum_labels(np.ones(plane.shape), plane, ids)
        for label, (y, x), area in zip(ids, centres, areas):
            node = len(node_of)
            node_of[(label, frame)] = node
            graph.add_node(node, t=frame, y=float(y), x=float(x), track_id=label, seg_id=label, area=float(area))
    for track in tracks:
        for frame in range(track.first, track.last):
            graph.add_edge(node_of[(track.id, frame)], node_of[(track.id, frame + 1)])
        if track.parent:
            parent = next(t for t in tracks if t.id == track.parent)
            graph.add_edge(node_of[(parent.id, parent.last)], node_of[(track.id, track.first)])
    return graph


def write_geff(
    path: str | os.PathLike,
    labels: np.ndarray,
    lineage: Lineage | None = None,
    *,
    scale=None,
    overwrite=False,
    segmentation: str | os.PathLike | None = None,
) -> Path:
    """Write the population graph to ``path`` (a ``.geff`` zarr folder), as one unit;
    ``segmentation``: the file or zarr array that holds ``labels``, named in the store."""
    import geff

    path = Path(path)
    if path.exists() and not overwrite:
        raise Sam2InputError(f"{path} exists already; choose another name or allow overwriting.")
    if not path.parent.is_dir():
        raise Sam2InputError(f"The folder {path.parent} does not exist.")
    t_step, y_step, x_step = tuple(float(s) for s in scale[-3:]) if scale is not None else (1.0, 1.0, 1.0)
    graph = lineage_graph(labels, lineage)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)) / path.name
    try:
        geff.write(
            graph,
            partial,
            axis_names=["t", "y", "x"],
            axis_types=["time", "space", "space"],
            axis_scales=[t_step, y_step, x_step],
        )
        if segmentation is not None:
            from geff_spec import GeffMetadata, RelatedObject

            meta = GeffMetadata.read(partial)
            where = Path(os.path.relpath(Path(segmentation).resolve(), path.resolve())).as_posix()
            meta.related_objects = [RelatedObject(type="labels", path=where, node_prop="seg_id")]
            meta.write(partial)
        if path.exists():
            shutil.rmtree(path)
        os.replace(partial, path)
    finally:
        shutil.rmtree(partial.parent, ignore_errors=True)
    return path
