"""The models napari-sam2 knows by name, and what a model name means.

A model is named in one of five ways: a short registry name (``sam2.1-tiny``), a hub id
(``facebook/sam2.1-hiera-tiny``), a local directory written by ``save_pretrained``, a
checkpoint in Meta's format (``.pt``), or ``random:NAME`` (the shape of ``NAME`` with random
weights, for tests and for trying the pipeline without weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelUnavailableError, Sam2InputError

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
        ModelInfo("sam3", "facebook/sam3", 3440, "SAM 3 tracker (gated: accept its licence on the hub first)"),
    )
}


#: Hiera shapes of the original SAM 2 / 2.1 configurations (the same for both releases).
_HIERA = {
    "tiny": dict(hidden=96, heads=1, blocks=[1, 2, 7, 2], glob=[5, 7, 9], bkg=[7, 7], win=[8, 4, 14, 7]),
    "small": dict(hidden=96, heads=1, blocks=[1, 2, 11, 2], glob=[7, 10, 13], bkg=[7, 7], win=[8, 4, 14, 7]),
    "base-plus": dict(hidden=112, heads=2, blocks=[2, 3, 16, 3], glob=[12, 16, 20], bkg=[14, 14], win=[8, 4, 14, 7]),
    "large": dict(hidden=144, heads=2, blocks=[2, 6, 36, 4], glob=[23, 33, 43], bkg=[7, 7], win=[8, 4, 16, 8]),
}
#: A reduced SAM 2.1-tiny (256-pixel input, fewer layers) for fast tests and demos.
REDUCED = "reduced"
#: A reduced SAM 3 tracker (252-pixel input, a 2-layer ViT) for fast tests.
REDUCED_SAM3 = "sam3-reduced"
#: Models whose hub repository is gated: the licence must be accepted there, and the
#: download needs a logged-in account.
GATED = ("sam3",)
#: Suffixes recognised as Meta checkpoints when a file is given as the model.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
#: The official SAM 2 / 2.1 configurations a checkpoint can have (EdgeTAM is no Meta checkpoint).
OFFICIAL_CONFIGS = tuple(name for name in REGISTRY if name.startswith("sam2"))


# -- names ----------------------------------------------------------------------------------
def resolve_spec(spec: str) -> tuple[str, str]:
    """Return ``(kind, target)`` for a model name: kind is hub, local, checkpoint or random."""
    spec = spec.strip()
    if spec.startswith(RANDOM_PREFIX):
        shape = spec[len(RANDOM_PREFIX) :]
        if shape not in (REDUCED, REDUCED_SAM3) and shape not in REGISTRY:
            raise ModelUnavailableError(f"Unknown model shape {shape!r} for random weights; {_known_names()}")
        return "random", shape
    if spec in REGISTRY:
        return "hub", REGISTRY[spec].hub_id
    path = Path(spec).expanduser()
    if path.is_file():
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
    check_config_name(model_config)


def _known_names() -> str:
    return "known names: " + ", ".join(REGISTRY)


def check_config_name(name: str) -> str:
    """An official configuration name, or ``reduced`` (this project's small test shape)."""
    if name != REDUCED and name not in OFFICIAL_CONFIGS:
        raise ModelUnavailableError(f"Unknown --model-config {name!r}; use one of {', '.join(OFFICIAL_CONFIGS)}.")
    return name
