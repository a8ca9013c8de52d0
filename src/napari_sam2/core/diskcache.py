"""Optional on-disk cache of image features (zarr), so reopening a stack skips the encoder.

An entry is keyed by *what the encoder saw* and *which encoder saw it*:

* the frame key is a hash of the preprocessed model input (1024² float tensor). It already
  folds in everything the features depend on: the pixel data, contrast limits, channel
  choice, axis and held indices, region of interest and dtype handling;
* the model key (:func:`model_fingerprint`) hashes the model class, its configuration and
  a sample of its image-encoder weights, so another checkpoint or revision never reads
  these features.

Each entry is one zarr group ``<root>/<model key>/<frame key>.zarr`` holding the feature
maps uncompressed, in the dtype they were computed in, so a hit returns bit-identical
features. Entries are written under a temporary name and renamed into place, so a crash or
a second process never leaves a half-written entry. The folder is kept under a byte budget;
the entries used longest ago go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from .errors import Sam2InputError

DEFAULT_BUDGET_GB = 20.0


def default_root() -> Path:
    """``$NAPARI_SAM2_CACHE/features`` or ``~/.cache/napari-sam2/features``."""
    from .models import project_cache_root

    return project_cache_root() / "features"


def usable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed; a folder that cannot be made is a one-line user error."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Sam2InputError(f"Cannot use {folder} as the feature cache folder: {exc.strerror}.") from None
    return folder


def model_fingerprint(model: Any) -> str:
    """Hash of the model class, its configuration and a sample of its image-encoder weights."""
    h = hashlib.blake2b(digest_size=12)
    h.update(type(model).__name__.encode())
    h.update(model.config.to_json_string(use_diff=False).encode())
    params = list(model.vision_encoder.parameters()) if hasattr(model, "vision_encoder") else []
    params = params or list(model.parameters())
    for p in params[:3] + params[-3:]:
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def frame_fingerprint(pixel_values: Any) -> str:
    """Hash of one preprocessed model input."""
    data = pixel_values.detach().cpu().contiguous().numpy()
    h = hashlib.blake2b(digest_size=16)
    h.update(str((data.shape, data.dtype.str)).encode())
    h.update(memoryview(data).cast("B"))
    return h.hexdigest()


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - depends on the environment
        raise Sam2InputError("The on-disk feature cache needs zarr: pip install 'napari-sam2[zarr]'.") from None
    return zarr


class DiskFeatureCache:
    """Features per frame key under ``root/model_key``; ``budget_bytes`` bounds the folder."""

    def __init__(self, root: str | os.PathLike, model_key: str, budget_bytes: float | None = None) -> None:
        _zarr()
        self.root = Path(root)
        self.folder = usable_folder(self.root / model_key)
        self.budget_bytes = int(DEFAULT_BUDGET_GB * 2**30 if budget_bytes is None else budget_bytes)
        self.hits = 0
        self.writes = 0
        self._sizes = {entry.name: _tree_size(entry) for entry in self._entries()}

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())

    def _entries(self) -> list[os.DirEntry]:
        return [e for e in os.scandir(self.folder) if e.name.endswith(".zarr") and e.is_dir()]

    # -- features ------------------------------------------------------------------------
    def get(self, key: str) -> list | None:
        """The feature maps stored under ``key`` (tensors), or ``None``."""
        return self._read(self.folder / f"{key}.zarr", touch=True)

    def put(self, key: str, tensors: list) -> None:
        name = f"{key}.zarr"
        if name in self._sizes:
            return
        size = self._write(self.folder / name, tensors)
        if size:
            self._sizes[name] = size
            self.writes += 1
            self._evict(keep=name)

    # -- position encodings: one set per model ------------------------------------------
    def get_pos(self) -> list | None:
        return self._read(self.folder / "pos.zarr.d", touch=False)

    def put_pos(self, tensors: list) -> None:
        if not (self.folder / "pos.zarr.d").exists():
            self._write(self.folder / "pos.zarr.d", tensors)

    # -- internals -----------------------------------------------------------------------
    def _read(self, path: Path, touch: bool) -> list | None:
        import torch

        zarr = _zarr()
        try:
            group = zarr.open_group(str(path), mode="r")
            count = int(group.attrs["count"])
            tensors = [torch.from_numpy(group[f"t{i}"][...]) for i in range(count)]
        except Exception:  # missing, or damaged by something outside this program: recompute
            return None
        if touch:
            self.hits += 1
            with contextlib.suppress(OSError):
                os.utime(path)  # the eviction order follows use
        return tensors

    def _write(self, path: Path, tensors: list) -> int:
        zarr = _zarr()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            group = zarr.open_group(str(tmp), mode="w")
            for i, tensor in enumerate(tensors):
                data = tensor.detach().cpu().contiguous().numpy()
                group.create_array(f"t{i}", data=data, chunks=data.shape, compressors=None)
            group.attrs["count"] = len(tensors)
            size = _tree_size(tmp)
            os.rename(tmp, path)
            return size
        except OSError:
            # Another process wrote the same entry first, or the disk is full: the
            # cache is an optimisation, tracking goes on without it.
            shutil.rmtree(tmp, ignore_errors=True)
            return 0

    def _evict(self, keep: str) -> None:
        if self.nbytes <= self.budget_bytes:
            return
        by_age = sorted(self._entries(), key=lambda e: e.stat().st_mtime)
        for entry in by_age:
            if self.nbytes <= self.budget_bytes:
                break
            if entry.name == keep:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            self._sizes.pop(entry.name, None)


def _tree_size(path: str | os.PathLike) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.path.getsize(os.path.join(dirpath, name))
    return total
