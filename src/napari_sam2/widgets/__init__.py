"""Qt widgets. Each is small and talks only to the controller in ``napari_sam2.plugin``."""

from ._tracker_widget import TrackerWidget

__all__ = ["TrackerWidget"]
