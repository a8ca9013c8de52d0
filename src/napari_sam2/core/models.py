"""Model registry, loading, device and precision choice.

A model is named in one of five ways:

* a short registry name (``sam2.1-tiny``), mapped to a hub id;
* a hub id (``facebook/sam2.1-hiera-tiny``), downloaded once into huggingface_hub's cache;
* a local directory written by ``save_pretrained`` (offline clusters, fine-tuned models);
* a checkpoint in Meta's format (``.pt``), converted once and cached
  (:mod:`~napari_sam2.core.checkpoints`);
* ``random:NAME``: the shape of ``NAME`` with random weights, for tests and for trying the
  pipeline without weights. Its masks are meaningless, and everything it produces says so.

:class:`ModelLoader` loads lazily and keeps loaded models by ``(spec, device, dtype)``; the
CLI and the plugin each own one (no module-level state). torch and transformers are
imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelUnavailableError, Sam2InputError

DEFAULT_MODEL = "sam2.1-tiny"
RANDOM_PREFIX = "random:"


@dataclass(frozen=True)
class ModelInfo:
    """One entry of the registry."""

    name: str
    hub_id: str
    download_mb: int
    description: str


# Download sizes are those of the safetensors weights on the hub, rounded.
REGISTRY: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("sam2.1-tiny", "facebook/sam2.1-hiera-tiny", 156, "SAM 2.1 Hiera-T, fastest (default)"),
        ModelInfo("sam2.1-small", "facebook/sam2.1-hiera-small", 184, "SAM 2.1 Hiera-S"),
        ModelInfo("sam2.1-base-plus", "facebook/sam2.1-hiera-base-plus", 324, "SAM 2.1 Hiera-B+"),
        ModelInfo("sam2.1-large", "facebook/sam2.1-hiera-large", 898, "SAM 2.1 Hiera-L, most accurate"),
        ModelInfo("sam2-tiny", "facebook/sam2-hiera-tiny", 156, "SAM 2 Hiera-T"),
        ModelInfo("sam2-small", "facebook/sam2-hiera-small", 184, "SAM 2 Hiera-S"),
        ModelInfo("sam2-base-plus", "facebook/sam2-hiera-base-plus", 324, "SAM 2 Hiera-B+"),
        ModelInfo("sam2-large", "facebook/sam2-hiera-large", 898, "SAM 2 Hiera-L"),
        ModelInfo("edgetam", "yonigozlan/EdgeTAM-hf", 56, "EdgeTAM, a lighter tracker for laptops"),
    )
}

# Hiera shapes of the original SAM 2 / 2.1 configurations (the same for both releases).
_HIERA = {
    "tiny": dict(hidden=96, heads=1, blocks=[1, 2, 7, 2], glob=[5, 7, 9], bkg=[7, 7], win=[8, 4, 14, 7]),
    "small": dict(hidden=96, heads=1, blocks=[1, 2, 11, 2], glob=[7, 10, 13], bkg=[7, 7], win=[8, 4, 14, 7]),
    "base-plus": dict(hidden=112, heads=2, blocks=[2, 3, 16, 3], glob=[12, 16, 20], bkg=[14, 14], win=[8, 4, 14, 7]),
    "large": dict(hidden=144, heads=2, blocks=[2, 6, 36, 4], glob=[23, 33, 43], bkg=[7, 7], win=[8, 4, 16, 8]),
}
#: A reduced SAM 2.1-tiny (256-pixel input, fewer layers) for fast tests and demos.
REDUCED = "reduced"


@dataclass
class LoadedModel:
    """A model ready for inference, with what provenance needs to know about it."""

    model: Any
    processor: Any
    spec: str
    source: str  # "hub", "local" or "random"
    model_id: str
    revision: str
    device: str
    autocast_dtype: Any = None
    is_random: bool = False
    image_size: int = 1024
    extra: dict = field(default_factory=dict)

    def autocast(self):
        """Context for model calls: bf16 autocast on CUDA, nothing elsewhere."""
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.autocast_dtype)

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "source": self.source,
            "model_id": self.model_id,
            "revision": self.revision,
            "random_weights": self.is_random,
            "device": self.device,
            "autocast_dtype": str(self.autocast_dtype).replace("torch.", "") if self.autocast_dtype else None,
            "image_size": self.image_size,
            "compiled": bool(self.extra.get("compiled")),
            **({"config": self.extra["config"]} if "config" in self.extra else {}),
        }


# -- names ----------------------------------------------------------------------------------
def resolve_spec(spec: str) -> tuple[str, str]:
    """Return ``(kind, target)`` for a model name: kind is hub, local, checkpoint or random."""
    spec = spec.strip()
    if spec.startswith(RANDOM_PREFIX):
        shape = spec[len(RANDOM_PREFIX) :]
        if shape != REDUCED and shape not in REGISTRY:
            raise ModelUnavailableError(f"Unknown model shape {shape!r} for random weights; {_known_names()}")
        return "random", shape
    if spec in REGISTRY:
        return "hub", REGISTRY[spec].hub_id
    path = Path(spec).expanduser()
    if path.is_file():
        from .checkpoints import CHECKPOINT_SUFFIXES

        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ModelUnavailableError(
                f"{spec} is a file but not a Meta checkpoint ({', '.join(CHECKPOINT_SUFFIXES)}); "
                "give a .pt file, a save_pretrained directory, a registry name or a hub id."
            )
        return "checkpoint", str(path.resolve())
    if path.exists():
        return "local", str(path.resolve())
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return "hub", spec
    raise ModelUnavailableError(f"Unknown model {spec!r}: not a registry name, hub id or directory; {_known_names()}")


def check_model_config(kind: str, model_config: str | None) -> None:
    """``model_config`` is for a Meta checkpoint only, and must name a known configuration."""
    if model_config is None:
        return
    if kind != "checkpoint":
        raise Sam2InputError("--model-config applies only to a Meta checkpoint (.pt) given as --model.")
    from .checkpoints import check_config_name

    check_config_name(model_config)


def _known_names() -> str:
    return "known names: " + ", ".join(REGISTRY)


def pick_device(name: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit choice must be available."""
    import torch

    name = (name or "auto").lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name.startswith("cuda") and not cuda:
        raise Sam2InputError("The cuda device was chosen, but no CUDA GPU is available here: choose auto or cpu.")
    if name == "mps" and not mps:
        raise Sam2InputError("The mps device was chosen, but Apple's MPS is not available here: choose auto or cpu.")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise Sam2InputError(f"Unknown device {name!r}; use auto, cpu, cuda or mps.")
    return name


