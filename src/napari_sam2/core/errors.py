"""The exception types whose messages are for people, not tracebacks.

* :class:`Sam2InputError`: everything the user can get wrong (a missing file, a prompt
  outside the image, an unknown model, a constant stack), found before anything is written.
  The CLI exits with status 2.
* :class:`Sam2FileError`: a file could not be read or written while working (damaged data
  inside a valid container, a full disk, a read-only folder). The message names the file and
  the cause; the CLI exits with status 1 and keeps what was finished.

* :class:`Sam2SetupError`: the installation cannot run napari-sam2 (a transformers release
  whose private SAM 2 parts changed). The CLI exits with status 1.

All subclass :class:`Sam2Error`: the CLI prints its message on one line and the plugin shows
it as a notification. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class Sam2Error(Exception):
    """A problem explained in one plain sentence."""


class Sam2InputError(Sam2Error, ValueError):
    """A problem with the user's input, explained in one plain sentence."""


class ModelUnavailableError(Sam2InputError):
    """The model cannot be loaded: offline and not cached, unknown, or a corrupt directory.

    ``in_napari``: the same sentence for napari's users, where the way out is a box or a
    button rather than a command-line option (None: the message says it for both)."""

    def __init__(self, message: str, *, in_napari: str | None = None) -> None:
        super().__init__(message)
        self.in_napari = in_napari


class Sam2FileError(Sam2Error):
    """A file could not be read or written while working; the message names it and the cause."""


class Sam2SetupError(Sam2Error):
    """The installed packages cannot run the engine; the message says what to install."""
