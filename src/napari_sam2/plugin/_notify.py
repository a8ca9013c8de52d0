"""How the plugin speaks to the user: napari notifications, plain sentences for mistakes."""

from __future__ import annotations

import logging

from ..core.errors import Sam2Error


def notify(message: str, *, error: bool = False) -> None:
    _show(message, error)


def _show(message: str, error: bool) -> None:
    """The one call into napari's notifications (tests replace it to read what was said)."""
    from napari.utils.notifications import show_error, show_info

    (show_error if error else show_info)(message)


def plain_error(exc: BaseException) -> str:
    """A message a biologist can act on; tracebacks are for bugs only."""
    if isinstance(exc, Sam2Error):
        return getattr(exc, "in_napari", None) or str(exc)
    if "OutOfMemoryError" in type(exc).__name__ or "out of memory" in str(exc).lower():
        return "Out of memory: try a smaller model (sam2.1-tiny), the CPU device, or a region of interest."
    return f"Unexpected error ({type(exc).__name__}: {exc}). Please report it."


def guard(action) -> bool:
    """Run a user action and report a failure once: a mistake as its message, a bug as a
    plain notification with the traceback in the log. Returns whether it succeeded."""
    try:
        action()
    except Sam2Error as exc:
        notify(plain_error(exc), error=True)
    except Exception as exc:
        notify(plain_error(exc), error=True)
        logging.getLogger(__name__).error("napari-sam2 action failed", exc_info=exc)
    else:
        return True
    return False
