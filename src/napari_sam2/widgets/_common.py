"""Small helpers shared by the panels: buttons and the one error guard."""

from __future__ import annotations

import logging

from qtpy.QtWidgets import QPushButton

from ..core.errors import Sam2Error
from ..plugin import notify, plain_error


def button(text: str, slot, tip: str = "") -> QPushButton:
    widget = QPushButton(text)
    widget.clicked.connect(lambda *_: slot())
    widget.setToolTip(tip)
    return widget


def guard(action) -> None:
    """Run a user action and report a failure once: a mistake as its message, a bug as a
    plain notification with the traceback in the log."""
    try:
        action()
    except Sam2Error as exc:
        notify(str(exc), error=True)
    except Exception as exc:
        notify(plain_error(exc), error=True)
        logging.getLogger(__name__).error("napari-sam2 action failed", exc_info=exc)
