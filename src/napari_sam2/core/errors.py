"""The one exception type for user mistakes.

Everything the user can get wrong (a missing file, a prompt outside the image, an unknown
model, a constant stack) raises :class:`Sam2InputError` with a message a biologist
understands. The CLI prints it on one line and the plugin shows it as a notification; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class Sam2InputError(ValueError):
    """A problem with the user's input, explained in one plain sentence."""


class ModelUnavailableError(Sam2InputError):
    """The model cannot be loaded: offline and not cached, unknown, or a corrupt directory."""
