"""The tracker's state: one evented model, observed by the widgets, owned by the controller.

* :class:`TrackerState` holds what the tracker is working on: the settings (model, device,
  caching), the objects, the region, the model as loaded, whether a run is going on, and the
  current :class:`Workspace`. Every change is announced through :class:`TrackerEvents`;
  widgets draw from the state and never keep their own copy.
* A :class:`Workspace` is what the tracker knows about one image's labels: object names,
  scores and quality flags, the runs still in the layer's undo history, the lineage and its
  versions, the review's marks (items accepted as fine), the session history that
  ``napari-sam2 track`` replays, and the settings used.
  It lives in the Labels layer's metadata, so it belongs to that layer: choosing another
  image switches workspaces (one image's objects never write into another's labels), and a
  reopened tracker, or a result opened from disk (its sidecar, :func:`workspace_from_sidecar`),
  finds its work where it left it.

Only the main thread reads or writes the state; the worker's messages reach it through
:mod:`._replies`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from psygnal import Signal, SignalGroup

from ..core.labels import LabelMerger
from ..core.lineage import Lineage
from ._history import HistoryRecorder
from ._objects import ObjectRegistry
from ._settings import TrackerSettings

WORKSPACE_KEY = "napari_sam2_workspace"  # Labels layer metadata: its Workspace
IMAGE_KEY = "napari_sam2_image"  # tracker layers' metadata: the id of the image they belong to
SIDECAR_KEY = "napari_sam2"  # Labels layer metadata: the sidecar saved with (or opened with) them


class TrackerEvents(SignalGroup):
    """Everything the tracker tells its widgets."""

    status = Signal(str)  # the model line: loading, loaded, encoding, an error
    image = Signal(int)  # the image (or its axis, or its labels) changed: its number of frames; 0: none
    progress = Signal(object)  # a _run_writer.RunProgress
    run_note = Signal(str)  # what a run tracks and what it leaves alone
    flags = Signal(list)  # QualityFlags after a run
    lineage = Signal()  # a population's lineage changed
    seeds = Signal(str)  # what the seeds preview found (a line)
    pick = Signal(str)  # what to click for a lineage correction; "" when none is waited for
    busy = Signal(bool)  # a run started (True) or ended (False)
    settings = Signal(object)  # the TrackerSettings, after any change
    region = Signal(object)  # the region of interest (y0, x0, y1, x1), or None
    done = Signal(str)  # a confirmation: what was saved or exported, and where
    review = Signal(object)  # a _review.ReviewView: the queue, what is reviewed, the item shown


@dataclass
class Workspace:
    """One image's work, kept in its Labels layer's metadata (see the module docstring)."""

    image_id: str
    names: dict[int, str] = field(default_factory=dict)
    merger: LabelMerger = field(default_factory=LabelMerger)  # scores per frame and object
    flags: list = field(default_factory=list)
    runs: dict[int, object] = field(default_factory=dict)  # run id -> its undo item
    run_log: list[dict] = field(default_factory=list)  # direction, start, range of each run (provenance)
    mask_prompts: set[tuple[int, int]] = field(default_factory=set)  # (object, frame)
    history: HistoryRecorder = field(default_factory=HistoryRecorder)
    lineage: Lineage = field(default_factory=Lineage)
    versions: list = field(default_factory=list)  # (undo item, lineage rows), oldest first
    present: list[bool] = field(default_factory=list)  # whether each version's item was in the history
    settings: TrackerSettings | None = None  # what was chosen when this image was last tracked
    reviewed: dict[str, str] = field(default_factory=dict)  # review item key -> "accepted" (saved)

    @property
    def scores(self) -> dict[int, dict[int, float]]:
        return self.merger.scores


def image_id(layer) -> str:
    """A stable id of an image layer for this napari session (its own unique id)."""
    return str(getattr(layer, "unique_id", None) or layer.metadata.setdefault(IMAGE_KEY, uuid.uuid4().hex))


def workspace_of(labels, image) -> Workspace:
    """The workspace kept in ``labels``; a new one when it has none (or one of another image,
    chosen on purpose as 'write into': the layer's work then belongs to this image)."""
    found = labels.metadata.get(WORKSPACE_KEY)
    if not isinstance(found, Workspace):
        found = labels.metadata[WORKSPACE_KEY] = workspace_from_sidecar(labels.metadata.get(SIDECAR_KEY))
    found.image_id = image_id(image)
    return found


def workspace_from_sidecar(sidecar) -> Workspace:
    """The work a saved result carries (labels opened from ``LABELS.json``): object names,
    scores, lineage and review marks. A new workspace when there is no sidecar."""
    workspace = Workspace("")
    if not isinstance(sidecar, dict):
        return workspace
    try:
        workspace.names = {int(k): str(v) for k, v in (sidecar.get("objects") or {}).items()}
        workspace.merger.scores = {
            int(f): {int(o): float(v) for o, v in per.items()} for f, per in (sidecar.get("scores") or {}).items()
        }
        if sidecar.get("lineage"):
            workspace.lineage = Lineage.from_dict(sidecar["lineage"])
        workspace.reviewed = {str(k): str(v) for k, v in (sidecar.get("review") or {}).items()}
    except (TypeError, ValueError, AttributeError, KeyError):
        return Workspace("")  # a damaged sidecar: the labels alone
    return workspace


class TrackerState:
    """What the tracker works on now; see the module docstring."""

    def __init__(self) -> None:
        self.events = TrackerEvents()
        self.settings = TrackerSettings()
        self.objects = ObjectRegistry()
        self.workspace = Workspace("")
        self.roi: tuple[int, int, int, int] | None = None
        self.loaded = None  # core.models.LoadedModel, from the worker's ModelLoaded
        self.record = None  # core.pipeline.RunRecord of the current session
        self.busy = False  # a run (propagation, population, division) is going on
        self.busy_image: str = ""  # the name of the image that run works in
        self.objects.changed.connect(self._keep_names)

    # -- settings ---------------------------------------------------------------------------------
    def change_settings(self, **changes) -> bool:
        """Replace settings; returns whether anything changed (then ``events.settings`` fires)."""
        new = replace(self.settings, **changes)
        if new == self.settings:
            return False
        self.settings = new
        self.workspace.settings = new
        self.events.settings.emit(new)
        return True

    def new_session(self) -> None:
        """The next task opens a new session (another image, axis, region or cache)."""
        self.settings = replace(self.settings, generation=self.settings.generation + 1)
        self.record = None

    # -- the workspace ----------------------------------------------------------------------------
    def use_workspace(self, workspace: Workspace) -> None:
        """Work in ``workspace`` (another image, or its labels chosen): its objects come back."""
        self.workspace = workspace
        self.objects.replace(workspace.names)
        if workspace.settings is not None and not self.busy:
            self.settings = replace(workspace.settings, generation=self.settings.generation)
            self.events.settings.emit(self.settings)
        workspace.settings = self.settings

    def _keep_names(self) -> None:
        self.workspace.names = dict(self.objects.items())

    # -- the model --------------------------------------------------------------------------------
    @property
    def model_status(self) -> str:
        if self.loaded is None:
            return "model not loaded"
        loaded = self.loaded
        return f"{loaded.model_id} on {loaded.device}" + (" — random weights!" if loaded.is_random else "")

    def set_busy(self, busy: bool, image_name: str = "") -> None:
        self.busy, self.busy_image = busy, image_name if busy else ""
        self.events.busy.emit(busy)
