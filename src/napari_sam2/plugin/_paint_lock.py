"""Keep the user from painting into a Labels layer while a run writes into it.

napari clears a Labels layer's undo history when ``editable`` is set to False, so a run
locked that way wiped every earlier paint stroke and run from Ctrl-Z. Instead, the layer is
held in pan/zoom mode: a switch to a painting mode during the run is turned back, with a
notification. The history stays whole.
"""

from __future__ import annotations

PAN_ZOOM = "pan_zoom"


class PaintLock:
    """While locked, ``layer.mode`` stays pan/zoom; ``unlock`` leaves it there."""

    def __init__(self, layer, notify) -> None:
        self.layer, self._notify = layer, notify
        self.locked = False

    def lock(self) -> None:
        if self.locked:
            return
        self.locked = True
        self.layer.mode = PAN_ZOOM
        self.layer.events.mode.connect(self._on_mode)

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        self.layer.events.mode.disconnect(self._on_mode)

    def _on_mode(self, event=None) -> None:
        if str(self.layer.mode) != PAN_ZOOM:
            self.layer.mode = PAN_ZOOM
            self._notify("SAM 2 is writing labels: painting is paused until the run ends or is cancelled.")
