"""The headless engine: numpy and torch only, never napari, Qt or magicgui.

``frames`` reads a stack lazily and maps its intensities; ``models`` names, downloads and
loads SAM 2 models; ``session`` tracks prompted objects; ``labels`` merges masks into label
images; ``io`` reads and writes TIFF, prompt CSV and provenance JSON; ``sample`` makes
synthetic microscopy stacks.
"""

from .errors import ModelUnavailableError, Sam2InputError
from .frames import FrameSource, Roi
from .labels import label_dtype, merge_masks_into_labels
from .models import DEFAULT_MODEL, REGISTRY, LoadedModel, ModelLoader, load_model
from .session import FramePrompts, FrameResult, Point, TrackingSession

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
