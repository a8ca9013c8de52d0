"""The Hugging Face hub: the cache, downloads, and one clear line when a model cannot be had."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelUnavailableError, Sam2InputError
from .registry import REGISTRY, resolve_spec


def cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _offline_error(hub_id: str, reason: str) -> ModelUnavailableError:
    name = next((m.name for m in REGISTRY.values() if m.hub_id == hub_id), hub_id)
    said = (
        f"Model {hub_id} is not in the local cache ({cache_dir()}) and could not be downloaded ({reason}). "
        f"On a machine with network run `napari-sam2 download {name}` (copy the cache if needed), "
    )
    return ModelUnavailableError(
        said + "or pass --model DIR with a directory written by save_pretrained.",
        in_napari=said + "or type a folder written by save_pretrained into the model box (or pick a .pt "
        "file with Checkpoint…).",
    )


def fetch_from_hub(hub_id: str, *, progress: bool = True, tqdm_class=None) -> tuple[Path, str]:
    """Return the local snapshot directory of ``hub_id`` and its commit, downloading if needed."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    patterns = ["*.json", "*.safetensors", "*.txt"]
    (enable_progress_bars if progress else disable_progress_bars)()
    try:
        path = snapshot_download(hub_id, allow_patterns=patterns, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        try:
            extra = {"tqdm_class": tqdm_class} if tqdm_class is not None else {}
            path = snapshot_download(hub_id, allow_patterns=patterns, **extra)
        except GatedRepoError as exc:  # before its parent class, RepositoryNotFoundError
            raise ModelUnavailableError(gated_message(hub_id)) from exc
        except RepositoryNotFoundError as exc:
            raise ModelUnavailableError(f"Model {hub_id!r} does not exist on the hub or is not public.") from exc
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
            reason = "offline mode is on" if _hub_offline() else "no network"
            raise _offline_error(hub_id, reason) from exc
    path = Path(path)
    return path, path.name


def gated_message(hub_id: str) -> str:
    """What to do about a gated model, in one line."""
    return (
        f"Model {hub_id!r} is gated: accept its licence at https://huggingface.co/{hub_id}, log in with "
        "'hf auth login' (or set HF_TOKEN), then try again; or pass --model DIR with a copy downloaded elsewhere."
    )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def download_model(name: str) -> Path:
    """Fetch a registry name or hub id into the cache now, with progress; return its path."""
    kind, target = resolve_spec(name)
    if kind != "hub":
        raise Sam2InputError(f"{name!r} is not a hub model; nothing to download.")
    return fetch_from_hub(target, progress=True)[0]


def cached_models() -> dict[str, float]:
    """Hub ids present in the local cache, with their size in MB."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # an absent or unreadable cache simply holds nothing
        return {}
    return {repo.repo_id: repo.size_on_disk / 1e6 for repo in info.repos if repo.repo_type == "model"}
