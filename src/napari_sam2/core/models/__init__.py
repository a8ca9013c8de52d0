"""Models: which exist, where they come from, and how they are loaded and run.

* :mod:`.registry`: the registry of named models, and what a model name means
  (:func:`resolve_spec`: hub id, local directory, Meta checkpoint or random weights).
* :mod:`.devices`: the device, the precision (bf16 autocast) and torch's CPU threads.
* :mod:`.hub`: the Hugging Face cache and downloads, with one clear line when offline.
* :mod:`.loading`: :func:`load_model`, and :class:`ModelLoader`, which keeps what it loaded
  by ``(spec, device, dtype)``; the CLI and the plugin each own one (no module-level state).
* :mod:`.checkpoints`: Meta's ``.pt`` checkpoints, converted once and cached.
* :mod:`.random_weights`: the real shapes with random weights, for tests and trials.
* :mod:`.processors` and :mod:`.hashing`: the processor of a model, content hashes and the
  cache folder.

torch and transformers are imported only inside the functions that need them.
"""

from .devices import (
    PRECISIONS,
    default_autocast_dtype,
    pick_device,
    quiet_third_party,
    set_torch_threads,
    torch_threads,
)
from .hashing import file_sha256, project_cache_root
from .hub import cache_dir, cached_models, download_model, fetch_from_hub
from .loading import LoadedModel, ModelLoader, load_model
from .processors import EDGETAM_MIN_TRANSFORMERS, config_image_size, make_processor, require_edgetam_support
from .random_weights import build_random_model, random_config, save_random_model
from .registry import (
    CHECKPOINT_SUFFIXES,
    DEFAULT_MODEL,
    RANDOM_PREFIX,
    REDUCED,
    REGISTRY,
    ModelInfo,
    check_model_config,
    resolve_spec,
)

__all__ = [
    "CHECKPOINT_SUFFIXES", "DEFAULT_MODEL", "EDGETAM_MIN_TRANSFORMERS", "PRECISIONS", "RANDOM_PREFIX", "REDUCED",
    "REGISTRY", "LoadedModel", "ModelInfo", "ModelLoader", "build_random_model", "cache_dir", "cached_models",
    "check_model_config", "config_image_size", "default_autocast_dtype", "download_model", "fetch_from_hub",
    "file_sha256", "load_model", "make_processor", "pick_device", "project_cache_root", "quiet_third_party",
    "random_config", "require_edgetam_support", "resolve_spec", "save_random_model", "set_torch_threads",
    "torch_threads",
]  # fmt: skip
