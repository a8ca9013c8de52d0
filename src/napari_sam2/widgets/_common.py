"""Small helpers shared by the panels: buttons, and the one error guard (from the plugin)."""

from __future__ import annotations

from qtpy.QtWidgets import QPushButton

from ..plugin import guard

__all__ = ["button", "guard"]


def button(text: str, slot, tip: str = "") -> QPushButton:
    widget = QPushButton(text)
    widget.clicked.connect(lambda *_: slot())
    widget.setToolTip(tip)
    return widget
