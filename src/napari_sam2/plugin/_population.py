"""The napari side of population tracking: seeds shown before a run, the lineage and its
versions, a Tracks layer that fills in as the run goes, and the CTC and GEFF exports.

* **The run** is a task of the session's owner (:meth:`SessionOwner.population_task`),
  written into the labels like any propagation (one undo step, cancel, progress).
* **Re-detection follows the seeder**: the threshold seeder finds new cells by threshold, a
  Labels layer with one plane per frame by its planes, SAM 2 by segmenting the frame again.
* **The lineage follows undo.** Each run and each correction records the lineage it left
  with its undo item; after Ctrl-Z or redo the lineage is the one of the newest record
  still in the Labels layer's history, and the Tracks layer is rebuilt from the labels.
  Lineage and records live in the image's :class:`~._state.Workspace`.
* **Seeds are shown on their frame only**, in a Labels layer one frame deep placed at that
  frame, and a preview superseded by another (SAM 2's, still running) is never shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.errors import Sam2InputError
from ..core.lineage import Lineage, label_centres
from ..core.seeders import (
    Seeds,
    full_frame_grayscale,
    seeds_as_labels,
    seeds_from_labels,
    threshold_detector,
    threshold_seeds,
)
from . import _names
from ._run_history import in_undo_history
from ._settings import SAM_SEEDS, THRESHOLD_SEEDS

TRACKS_REFRESH_S = 1.0  # during a run, the Tracks layer is redrawn at most this often


def _frames_of(item: list) -> set[int]:
    """Frames a RunHistory item wrote (its atoms' keys start with the (T, Y, X) plane's frame)."""
    return {int(key[0]) for key, _, _ in item}


class PopulationView:
    """Main thread: the previewed seeds, the lineage and its versions (in the workspace), the
    Tracks layer."""

    def __init__(self, binding, state) -> None:
        self.binding, self.state = binding, state
        self.seeds: Seeds | None = None
        self.seed_frame: int | None = None
        self.seeder: str | None = None  # THRESHOLD_SEEDS, SAM_SEEDS or a Labels layer's name
        self.preview_id = 0  # the latest seeds preview; SAM 2's answer to an earlier one is dropped
        self.running = False
        self.tracks_layer = None
        self._centres: dict[int, dict[int, tuple[float, float]]] = {}  # frame -> track -> (y, x)
        self._drawn_at = 0.0
        self._options = None  # the last run's PopulationOptions

    @property
    def lineage(self) -> Lineage:
        return self.state.workspace.lineage

    @lineage.setter
    def lineage(self, value: Lineage) -> None:
        self.state.workspace.lineage = value

    def rebind(self) -> None:
        """Another image or labels: its lineage, and its Tracks layer drawn from its labels."""
        self.seeds = self.seed_frame = self.seeder = None
        self.preview_id += 1
        self._centres = {}
        if self.binding.labels is not None and len(self.lineage) and self.binding.frame_axis == 0:
            self._recentre(range(self.binding.frame_count()))
        self._show_tracks()

    def check_image(self) -> None:
        image = self.binding.image
        if image is None:
            raise Sam2InputError("Choose an image layer first.")
        if image.ndim != 3 or self.binding.frame_axis != 0:
            raise Sam2InputError("Tracking all cells needs a time-lapse of shape (T, Y, X) propagated along T.")

    # -- seeds ----------------------------------------------------------------------------------
    def preview(self, seeder: str, frame: int, source) -> int:
        """Find the seeds on ``frame`` and show them in a 2-D Labels layer; returns how many."""
        self.check_image()
        self.preview_id += 1
        if seeder == SAM_SEEDS:
            raise ValueError("SAM 2's seeds come from the worker: see PopulationActions.preview_seeds")
        if seeder == THRESHOLD_SEEDS:
            seeds = threshold_seeds(full_frame_grayscale(source, frame))
        else:
            layer = self._labels_layer(seeder)
            plane = np.asarray(layer.data[frame] if layer.ndim == 3 else layer.data)
            seeds = seeds_from_labels(plane, frame_shape=source.full_frame_shape)
        return self.show(seeds, frame, source.full_frame_shape, seeder)

    def _labels_layer(self, name: str):
        if name not in self.binding.viewer.layers:
            raise Sam2InputError(f"There is no labels layer {name!r} to take seeds from.")
        return self.binding.viewer.layers[name]

    def show(self, seeds: Seeds, frame: int, frame_shape, seeder: str) -> int:
        """Show ``seeds`` on their frame in the *SAM 2 seeds* layer; they are what *Track all* follows."""
        if not seeds:
            raise Sam2InputError(f"No cell was found on frame {frame}.")
        viewer = self.binding.viewer
        preview = seeds_as_labels(seeds, frame_shape, np.uint16)[None]  # one frame deep, placed at ``frame``
        image = self.binding.image
        translate = (image.translate[0] + frame * image.scale[0], *image.translate[-2:])
        if _names.SEEDS_LAYER in viewer.layers:
            layer = viewer.layers[_names.SEEDS_LAYER]
            layer.data, layer.translate = preview, translate
        else:
            viewer.add_labels(preview, name=_names.SEEDS_LAYER, scale=image.scale, translate=translate, opacity=0.5)
        self.seeds, self.seed_frame, self.seeder = seeds, frame, seeder
        return len(seeds)

    def hide_seeds(self) -> None:
        """The seeds were tracked: their preview goes (the labels show the cells now)."""
        viewer = self.binding.viewer
        if _names.SEEDS_LAYER in viewer.layers:
            viewer.layers.remove(_names.SEEDS_LAYER)

    def request(self, source, *, redetect_every: int, redetect_frames=(), divisions: bool):
        """The worker's population task for the previewed seeds."""
        from ..core.population import PopulationOptions, check_redetect_frames
        from ._session_owner import PopulationRequest

        self.check_image()
        if self.seeds is None:
            raise Sam2InputError("Preview the seeds first: they are the cells that will be tracked.")
        check_redetect_frames(redetect_frames, self.seed_frame, len(source))
        options = PopulationOptions(
            redetect_every=redetect_every, redetect_frames=tuple(redetect_frames), divisions=divisions
        )
        detect = self._detector(source) if redetect_every or redetect_frames else None
        self._options = options
        return PopulationRequest(dict(self.seeds), self.seed_frame, options, detect)

    def options(self):
        """The last run's rules, for a correction's run (which finds no new cells)."""
        from dataclasses import replace

        from ..core.population import PopulationOptions

        return replace(self._options or PopulationOptions(), redetect_every=0, redetect_frames=())

    def _detector(self, source):
        """Re-detection by the seeder that found the seeds (SAM 2's runs on the worker)."""
        if self.seeder == THRESHOLD_SEEDS:
            return threshold_detector(source)
        if self.seeder == SAM_SEEDS:
            return SAM_SEEDS
        layer = self._labels_layer(self.seeder)
        if layer.ndim != 3 or layer.data.shape[0] != len(source):
            raise Sam2InputError(
                f"Labels layer {self.seeder!r} has no plane per frame: new cells cannot be found in it. "
                "Set 'new cells every' to 0, or seed by threshold or SAM 2."
            )
        data = layer.data
        return lambda frame: np.asarray(data[frame])

    # -- a run and its lineage ------------------------------------------------------------------
    def start(self, *, continuing: bool = False) -> None:
        """A run begins: a new lineage, or (a correction) the current one continued."""
        self.running = True
        if not continuing:
            self.lineage, self._centres = Lineage(), {}

    def frame_tracked(self, frame: int) -> None:
        """The labels of ``frame`` were just written: their centres for the Tracks layer."""
        if self.running:
            self._centres[frame] = label_centres(self._plane(frame))

    def lineage_updated(self, rows: list[dict]) -> None:
        self.lineage = Lineage.from_dict(rows)
        if time.monotonic() - self._drawn_at >= TRACKS_REFRESH_S:
            self._show_tracks()

    def finished(self, item) -> None:
        """The run ended; ``item`` is its undo item (None: it wrote nothing)."""
        self.running = False
        if item is not None:
            self._record(item, self.lineage)
        self._show_tracks()

    def edited(self, lineage: Lineage, item) -> None:
        """A correction changed the lineage and, as the undo step ``item``, the labels."""
        self.lineage = lineage
        self._record(item, lineage)
        self._recentre(_frames_of(item))
        self._show_tracks()

    def _record(self, item, lineage: Lineage) -> None:
        workspace = self.state.workspace
        workspace.versions.append((item, lineage.as_dict()))
        workspace.present.append(True)

    def follow_undo(self, history: list) -> bool:
        """After an undo or redo: the lineage of the newest record still in ``history``.

        Returns whether the lineage changed (the Tracks layer is then rebuilt, from the
        frames the undone or redone steps touched)."""
        workspace = self.state.workspace
        if self.running or not workspace.versions:
            return False
        present = [in_undo_history(item, history) for item, _ in workspace.versions]
        touched = set()
        for (item, _), now, before in zip(workspace.versions, present, workspace.present):
            if now != before:
                touched |= _frames_of(item)
        workspace.present = present
        rows = next((rows for (_, rows), now in zip(reversed(workspace.versions), reversed(present)) if now), [])
        if rows == self.lineage.as_dict():
            return False
        self.lineage = Lineage.from_dict(rows)
        self._recentre(touched)
        self._show_tracks()
        return True

    # -- the Tracks layer -----------------------------------------------------------------------
    def _plane(self, frame: int) -> np.ndarray:
        return np.asarray(self.binding.labels.data[self.binding.plane_index(frame)])

    def _recentre(self, frames) -> None:
        """Centres of ``frames`` read again from the labels (the others did not change)."""
        if self.binding.labels is None:
            self._centres = {}
            return
        for frame in frames:
            self._centres[frame] = label_centres(self._plane(frame))

    def _show_tracks(self) -> None:
        self._drawn_at = time.monotonic()
        tracks = self.lineage.tracks
        rows = [
            [obj, frame, y, x]
            for frame, centres in self._centres.items()
            for obj, (y, x) in centres.items()
            if obj in tracks and tracks[obj].first <= frame <= tracks[obj].last
        ]
        viewer = self.binding.viewer
        if not rows or self.binding.image is None:
            if self.tracks_layer is not None and self.tracks_layer in viewer.layers:
                viewer.layers.remove(self.tracks_layer)
            self.tracks_layer = None
            return
        data = np.array(sorted(rows), dtype=float)
        present = {int(i) for i in data[:, 0]}
        graph = {k: v for k, v in self.lineage.graph().items() if k in present and v[0] in present}
        image = self.binding.image
        if self.tracks_layer is None or self.tracks_layer not in viewer.layers:
            self.tracks_layer = _opened_tracks(viewer)  # a result opened from its sidecar brought one
        if self.tracks_layer is not None:
            self.tracks_layer.data = data
            self.tracks_layer.graph = graph
        else:
            self.tracks_layer = viewer.add_tracks(
                data, graph=graph, name=_names.TRACKS_LAYER, scale=image.scale, translate=image.translate, tail_length=8
            )
        if self.binding.points is not None:
            viewer.layers.selection.active = self.binding.points

    # -- exports --------------------------------------------------------------------------------
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


def _opened_tracks(viewer):
    """A Tracks layer of ours already in the viewer (opened with a result), to draw into."""
    for layer in viewer.layers:
        if layer.name == _names.TRACKS_LAYER and type(layer).__name__ == "Tracks":
            return layer
    return None
