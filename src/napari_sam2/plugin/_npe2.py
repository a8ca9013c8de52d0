"""The npe2 contributions: the writers (labels -> TIFF + JSON, or into an OME-Zarr image's
``labels/`` group) and the readers (napari-sam2 files:
prompt CSVs; a result opened through its sidecar ``LABELS.json``, through a Cell Tracking
Challenge folder's ``res_track.txt``, or as a GEFF store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core import outputs, prompt_files
from ..core.labels import saved_label_dtype
from ..core.outputs import labels_axes


def write_labels_file(
    path: str | Path,
    data: Any,
    *,
    scale=None,
    unit: str | None = None,
    axes: str | None = None,
    sidecar: dict | None = None,
    inputs: tuple = (),
) -> list[str]:
    """Write labels as one unit (see core.outputs): a TIFF (ImageJ for uint16) plus its JSON,
    or, for ``image.zarr`` (or ``image.zarr/labels/NAME``), a label image in that OME-Zarr
    image's ``labels/`` group with the sidecar in its attributes (core.ome_zarr).

    ``axes`` are tifffile letters (``ZYX`` for a z-stack, ``TYX`` for a time-lapse);
    ``scale`` is the layer's scale in the same order, so the z-step or frame interval is
    kept. ``inputs`` are files the output must never replace (the image's own file).
    Returns the paths written.
    """
    from ..core.ome_zarr import LabelsZarrWriter, labels_target

    path = Path(path)
    into_zarr = labels_target(path) is not None
    if not into_zarr and path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    outputs.check_outputs(path, inputs=inputs, overwrite=True)  # napari's dialog already asked
    data = np.asarray(data)
    dtype = saved_label_dtype(data)
    if axes is None or len(axes) != data.ndim:
        axes = labels_axes(data.ndim) or "Q" * (data.ndim - 2) + "YX"
    options = {"shape": data.shape, "dtype": dtype, "axes": axes, "scale": _scale_by_letter(axes, scale), "unit": unit}
    writer = LabelsZarrWriter(path, **options) if into_zarr else outputs.LabelsTiffWriter(path, **options)
    try:
        for index in np.ndindex(*data.shape[:-2]):
            writer.write_frame(index, data[index])
        writer.commit(sidecar)
    except BaseException:
        writer.discard()
        raise
    return [str(writer.path)] if into_zarr else [str(path), str(outputs.sidecar_path(path))]


def _scale_by_letter(axes: str, scale) -> dict[str, float]:
    if scale is None or len(scale) != len(axes):
        return {}
    return {letter: float(s) for letter, s in zip(axes, scale) if letter in "TZYX" and float(s) > 0}


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels layer to ``LABELS.tif`` + ``LABELS.json``, or into the
    ``labels/`` group of the OME-Zarr image ``path`` (``image.zarr``)."""
    provenance = (meta.get("metadata") or {}).get("napari_sam2")
    return write_labels_file(path, data, scale=meta.get("scale"), sidecar=provenance)


def get_prompts_reader(path: str | list[str]):
    """npe2 reader: our prompt CSV (object_id,frame,y,x,positive) as a Points layer."""
    if isinstance(path, list) or not str(path).lower().endswith(".csv"):
        return None
    try:
        with Path(path).open(encoding="utf-8-sig") as handle:
            header = handle.readline().strip().split(",")
    except OSError:
        return None
    if not {"object_id", "frame", "y", "x"} <= set(header):
        return None
    return _read_prompts


def _read_prompts(path: str):
    rows = prompt_files.read_point_prompts(path)
    data = np.array([[r.frame, r.y, r.x] for r in rows], dtype=float)
    features = {"object_id": [r.object_id for r in rows], "positive": [r.positive for r in rows]}
    return [(data, {"name": Path(path).stem, "features": features, "size": 8}, "points")]


# -- results: a label TIFF opened through its sidecar ---------------------------------------------
def get_result_reader(path: str | list[str]):
    """npe2 reader: ``LABELS.json``, a napari-sam2 sidecar, opens its result (see :func:`read_result`)."""
    if isinstance(path, list) or not str(path).lower().endswith(".json"):
        return None
    try:
        head = Path(path).read_text(encoding="utf-8")[:200_000]
    except OSError:
        return None
    if '"labels_run_id"' not in head or '"napari_sam2_version"' not in head:
        return None  # another program's JSON
    return read_result


def read_result(path: str) -> list[tuple]:
    """The labels beside a sidecar, with the sidecar in their metadata (the tracker finds its
    objects, scores, lineage and review marks there), and a Tracks layer of the lineage.

    A sidecar written for another run than the TIFF beside it gives the labels alone, with
    one notification saying why."""
    import tifffile

    from ..core.errors import Sam2InputError
    from ..core.images import tiff_scale
    from ..core.outputs import read_sidecar
    from ._notify import notify

    labels_path = _labels_beside(Path(path))
    with tifffile.TiffFile(labels_path) as tif:
        series = tif.series[0]
        data, axes = series.asarray(), series.axes
        by_letter, _ = tiff_scale(tif)  # the pixel size the input reader finds
    scale = tuple(by_letter.get(letter, 1.0) for letter in axes)
    try:
        sidecar = read_sidecar(labels_path)
    except Sam2InputError as exc:
        notify(f"{exc} Opened as plain labels.")
        sidecar = None
    meta = {"name": labels_path.stem, "scale": scale, "metadata": {"napari_sam2": sidecar} if sidecar else {}}
    return [(data, meta, "labels"), *(_tracks_layers(data, sidecar, scale) if sidecar else [])]


def _labels_beside(sidecar: Path) -> Path:
    from ..core.errors import Sam2InputError

    for suffix in (".tif", ".tiff"):
        if sidecar.with_suffix(suffix).exists():
            return sidecar.with_suffix(suffix)
    raise Sam2InputError(f"{sidecar.name} describes labels, but {sidecar.with_suffix('.tif').name} is not beside it.")


def _tracks_of(data: np.ndarray, sidecar: dict):
    """napari Tracks data ``[id, t, y, x]`` and graph from the sidecar's lineage (2-D + time)."""
    from ..core.lineage import Lineage, label_centres

    rows = sidecar.get("lineage")
    if not isinstance(rows, list) or not rows or data.ndim != 3:
        return None
    lineage = Lineage.from_dict(rows)
    points = [
        [obj, frame, y, x]
        for frame in range(data.shape[0])
        for obj, (y, x) in label_centres(data[frame]).items()
        if obj in lineage.tracks and lineage.tracks[obj].first <= frame <= lineage.tracks[obj].last
    ]
    if not points:
        return None
    present = {int(p[0]) for p in points}
    graph = {k: v for k, v in lineage.graph().items() if k in present and v[0] in present}
    return np.array(sorted(points), dtype=float), graph


# -- results: a Cell Tracking Challenge folder, a GEFF store ---------------------------------------
def get_ctc_reader(path: str | list[str]):
    """npe2 reader: a CTC folder's ``res_track.txt`` (or a ground truth's ``man_track.txt``)."""
    from ..core.ctc import TRACK_FILES

    if isinstance(path, list) or Path(path).name not in TRACK_FILES:
        return None
    return read_ctc


def read_ctc(path: str) -> list[tuple]:
    """The folder's masks as labels, with the lineage in their metadata (the tracker takes
    it up, as from a sidecar), and a Tracks layer of it."""
    from ..core.ctc import open_ctc

    folder = open_ctc(path)
    data = folder.read()
    sidecar = _opened_sidecar("ctc", folder.track_file, folder.lineage)
    meta = {"name": folder.folder.name, "metadata": {"napari_sam2": sidecar}}
    return [(data, meta, "labels"), *_tracks_layers(data, sidecar, (1.0, 1.0, 1.0))]


def get_geff_reader(path: str | list[str]):
    """npe2 reader: a GEFF store (a ``.geff`` folder with GEFF metadata)."""
    from ..core.geff_read import is_geff

    if isinstance(path, list) or not str(path).rstrip("/\\").lower().endswith(".geff") or not is_geff(path):
        return None
    return read_geff_layers


def read_geff_layers(path: str) -> list[tuple]:
    """A Tracks layer of the store's lineage, with the labels it names when it names any."""
    from ..core.geff_read import read_geff

    found = read_geff(path)
    layers = []
    name = Path(str(path).rstrip("/\\")).stem
    if found.labels is not None:
        sidecar = _opened_sidecar("geff", path, found.lineage)
        meta = {"name": name, "scale": found.scale, "metadata": {"napari_sam2": sidecar}}
        layers.append((found.labels, meta, "labels"))
    return [*layers, _tracks_layer(found.data, found.graph, found.scale)]


def _opened_sidecar(source: str, path, lineage) -> dict:
    """What labels opened from another format carry for the tracker: their lineage."""
    from .. import __version__

    return {
        "napari_sam2_version": __version__,
        "source": source,
        "opened_from": str(path),
        "lineage": lineage.as_dict(),
    }


def _tracks_layers(data: np.ndarray, sidecar: dict, scale) -> list[tuple]:
    """The Tracks layer of a sidecar's lineage over ``data``; none when nothing to draw."""
    tracks = _tracks_of(data, sidecar)
    return [] if tracks is None else [_tracks_layer(tracks[0], tracks[1], scale)]


def _tracks_layer(data: np.ndarray, graph: dict, scale) -> tuple:
    from ._names import TRACKS_LAYER

    return data, {"name": TRACKS_LAYER, "graph": graph, "scale": scale, "tail_length": 8}, "tracks"
