"""A GEFF store read back as tracks: napari Tracks data, the lineage, and the labels when the
store names a segmentation (``related_objects`` of type ``labels``).

Any GEFF written by a tool that follows the specification opens, not only ours: cells are
the nodes (a ``time`` axis and two space axes), tracks are the tracklets of the graph (runs
of nodes joined one to one), and a tracklet's parent is the tracklet its first node comes
from. A tracklet keeps the id the store gives it (``track_node_props["tracklet"]``, else
``seg_id`` when the tracklet's nodes all share one): then the ids match the labels. Reading
goes through the ``geff`` package, with its validation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import Sam2InputError
from .lineage import Lineage


@dataclass
class GeffTracks:
    """What a GEFF store gives napari: Tracks ``data`` ``[id, t, y, x]`` and ``graph``
    (daughter -> [parents]), the ``lineage``, the (t, y, x) ``scale``, and ``labels``
    (a ``(T, Y, X)`` array) when the store names them."""

    data: np.ndarray
    graph: dict[int, list[int]]
    lineage: Lineage
    scale: tuple[float, float, float]
    labels: np.ndarray | None = None


def is_geff(path: str | os.PathLike) -> bool:
    """A folder whose zarr attributes hold GEFF metadata (zarr 2 or 3)."""
    path = Path(path)
    for name in ("zarr.json", ".zattrs"):
        try:
            if '"geff"' in (path / name).read_text(encoding="utf-8")[:100_000]:
                return True
        except OSError:
            continue
    return False


def read_geff(path: str | os.PathLike) -> GeffTracks:
    """The store at ``path`` as :class:`GeffTracks`; one line (:class:`Sam2InputError`) for a
    store that is not GEFF, has no time or space axes, or has no lineage (no edges)."""
    import geff

    path = Path(path)
    if not is_geff(path):
        raise Sam2InputError(f"{path.name} is not a GEFF store (no geff metadata in its zarr attributes).")
    try:
        graph, meta = geff.read(str(path))
    except Exception as exc:  # the geff package's validation: say its first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Sam2InputError(f"{path.name} is not a valid GEFF store: {first}") from None
    t_axis, y_axis, x_axis, scale = _axes(path, meta)
    if graph.number_of_edges() == 0:
        raise Sam2InputError(f"{path.name} has cells but no edges between them: there is no lineage to show.")
    tracklet_of, parents, ids = _tracklets(graph, t_axis, _id_prop(graph, meta))
    points = sorted(
        [ids[tracklet_of[n]], float(a[t_axis]), float(a[y_axis]), float(a[x_axis])] for n, a in graph.nodes(data=True)
    )
    spans: dict[int, list[int]] = {}
    for node, tracklet in tracklet_of.items():
        t = int(graph.nodes[node][t_axis])
        first, last = spans.get(tracklet, (t, t))
        spans[tracklet] = [min(first, t), max(last, t)]
    rows = [
        {"id": ids[k], "first": spans[k][0], "last": spans[k][1], "parent": ids[parents[k][0]] if parents[k] else 0}
        for k in ids
    ]
    tree = {ids[k]: [ids[p] for p in v] for k, v in parents.items() if v}
    labels = _related_labels(path, meta)
    return GeffTracks(np.array(points, float), tree, Lineage.from_dict(rows), scale, labels)


def _axes(path: Path, meta):
    axes = list(meta.axes or [])
    time = [a for a in axes if a.type == "time"]
    space = [a for a in axes if a.type == "space"]
    if len(time) != 1 or len(space) < 2:
        raise Sam2InputError(f"{path.name} needs one time axis and two space axes; it has {[a.name for a in axes]}.")
    t, (y, x) = time[0], space[-2:]
    scale = tuple(float(a.scale) if a.scale else 1.0 for a in (t, y, x))
    return t.name, y.name, x.name, scale


def _id_prop(graph, meta) -> str | None:
    named = (meta.track_node_props or {}).get("tracklet")
    if named:
        return named
    return "seg_id" if all("seg_id" in a for _, a in graph.nodes(data=True)) else None


def _tracklets(graph, t_axis: str, id_prop: str | None):
    """Each node's tracklet (a run of nodes joined one to one, and of one id where the store
    gives ids: a cell that left and came back is two tracks, as in CTC), each tracklet's
    parents, and its track id (the store's where they are unique; else numbered)."""
    order = sorted(graph.nodes, key=lambda n: graph.nodes[n][t_axis])
    tracklet_of: dict = {}
    parents: dict[int, list[int]] = {}
    for node in order:
        before = list(graph.predecessors(node))
        joined = len(before) == 1 and graph.out_degree(before[0]) == 1
        if joined and id_prop is not None:  # and of one id, where the store gives ids
            joined = graph.nodes[node].get(id_prop) == graph.nodes[before[0]].get(id_prop)
        if joined:
            tracklet_of[node] = tracklet_of[before[0]]
        else:
            tracklet_of[node] = len(parents)
            parents[len(parents)] = sorted({tracklet_of[b] for b in before})
    ids: dict[int, int] = {}
    if id_prop is not None:
        given: dict[int, set] = {}
        for node, k in tracklet_of.items():
            given.setdefault(k, set()).add(graph.nodes[node].get(id_prop))
        values = [next(iter(v)) for v in given.values() if len(v) == 1]
        if (
            all(len(v) == 1 for v in given.values())
            and len(set(values)) == len(values)
            and all(isinstance(v, (int, np.integer)) and v > 0 for v in values)
        ):
            ids = {k: int(next(iter(v))) for k, v in given.items()}
    if not ids:
        ids = {k: k + 1 for k in parents}
    return tracklet_of, parents, ids


def _related_labels(path: Path, meta) -> np.ndarray | None:
    """The segmentation the store names, read whole (a zarr array or a TIFF); None if none."""
    related = [r for r in (meta.related_objects or []) if r.type == "labels"]
    if not related:
        return None
    where = (path / related[0].path).resolve()
    if not where.exists():
        raise Sam2InputError(f"{path.name} names labels at {related[0].path}, which does not exist.")
    if where.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(where)
    import zarr

    return np.asarray(zarr.open_array(str(where), mode="r"))
