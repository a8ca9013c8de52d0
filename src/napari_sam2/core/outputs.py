"""Output files that never destroy an input, never mix a pair, and leave no debris.

What a label output (``LABELS.tif`` + ``LABELS.json``) guarantees:

* **Inputs are never written.** :func:`check_outputs` refuses an output that is the same
  file as an input however it is spelled (``..``, a symlink, a hard link: same device and
  inode), or that lies inside an input folder (a zarr store).
* **Existing outputs are replaced only on request.** Both files of the pair count: an old
  ``LABELS.json`` beside a new ``LABELS.tif`` is existing output too.
* **No half-written file under a final name.** Files are written as
  ``.NAME.<token>.partial`` in the target folder and renamed into place on commit. The
  writer holds an exclusive ``flock`` on its partial. A later run for the same output
  removes the partials whose writer is gone (their lock is free) and refuses to start while
  another run holds one, so a series of killed runs leaves at most one partial behind.
* **A pair is one unit.** The TIFF carries a run id (TIFF tag ``ImageUniqueID``) and the
  JSON names it (``labels_run_id``). Commit renames the TIFF first, then the JSON. A kill
  between the two renames leaves the new TIFF beside the previous JSON; :func:`read_sidecar`
  then sees the ids differ and refuses the JSON rather than describe the TIFF wrongly.
* **Write failures are one line.** Disk full, a read-only folder or a missing permission
  raise :class:`~napari_sam2.core.errors.Sam2FileError` naming the folder and the cause; the
  partials are removed and the older outputs are left as they were.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Sam2FileError, Sam2InputError
from .partials import remove_stale_partials

RUN_ID_TAG = 42016  # TIFF/EXIF ImageUniqueID: an ASCII id of this image
LABEL_SUFFIXES = (".tif", ".tiff")

try:  # POSIX advisory locks; elsewhere partials are still unique, only the cleanup is off
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def sidecar_path(labels_path: str | os.PathLike) -> Path:
    """``labels.tif`` -> ``labels.json``."""
    return Path(labels_path).with_suffix(".json")


# -- checks before anything is written ------------------------------------------------------
def check_outputs(
    out: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (), overwrite: bool = False
) -> Path:
    """Refuse a label output that would destroy an input or replace output unasked.

    Returns ``out`` as a :class:`~pathlib.Path`. Raises :class:`Sam2InputError`.
    """
    from .ome_zarr import check_labels_output, inside_store, labels_target

    out = Path(out)
    if labels_target(out) is not None:  # into an OME-Zarr image's labels/ group
        check_labels_output(out, overwrite=overwrite)
        return out
    targets = (out, sidecar_path(out))
    for given in inputs:  # first: whatever else is wrong, never an input
        if given is None:
            continue
        for target in targets:
            if same_or_inside(target, Path(given)):
                raise Sam2InputError(f"The output {target} is the input {given} (or inside it); choose another --out.")
    store = inside_store(out)
    if store is not None:
        raise Sam2InputError(
            f"The output {out} lies inside the OME-Zarr store {store.name}: give the store itself "
            "(the labels go into its labels/ group) or a .tif file."
        )
    if out.suffix.lower() not in LABEL_SUFFIXES:
        raise Sam2InputError(f"The output {out} must end in .tif or .tiff (or be an OME-Zarr image, .zarr).")
    if not out.parent.is_dir():
        raise Sam2InputError(f"The output folder {out.parent} does not exist.")
    if out.is_dir():
        raise Sam2InputError(f"The output {out} is a folder; give a file name ending in .tif.")
    existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if existing and not overwrite:
        raise Sam2InputError(f"{' and '.join(existing)} already exist(s); pass --overwrite to replace.")
    return out


def same_or_inside(target: Path, given: Path) -> bool:
    """``target`` is the file ``given`` by any path (``..``, a symlink, a hard link), or lies
    inside the folder ``given`` (a zarr input)."""
    if not given.exists():
        return False
    if target.exists() and os.path.samefile(target, given):
        return True
    if given.is_dir():
        parent = target.parent.resolve()
        return parent == given.resolve() or given.resolve() in parent.parents
    return False


# -- partial files (named and cleaned up in core.partials) ----------------------------------
class PartialFile:
    """A locked ``.NAME.<token>.partial`` beside ``path``, renamed onto ``path`` on commit."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        remove_stale_partials(self.path)
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.partial")
        with writing(self.path):
            self.fd: int | None = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def write(self, data: bytes) -> None:
        """Append ``data`` in full (``os.write`` may write less than it is given)."""
        view = memoryview(data)
        with writing(self.path, cleanup=self):
            while view:
                view = view[os.write(self.fd, view) :]

    def sync(self) -> None:
        with writing(self.path, cleanup=self):
            os.fsync(self.fd)

    def rename(self) -> None:
        """Move the finished partial onto its final name (then the lock goes with the fd)."""
        with writing(self.path, cleanup=self):
            os.replace(self.tmp, self.path)
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
        self.close()