PRECISIONS = ("auto", "fp32", "bf16")


def torch_threads(requested: int | None = None) -> int:
    """Threads for torch's intra-op pool: ``requested``, else NAPARI_SAM2_THREADS, else every core."""
    import os

    return int(requested or os.environ.get("NAPARI_SAM2_THREADS") or 0) or (os.cpu_count() or 1)


def set_torch_threads(requested: int | None = None) -> int:
    """Set torch's thread count in the calling thread, deliberately, not by inheritance."""
    import torch

    threads = torch_threads(requested)
    torch.set_num_threads(threads)
    return threads


def default_autocast_dtype(device: str, precision: str = "auto"):
    """The autocast dtype for ``precision``; ``auto`` is bf16 on CUDA and fp32 elsewhere.

    On CPUs, bf16 autocast was 8x slower than fp32 on this project's test machine (no native
    bf16 instructions), so ``auto`` never picks it there; ``bf16`` forces it.
    """
    import torch

    if precision not in PRECISIONS:
        raise Sam2InputError(f"Precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if device.startswith("cuda") else None


def quiet_third_party() -> None:
    """Silence transformers' and the hub's progress bars, logging and warnings (``--quiet``)."""
    import logging
    import warnings

    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for name in ("transformers", "huggingface_hub", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(transformers|huggingface_hub|torch|timm)(\.|$)")


# -- loading --------------------------------------------------------------------------------
class ModelLoader:
    """Loads models on first use and keeps them by ``(spec, device, dtype)``."""

    def __init__(self) -> None:
        self._loaded: dict[tuple, LoadedModel] = {}
        self.loads = 0  # models actually loaded (not served from memory)

    def load(
        self,
        spec: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        progress: bool = True,
        tqdm_class=None,
        compile: bool = False,
        precision: str = "auto",
        model_config: str | None = None,
    ) -> LoadedModel:
        """Load ``spec`` once; ``tqdm_class`` shows download progress (napari passes its own)."""
        device = pick_device(device)
        dtype = default_autocast_dtype(device, precision)
        key = (spec, device, str(dtype), compile, model_config)
        if key not in self._loaded:
            self.loads += 1
            self._loaded[key] = load_model(
                spec,
                device=device,
                autocast_dtype=dtype,
                progress=progress,
                tqdm_class=tqdm_class,
                compile=compile,
                model_config=model_config,
            )
        return self._loaded[key]


def load_model(
    spec: str,
    *,
    device: str = "cpu",
    autocast_dtype=None,
    progress: bool = True,
    tqdm_class=None,
    compile: bool = False,
    model_config: str | None = None,
) -> LoadedModel:
    """Load ``spec`` (registry name, hub id, directory, ``.pt`` or ``random:NAME``) onto ``device``.

    ``model_config`` names the configuration of a Meta checkpoint whose shape is not one of
    the official ones; it is refused for any other kind of model.

    ``compile=True`` wraps the image encoder and memory attention in ``torch.compile``: the
    first frames pay the compilation (seconds to minutes), later frames run faster. Worth it
    for long batch runs, not for interactive use (see docs/benchmarks.md); off by default.
    """
    kind, target = resolve_spec(spec)
    check_model_config(kind, model_config)
    extra: dict = {}
    if kind == "random":
        model, processor = build_random_model(target)
        revision, source, model_id = "random-seed-0", "random", f"{RANDOM_PREFIX}{target}"
    elif kind == "checkpoint":
        from .checkpoints import convert_checkpoint

        directory, digest, config_name = convert_checkpoint(target, model_config=model_config)
        model, processor = _load_directory(directory, label=target)
        revision, source, model_id = f"sha256:{digest[:16]}", "checkpoint", target
        extra["config"] = config_name
    else:
        if kind == "hub":
            directory, revision = fetch_from_hub(target, progress=progress, tqdm_class=tqdm_class)
            source, model_id = "hub", target
        else:
            directory, revision, source, model_id = Path(target), _hash_directory(Path(target)), "local", target
        model, processor = _load_directory(directory, label=model_id)
    model = model.to(device).eval()
    if compile:
        _compile_hot_parts(model)
        extra["compiled"] = True
    return LoadedModel(
        model=model,
        processor=processor,
        spec=spec,
        source=source,
        model_id=model_id,
        revision=revision,
        device=device,
        autocast_dtype=autocast_dtype,
        is_random=kind == "random",
        image_size=int(processor.target_size),
        extra=extra,
    )


def _compile_hot_parts(model) -> None:
    """``torch.compile`` the two parts that take nearly all the time of a frame."""
    import torch

    for name in ("vision_encoder", "memory_attention"):
        part = getattr(model, name, None)
        if part is not None:
            setattr(model, name, torch.compile(part))


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
        except (RepositoryNotFoundError, GatedRepoError) as exc:
            raise ModelUnavailableError(f"Model {hub_id!r} does not exist on the hub or is not public.") from exc
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
            reason = "offline mode is on" if _hub_offline() else "no network"
            raise _offline_error(hub_id, reason) from exc
    path = Path(path)
    return path, path.name


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


def _load_directory(directory: Path, *, label: str):
    import json

    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(f"{label} is not a model directory: it has no config.json.")
    try:
        model_type = json.loads(config_path.read_text()).get("model_type", "")
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{label}: config.json is not readable JSON ({exc}).") from exc
    model_class = _model_class(model_type, label)
    try:
        model = model_class.from_pretrained(directory)
    except ImportError as exc:
        raise ModelUnavailableError(f"{label} needs the timm package: pip install 'napari-sam2[edgetam]'.") from exc
    except Exception as exc:  # transformers raises many types for corrupt weights
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(f"{label} could not be loaded; the directory looks corrupt: {first}") from exc
    return model, _load_processor(directory, model)


def _model_class(model_type: str, label: str):
    import transformers

    classes = {"sam2_video": "Sam2VideoModel", "edgetam_video": "EdgeTamVideoModel"}
    if model_type not in classes:
        raise ModelUnavailableError(
            f"{label} holds a {model_type or 'unknown'!r} model, not a SAM 2 video model "
            "(expected model_type sam2_video or edgetam_video)."
        )
    if model_type == "edgetam_video":
        require_edgetam_support()
    return getattr(transformers, classes[model_type])


#: The first transformers release that builds EdgeTAM offline (tested from there on).
EDGETAM_MIN_TRANSFORMERS = "5.20"


def require_edgetam_support() -> None:
    """EdgeTAM was tested from transformers 5.20; older releases fetch its backbone from the hub."""
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) < Version(EDGETAM_MIN_TRANSFORMERS):
        raise ModelUnavailableError(
            f"EdgeTAM needs transformers {EDGETAM_MIN_TRANSFORMERS} or newer (installed: {transformers.__version__}); "
            f"pip install 'transformers>={EDGETAM_MIN_TRANSFORMERS}'."
        )


def _load_processor(directory: Path, model):
    from transformers import Sam2VideoProcessor

    if (directory / "processor_config.json").exists() or (directory / "preprocessor_config.json").exists():
        try:
            return Sam2VideoProcessor.from_pretrained(directory)
        except Exception:  # fall back to the processor implied by the model's config
            pass
    return make_processor(config_image_size(model.config))


def config_image_size(config) -> int:
    size = config.image_size
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def make_processor(image_size: int = 1024):
    """The reference SAM 2 processor for a given square input size."""
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    size = {"height": image_size, "width": image_size}
    image_processor = Sam2ImageProcessor(size=size, mask_size={"height": image_size // 4, "width": image_size // 4})
    return Sam2VideoProcessor(image_processor=image_processor, video_processor=Sam2VideoVideoProcessor(size=size))


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


# -- random weights -------------------------------------------------------------------------
def _edgetam_config():
    """EdgeTAM's real shape: a RepViT-M1 backbone through timm (the default config builds Hiera)."""
    from transformers import EdgeTamVideoConfig, TimmWrapperConfig

    backbone = TimmWrapperConfig(
        architecture="repvit_m1",
        do_pretrained=False,
        num_labels=1000,
        model_args={"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
    )
    return EdgeTamVideoConfig(vision_config=dict(model_type="edgetam_vision_model", backbone_config=backbone.to_dict()))


def random_config(shape: str):
    """A config in the shape of a registry model, or the reduced test shape."""
    from transformers import Sam2VideoConfig

    if shape == "edgetam":
        try:
            import timm  # noqa: F401
        except ImportError as exc:
            raise ModelUnavailableError("EdgeTAM needs the timm package: pip install 'napari-sam2[edgetam]'.") from exc
        require_edgetam_support()
        return _edgetam_config()

    if shape == REDUCED:
        s = 256
        backbone = dict(image_size=[s, s], blocks_per_stage=[1, 1, 2, 1], global_attention_blocks=[3])
        return Sam2VideoConfig(
            vision_config=dict(
                model_type="sam2_vision_model",
                backbone_config=dict(model_type="sam2_hiera_det_model", **backbone),
                backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
            ),
            prompt_encoder_config=dict(image_size=s),
            image_size=s,
            memory_attention_rope_feat_sizes=[s // 16, s // 16],
            memory_attention_num_layers=2,
        )
    size = shape.split("-", 1)[1]
    h = _HIERA[size]
    dims = [h["hidden"] * 2**i for i in range(4)]
    backbone = dict(
        model_type="sam2_hiera_det_model",
        hidden_size=h["hidden"],
        num_attention_heads=h["heads"],
        blocks_per_stage=h["blocks"],
        embed_dim_per_stage=dims,
        num_attention_heads_per_stage=[h["heads"] * 2**i for i in range(4)],
        window_size_per_stage=h["win"],
        global_attention_blocks=h["glob"],
        window_positional_embedding_background_size=h["bkg"],
    )
    is_21 = shape.startswith("sam2.1")
    return Sam2VideoConfig(
        vision_config=dict(model_type="sam2_vision_model", backbone_config=backbone, backbone_channel_list=dims[::-1]),
        enable_occlusion_spatial_embedding=is_21,
        enable_temporal_pos_encoding_for_object_pointers=is_21,
    )


def build_random_model(shape: str, *, seed: int = 0):
    """A model of ``shape`` with seeded random weights whose masks are not trivially empty.

    Default random weights give a slightly negative object score, so every mask is the
    constant "object absent". Raising the object-score bias and scaling the mask
    hypernetworks' outputs gives masks that cover part of the frame and change with the
    image and the prompt. Random memory attention barely reaches the decoder, so tracked
    frames would ignore the prompt; strengthening its cross-attention makes about a tenth
    of each tracked mask depend on the memory (measured on the reduced shape), which is
    what tests of memory, corrections and pruning need to prove anything.
    """
    import torch
    from transformers import EdgeTamVideoModel, Sam2VideoModel

    config = random_config(shape)
    model_class = EdgeTamVideoModel if shape == "edgetam" else Sam2VideoModel
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = model_class(config).eval()
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
        for mlp in model.mask_decoder.output_hypernetworks_mlps:
            mlp.proj_out.weight.mul_(100.0)
        for layer in model.memory_attention.layers:
            attention = layer.cross_attn_image
            if not hasattr(attention, "o_proj"):
                continue
            attention.o_proj.weight.mul_(30.0)
            for projection in (attention.q_proj, attention.k_proj, attention.v_proj):
                projection.weight.mul_(3.0)
    return model, make_processor(config_image_size(config))


def save_random_model(shape: str, directory: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a random-weight model with ``save_pretrained``, as a user's directory would be."""
    model, processor = build_random_model(shape, seed=seed)
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
