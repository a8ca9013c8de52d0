"""Loading a model: from the hub, a local directory, a Meta checkpoint or random weights;
:class:`ModelLoader` keeps what it loaded by ``(spec, device, dtype)``.

torch and transformers are imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailableError
from .devices import default_autocast_dtype, pick_device
from .hashing import _hash_directory
from .hub import fetch_from_hub
from .processors import config_image_size, make_processor, model_family, video_model_class
from .registry import DEFAULT_MODEL, RANDOM_PREFIX, check_model_config, resolve_spec


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

    @property
    def device_type(self) -> str:
        """``cpu``, ``cuda`` or ``mps``: the device without its index."""
        return str(self.device).split(":")[0]

    def autocast(self):
        """Context for model calls: bf16 autocast on CUDA, nothing elsewhere."""
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

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
        from .random_weights import build_random_model

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


def _load_directory(directory: Path, *, label: str):
    import json

    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(f"{label} is not a model directory: it has no config.json.")
    try:
        model_type = json.loads(config_path.read_text()).get("model_type", "")
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{label}: config.json is not readable JSON ({exc}).") from exc
    model_class = video_model_class(model_type, label)
    try:
        model = model_class.from_pretrained(directory)
    except ImportError as exc:
        raise ModelUnavailableError(f"{label} needs the timm package: pip install 'napari-sam2[edgetam]'.") from exc
    except Exception as exc:  # transformers raises many types for corrupt weights
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(f"{label} could not be loaded; the directory looks corrupt: {first}") from exc
    return model, _load_processor(directory, model)


def _load_processor(directory: Path, model):
    import transformers

    family = model_family(model)
    processor_class = transformers.Sam3TrackerVideoProcessor if family == "sam3" else transformers.Sam2VideoProcessor
    if (directory / "processor_config.json").exists() or (directory / "preprocessor_config.json").exists():
        try:
            return processor_class.from_pretrained(directory)
        except Exception:  # fall back to the processor implied by the model's config
            pass
    return make_processor(config_image_size(model.config), family)
