"""The headless engine: numpy and torch only, never napari, Qt or magicgui (a test checks).

Frames and models

* ``images`` opens TIFF, ``.npy`` and zarr stacks lazily, with their axes; ``frames`` turns
  one into the frames SAM 2 sees (axis, held indices, channels, contrast, region).
* ``models`` (a package) names, downloads, converts and loads SAM 2 models, and picks the
  device and precision.

Tracking

* ``session`` tracks prompted objects, one inference state each, sharing ``features`` (the
  image-feature cache; ``diskcache`` keeps it across sessions) and ``conditioned`` (kept
  memory-conditioned features, for instant corrections).
* ``prompts`` are clicks, boxes and masks; ``passes`` the frames of a propagation;
  ``upstream`` the contract with transformers and where the engine differs from it, with
  ``shadow`` and ``holes``; ``spill`` keeps tracked state's memory flat.
* ``history`` replays a napari session; ``quality`` flags frames where a score fell.

Populations

* ``seeders`` and ``everything`` find cells to start from; ``linking`` holds the rules that
  decide from masks where cells appear, end and divide; ``population`` runs them;
  ``lineage`` is the lineage and its corrections; ``ctc`` and ``geff_export`` write it.

Files out

* ``labels`` merges masks into label images (the one overlap rule); ``outputs`` writes label
  TIFFs and JSON atomically, never over an input; ``prompt_files`` reads and writes prompt
  CSVs and what a napari export puts beside them; ``provenance`` is the sidecar's record.
* ``sample`` makes synthetic microscopy stacks; ``errors`` holds the exceptions whose
  messages are for people.
"""

from .errors import ModelUnavailableError, Sam2InputError
from .frames import FrameSource, Roi
from .labels import label_dtype, merge_masks_into_labels
from .models import DEFAULT_MODEL, REGISTRY, LoadedModel, ModelLoader, load_model
from .prompts import FramePrompts, Point
from .session import FrameResult, TrackingSession

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "FramePrompts",
    "FrameResult",
    "FrameSource",
    "LoadedModel",
    "ModelLoader",
    "ModelUnavailableError",
    "Point",
    "Roi",
    "Sam2InputError",
    "TrackingSession",
    "label_dtype",
    "load_model",
    "merge_masks_into_labels",
]
