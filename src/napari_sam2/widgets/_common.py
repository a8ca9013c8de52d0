"""Small helpers shared by the panels: buttons and the one error guard."""

from __future__ import annotations

from qtpy.QtWidgets import QPushButton

from ..core.errors import Sam2Error
from ..napari._controller import notify, plain_error


def button(text: str, slot, tip: str = "") -> QPushButton:
    widget = QPushButton(text)
    widget.clicked.connect(lambda *_: slot())
    widget.setToolTip(tip)
    return widget


def guard(action) -> None:
    """Run a user action: mistakes become notifications; bugs also keep their traceback."""
    try:
        action()
    except Sam2Error as exc:
        notify(str(exc), error=True)
    except Exception as exc:
        notify(plain_error(exc), error=True)
        raise