_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


@contextlib.contextmanager
def writing(path: Path, cleanup: PartialFile | None = None) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into one line naming its folder and the cause."""
    try:
        yield
    except OSError as exc:
        if cleanup is not None:
            cleanup.discard()
        cause = _CAUSES.get(exc.errno, exc.strerror or type(exc).__name__)
        raise Sam2FileError(
            f"Cannot write {path.name} in {path.parent}: {cause}. Earlier outputs there were left as they were."
        ) from exc


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a locked partial: all or nothing."""
    partial = PartialFile(path)
    try:
        partial.write(data)
        partial.sync()
        partial.rename()
    finally:
        partial.discard()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a locked partial: all or nothing."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, payload: dict) -> None:
    atomic_write_text(path, _json_text(payload))


def _json_text(payload: dict) -> str:
    return json.dumps(payload, indent=2, default=_json_default) + "\n"


def _json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- the label TIFF -------------------------------------------------------------------------
class LabelsTiffWriter:
    """A label stack that appears under its final name, beside its JSON, only on :meth:`commit`.

    The TIFF is laid out once (tifffile writes a contiguous file), then planes are read and
    written with ``pread``/``pwrite``: no plane stays mapped in memory, so the process does
    not grow with the stack. ``axes`` are tifffile letters ending in ``YX`` (``TYX``,
    ``ZYX``, ``TZYX`` ...); ImageJ-compatible for uint16.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        shape: tuple[int, ...],
        dtype: np.dtype,
        axes: str | None = None,
        frame_axis_letter: str = "T",
        scale: dict[str, float] | None = None,
        unit: str | None = None,
    ) -> None:
        import tifffile

        shape = tuple(int(s) for s in shape)
        if axes is None:
            axes = labels_axes(len(shape), 0, frame_axis_letter if frame_axis_letter in ("T", "Z") else "T")
        if axes is None or len(axes) != len(shape):
            raise ValueError(f"axes {axes!r} do not match shape {shape}")
        if min(shape[-2:]) < 1:
            raise Sam2InputError(f"Labels of shape {shape} would be empty.")
        self.path, self.shape, self.axes = Path(path), shape, axes
        self.run_id = uuid.uuid4().hex
        self._partial = PartialFile(self.path)
        self.tmp = self._partial.tmp
        with writing(self.path, cleanup=self._partial):
            layout = tifffile.memmap(
                self.tmp,
                shape=shape,
                dtype=np.dtype(dtype),
                extratags=[(RUN_ID_TAG, "s", 0, self.run_id, True)],
                **_tiff_kwargs(dtype, axes, scale, unit),
            )
            self.dtype, self._offset = layout.dtype, int(layout.offset)
            del layout
        self._plane_shape = shape[-2:]
        self._plane_bytes = int(np.prod(self._plane_shape)) * self.dtype.itemsize

    def _position(self, index: int | tuple[int, ...]) -> int:
        flat = int(np.ravel_multi_index(tuple(np.atleast_1d(index)), self.shape[:-2])) if len(self.shape) > 2 else 0
        return self._offset + flat * self._plane_bytes

    def read_frame(self, index: int | tuple[int, ...]) -> np.ndarray:
        """The 2-D plane at ``index`` (a frame number, or a tuple over the leading axes)."""
        data = os.pread(self._partial.fd, self._plane_bytes, self._position(index))
        return np.frombuffer(data, dtype=self.dtype).reshape(self._plane_shape).copy()

    def write_frame(self, index: int | tuple[int, ...], plane: np.ndarray) -> None:
        data = np.ascontiguousarray(plane, dtype=self.dtype).tobytes()
        with writing(self.path, cleanup=self._partial):
            os.pwrite(self._partial.fd, data, self._position(index))

    def commit(self, sidecar: dict | None = None) -> None:
        """Flush, then rename the TIFF and then its JSON (which names the TIFF's run id) into place.

        The JSON always goes to :func:`sidecar_path`, where :func:`read_sidecar` looks.
        """
        self._partial.sync()
        payload = dict(sidecar or {"shape": list(self.shape), "dtype": str(self.dtype)})
        payload["labels_run_id"] = self.run_id
        payload["labels_file"] = self.path.name
        json_partial = PartialFile(sidecar_path(self.path))
        try:
            json_partial.write(_json_text(payload).encode("utf-8"))
            json_partial.sync()
            self._partial.rename()
            json_partial.rename()
        except BaseException:
            self._partial.discard()
            raise
        finally:
            json_partial.discard()

    def discard(self) -> None:
        self._partial.discard()


def labels_writer(out, *, shape, dtype, frame_axis_letter: str = "T", scale=None, unit=None):
    """The writer of a label output: a TIFF + JSON pair, or a label image in an OME-Zarr
    image's ``labels/`` group (``--out image.zarr``); both write frame by frame and appear
    only on commit."""
    from .ome_zarr import LabelsZarrWriter, labels_target

    if labels_target(out) is None:
        return LabelsTiffWriter(
            out, shape=shape, dtype=dtype, frame_axis_letter=frame_axis_letter, scale=scale, unit=unit
        )
    letter = frame_axis_letter if frame_axis_letter in ("T", "Z") else "T"
    axes = labels_axes(len(shape), 0, letter)
    return LabelsZarrWriter(out, shape=shape, dtype=dtype, axes=axes, scale=scale, unit=unit)


def labels_axes(ndim: int, frame_axis: int | None = 0, letter: str = "T") -> str | None:
    """tifffile axes of labels whose ``frame_axis`` is a ``letter`` axis (``T`` or ``Z``);
    None where no such letters fit (more than four dimensions)."""
    if ndim == 2:
        return "YX"
    if ndim == 3 and frame_axis == 0:
        return f"{letter}YX"
    if ndim == 4 and frame_axis in (0, 1):
        other = "T" if letter == "Z" else "Z"
        return (letter + other if frame_axis == 0 else other + letter) + "YX"
    return None


_IMAGEJ_UNITS = {"µm": "micron", "\u03bcm": "micron"}


def _tiff_kwargs(dtype, axes: str, scale: dict[str, float] | None, unit: str | None) -> dict[str, Any]:
    scale = scale or {}
    kwargs: dict[str, Any] = {}
    if "X" in scale and "Y" in scale:
        kwargs["resolution"] = (1.0 / scale["X"], 1.0 / scale["Y"])
    imagej = np.dtype(dtype) == np.uint16 and axes.endswith("YX") and _in_order(axes, "TZCYX")
    if imagej:
        metadata: dict[str, Any] = {"axes": axes}
        if unit:  # ImageJ's description is ASCII: µm is "micron" there, as ImageJ writes it
            metadata["unit"] = _IMAGEJ_UNITS.get(unit, unit.encode("ascii", "backslashreplace").decode())
        if "Z" in axes and "Z" in scale:
            metadata["spacing"] = scale["Z"]
        if "T" in axes and "T" in scale:
            metadata["finterval"] = scale["T"]
        kwargs.update(imagej=True, metadata=metadata)
    else:
        kwargs.update(metadata={"axes": axes})
    return kwargs


def _in_order(axes: str, order: str) -> bool:
    """ImageJ hyperstacks need their axes as a subsequence of ``TZCYX``."""
    positions = [order.find(a) for a in axes]
    return -1 not in positions and positions == sorted(positions) and len(set(axes)) == len(axes)


def labels_run_id(labels_path: str | os.PathLike) -> str | None:
    """The run id written into a label TIFF by :class:`LabelsTiffWriter` (None if absent)."""
    import tifffile

    with tifffile.TiffFile(labels_path) as tif:
        tag = tif.pages[0].tags.get(RUN_ID_TAG)
        return None if tag is None else str(tag.value).strip()


def read_sidecar(labels_path: str | os.PathLike) -> dict:
    """The JSON beside ``labels_path``, checked to belong to that very TIFF.

    Raises :class:`Sam2InputError` when the JSON is missing, unreadable, or was written for
    another run (a kill between the two renames of a commit, or a file copied over).
    """
    labels_path = Path(labels_path)
    path = sidecar_path(labels_path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Sam2InputError(f"{labels_path} has no {path.name} beside it.") from None
    except (OSError, ValueError) as exc:
        raise Sam2InputError(f"{path} is not readable JSON ({exc}).") from exc
    expected = payload.get("labels_run_id") if isinstance(payload, dict) else None
    if expected is None or expected != labels_run_id(labels_path):
        raise Sam2InputError(
            f"{path.name} does not belong to {labels_path.name} (they come from different runs); "
            "the labels are not described by it."
        )
    return payload
