"""The tracker's settings as one immutable value, and what a session is keyed on.

:class:`TrackerSettings` is the command line's own settings type
(:class:`~napari_sam2.settings.StackSettings`: the model, device, hole filling...) with what
only the plugin has (encoding ahead, the disk cache, a session generation). The main thread
replaces the value (``dataclasses.replace``) when the user changes a setting; every task
takes the value current when it was submitted, so the worker never reads a setting that
changes under it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..settings import StackSettings

#: Where the cells of a population come from, besides a Labels layer (the CLI's --seeds names).
THRESHOLD_SEEDS, SAM_SEEDS = "threshold", "sam"


def feature_cache_mb() -> float:
    """The plugin's in-memory feature budget: a quarter of the machine's memory, 0.5 to 4 GiB.

    At 16 MiB per 1024² frame (sam2.1), 4 GiB holds about 250 frames.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        total = 8192
    return float(min(4096, max(512, total / 4)))


@dataclass(frozen=True)
class TrackerSettings(StackSettings):
    """What the user chose in the model box, and how frames are cached."""

    encode_ahead: bool = True
    disk_cache: bool = False
    generation: int = 0  # raised to ask for a new session (a new image, region or cache)

    def session_key(self, source) -> tuple:
        """Everything a session depends on: a different key needs a new session."""
        described = repr(source.describe())
        return (id(source.data), described, self.model, self.device, self.disk_cache, self.generation)

    def model_key(self) -> tuple[str, str]:
        return (self.model, self.device)

    def as_session_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~napari_sam2.core.session.TrackingSession`."""
        disk = None
        if self.disk_cache:
            from ..core.diskcache import default_root

            disk = default_root()
        return {"feature_cache_mb": feature_cache_mb(), "disk_cache": disk, "fill_hole_area": self.fill_hole_area}
