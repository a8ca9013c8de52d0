"""Content hashes of model files (the revision of a local model), remembered across runs,
and napari-sam2's own cache folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ModelUnavailableError


def _hash_directory(directory: Path) -> str:
    """A content hash of a model directory's config and weight files."""
    digest = hashlib.sha256()
    if not directory.is_dir():
        raise ModelUnavailableError(f"{directory} is not a directory.")
    for path in sorted(directory.glob("*")):
        if path.suffix not in (".json", ".safetensors", ".bin"):
            continue
        digest.update(path.name.encode())
        digest.update(file_sha256(path).encode())
    return "sha256:" + digest.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered by (path, size, mtime, inode) so a model is read once, not per run.

    The memo is a small JSON file beside the converted models; when it cannot be read or
    written the hash is simply computed again.
    """
    import json

    stat, where = path.stat(), f"{path.resolve()}|"
    key = f"{where}{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    memo_path = project_cache_root() / "file-hashes.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if not isinstance(memo, dict):
        memo = {}
    if isinstance(memo.get(key), str):
        return memo[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    memo = {k: v for k, v in memo.items() if not k.startswith(where)}  # this file's older versions go
    memo[key] = value
    try:
        from .outputs import atomic_write_text

        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(dict(list(memo.items())[-256:])))
    except Exception:  # a read-only or full home folder only costs the hash next time
        pass
    return value


def project_cache_root() -> Path:
    """``$NAPARI_SAM2_CACHE`` or ``~/.cache/napari-sam2``."""
    return Path(
        os.environ.get("NAPARI_SAM2_CACHE")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "napari-sam2")
    )
