"""The napari side of population tracking: seeds shown before a run, a Tracks layer that
fills in as the run goes, and the lineage exported as CTC or GEFF.

The run itself is a task of the session's owner (:meth:`SessionOwner.population_task`),
written into the labels like any propagation (one undo step, cancel, progress).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import Sam2InputError
from ..core.lineage import Lineage
from ..core.seeders import (
    Seeds,
    full_frame_grayscale,
    seeds_as_labels,
    seeds_from_labels,
    threshold_detector,
    threshold_seeds,
)

SEEDS_LAYER = "SAM 2 seeds"
TRACKS_LAYER = "SAM 2 tracks"
THRESHOLD = "threshold (bright nuclei)"
EVERYTHING = "SAM 2 (segment everything)"


class PopulationView:
    """Main thread: the previewed seeds, the lineage copy and the Tracks layer."""

    def __init__(self, binding) -> None:
        self.binding = binding
        self.seeds: Seeds | None = None
        self.seed_frame: int | None = None
        self.lineage = Lineage()
        self.running = False
        self._centres: dict[tuple[int, int], tuple[float, float]] = {}  # (track, frame) -> (y, x)
        self.tracks_layer = None

    def check_image(self) -> None:
        image = self.binding.image
        if image is None:
            raise Sam2InputError("Choose an image layer first.")
        if image.ndim != 3 or self.binding.frame_axis != 0:
            raise Sam2InputError("Tracking all cells needs a time-lapse of shape (T, Y, X) propagated along T.")

    def preview(self, seeder: str, frame: int, source) -> int:
        """Find the seeds on ``frame`` and show them in a 2-D Labels layer; returns how many."""
        self.check_image()
        viewer = self.binding.viewer
        if seeder == EVERYTHING:
            raise ValueError("SAM 2's seeds come from the worker: see TrackerController.preview_seeds")
        if seeder == THRESHOLD:
            seeds = threshold_seeds(full_frame_grayscale(source, frame))
        else:
            if seeder not in viewer.layers:
                raise Sam2InputError(f"There is no labels layer {seeder!r} to take seeds from.")
            layer = viewer.layers[seeder]
            plane = np.asarray(layer.data[frame] if layer.ndim == 3 else layer.data)
            seeds = seeds_from_labels(plane, frame_shape=source.full_frame_shape)
        return self.show(seeds, frame, source.full_frame_shape)

    def show(self, seeds: Seeds, frame: int, frame_shape) -> int:
        """Show ``seeds`` in the 2-D *SAM 2 seeds* layer; they are what *Track all* follows."""
        if not seeds:
            raise Sam2InputError(f"No cell was found on frame {frame}.")
        viewer = self.binding.viewer
        preview = seeds_as_labels(seeds, frame_shape, np.uint16)
        image = self.binding.image
        if SEEDS_LAYER in viewer.layers:
            viewer.layers[SEEDS_LAYER].data = preview
        else:
            viewer.add_labels(preview, name=SEEDS_LAYER, scale=image.scale[-2:], translate=image.translate[-2:])
        self.seeds, self.seed_frame = seeds, frame
        return len(seeds)

    def request(self, source, *, redetect_every: int, divisions: bool):
        """The worker's population task for the previewed seeds (re-detection by threshold)."""
        from ..core.population import PopulationOptions
        from ._session_owner import PopulationRequest

        self.check_image()
        if self.seeds is None:
            raise Sam2InputError("Preview the seeds first: they are the cells that will be tracked.")
        detect = threshold_detector(source) if redetect_every else None
        options = PopulationOptions(redetect_every=redetect_every, divisions=divisions)
        return PopulationRequest(dict(self.seeds), self.seed_frame, options, detect)

    def start(self) -> None:
        self.running, self.lineage, self._centres = True, Lineage(), {}

    def frame_tracked(self, result) -> None:
        if not self.running:
            return
        roi = result.roi
        for obj, mask in zip(result.object_ids, result.masks):
            if mask.any():
                ys, xs = np.nonzero(mask)
                self._centres[(int(obj), result.frame)] = (float(ys.mean() + roi.y0), float(xs.mean() + roi.x0))

    def lineage_updated(self, rows: list[dict]) -> None:
        self.lineage = Lineage.from_dict(rows)
        self._show_tracks()

    def _show_tracks(self) -> None:
        if not self._centres:
            return
        data = np.array([[obj, t, y, x] for (obj, t), (y, x) in sorted(self._centres.items())], dtype=float)
        graph = {k: v for k, v in self.lineage.graph().items() if k in {int(i) for i in data[:, 0]}}
        viewer, image = self.binding.viewer, self.binding.image
        if self.tracks_layer is None or self.tracks_layer not in viewer.layers:
            self.tracks_layer = viewer.add_tracks(
                data, graph=graph, name=TRACKS_LAYER, scale=image.scale, translate=image.translate, tail_length=8
            )
        else:
            self.tracks_layer.data = data
            self.tracks_layer.graph = graph
        viewer.layers.selection.active = self.binding.points

    def export_ctc(self, folder: Path) -> Path:
        from ..core.ctc import write_ctc

        return write_ctc(folder, self._labels(), self.lineage)

    def export_geff(self, path: Path) -> Path:
        from ..core.geff_export import write_geff

        return write_geff(path, self._labels(), self.lineage, scale=tuple(self.binding.image.scale))

    def _labels(self) -> np.ndarray:
        if self.binding.labels is None or not len(self.lineage):
            raise Sam2InputError("Track all cells first: there is no lineage to export.")
        return np.asarray(self.binding.labels.data)
