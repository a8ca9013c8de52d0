"""Partial outputs: how they are named, locked and cleaned up after a killed run.

A partial is ``.NAME.<token>.partial`` beside the output ``NAME``: a file (the label TIFF's
and its JSON's, :class:`~napari_sam2.core.outputs.PartialFile`, locked itself) or a folder
(an OME-Zarr label image's, :class:`~napari_sam2.core.ome_zarr.LabelsZarrWriter`, locked by
its :data:`PARTIAL_LOCK`). The writer holds an exclusive ``flock`` while it writes; a later
run for the same output removes the partials whose lock is free and refuses to start while
one is held. Names are taken literally, never as patterns.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import Sam2InputError

try:  # POSIX advisory locks; elsewhere partials are still unique, only the cleanup is off
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def _partials_of(path: Path) -> list[Path]:
    """The partials of ``path``: ``.NAME.<token>.partial``, the name taken literally (a plate's
    ``well[B2].tif`` or ``A?.tif`` is a name, not a pattern)."""
    prefix, suffix = f".{path.name}.", ".partial"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return sorted(
        path.parent / name
        for name in names
        if name.startswith(prefix) and name.endswith(suffix) and _is_token(name[len(prefix) : -len(suffix)])
    )


def _is_token(text: str) -> bool:
    """A partial's token: the 12 hex digits :class:`PartialFile` writes."""
    return len(text) == 12 and all(c in "0123456789abcdef" for c in text)


def remove_stale_partials(path: str | os.PathLike, *, shown: str | None = None) -> int:
    """Remove the partials of ``path`` whose writer is gone; refuse if one is being written.

    A partial is a file (the TIFF's, locked itself) or a folder (an OME-Zarr label image's,
    locked by its :data:`PARTIAL_LOCK`; one without that file has no writer). ``shown`` is
    how the refusal names the output (default ``path``). Returns how many were removed.
    """
    path = Path(path)
    removed = 0
    if fcntl is None:
        return 0
    for partial in _partials_of(path):
        folder = partial.is_dir()
        try:
            fd = os.open(partial / PARTIAL_LOCK if folder else partial, os.O_RDWR)
        except FileNotFoundError:
            if folder:  # a folder nobody locks: nobody writes it
                shutil.rmtree(partial, ignore_errors=True)
                removed += 1
            continue  # a file: its writer committed or discarded it meanwhile
        except OSError:
            continue  # not ours to judge (permissions): leave it
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                writer = shown or path
                raise Sam2InputError(
                    f"Another napari-sam2 run is writing {writer} right now; wait for it or choose another --out."
                ) from None
            if folder:
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


#: The lock file inside a partial folder (see :func:`lock_partial_folder`).
PARTIAL_LOCK = ".lock"


def lock_partial_folder(folder: Path) -> int | None:
    """Lock a partial folder for this run, as :class:`PartialFile` locks its file: the open
    descriptor holds the lock (close it to release); None where locks are not available."""
    if fcntl is None:
        return None
    fd = os.open(folder / PARTIAL_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
