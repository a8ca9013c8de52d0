"""Meta-format SAM 2 checkpoints (``.pt``): read, convert to transformers, cache.

Fine-tuned SAM 2 models (MedSAM2, microscopy fine-tunes, a lab's own training with Meta's
code) are shared as the ``.pt`` files Meta's ``sam2`` package writes: ``{"model": state
dict}``, with Meta's parameter names. The engine runs transformers' ``Sam2VideoModel``, so a
checkpoint is converted once:

1. it is read with ``torch.load(weights_only=True)``: tensors and plain containers only, no
   code from the file runs;
2. its configuration is inferred from the tensor shapes (the eight official SAM 2 / 2.1
   shapes), or named with ``model_config``;
3. its parameter names are renamed by :data:`RENAMES`, this project's table of Meta's names
   and transformers' names; the same table read backwards writes Meta's format
   (:func:`to_meta_state_dict`), which is how the conversion is tested;
4. the renamed tensors are loaded strictly: a missing, unexpected or mis-shaped tensor is an
   error that names it;
5. the converted model is saved with ``save_pretrained`` in the cache, in a folder named by
   the checkpoint's SHA-256, so later runs load it directly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelUnavailableError
from .hashing import file_sha256, project_cache_root
from .processors import config_image_size, make_processor
from .random_weights import random_config
from .registry import CHECKPOINT_SUFFIXES, OFFICIAL_CONFIGS, REDUCED, check_config_name  # noqa: F401 (re-exported)

# Hiera trunk (width of the patch embedding, number of blocks) of each official shape.
_TRUNKS = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base-plus", (144, 48): "large"}


@dataclass(frozen=True)
class _Rename:
    """One renaming of a run of dotted name parts; ``{i}`` stands for a number kept as is."""

    meta: str
    hf: str

    def _compile(self, pattern: str) -> re.Pattern:
        body = re.escape(pattern).replace(r"\{i\}", r"(?P<i>\d+)")
        return re.compile(rf"(?:(?<=\.)|^){body}(?=\.|$)")

    def apply(self, key: str, *, to_hf: bool) -> str:
        source, target = (self.meta, self.hf) if to_hf else (self.hf, self.meta)
        return self._compile(source).sub(lambda m: target.replace("{i}", m.groupdict().get("i") or ""), key)


def _three_layer_heads() -> list[_Rename]:
    # Meta's 3-layer MLPs are layers.0-2; transformers names them proj_in, layers.0, proj_out.
    # The order matters: layers.0 is renamed before layers.1 takes its name.
    renames = []
    for head in ("iou_prediction_head", "pred_obj_score_head", "output_hypernetworks_mlps.{i}", "obj_ptr_proj"):
        renames += [
            _Rename(f"{head}.layers.0", f"{head}.proj_in"),
            _Rename(f"{head}.layers.1", f"{head}.layers.0"),
            _Rename(f"{head}.layers.2", f"{head}.proj_out"),
        ]
    return renames


def _mask_downsampler(stages: int = 4) -> list[_Rename]:
    # Meta: a Sequential of (conv, norm, GELU) per stage, then the final 1x1 conv.
    renames = []
    for stage in range(stages):
        renames += [
            _Rename(f"mask_downsampler.encoder.{3 * stage}", f"mask_downsampler.layers.{stage}.conv"),
            _Rename(f"mask_downsampler.encoder.{3 * stage + 1}", f"mask_downsampler.layers.{stage}.layer_norm"),
        ]
    return [*renames, _Rename(f"mask_downsampler.encoder.{3 * stages}", "mask_downsampler.final_conv")]


#: Meta's names -> transformers' names, applied in this order (and backwards in reverse).
RENAMES: tuple[_Rename, ...] = (
    # Names used everywhere come first, so that no later rule's result is taken for one
    # of theirs when the table is read backwards.
    _Rename("out_proj", "o_proj"),
    _Rename("norm", "layer_norm"),
    *(_Rename(f"norm{n}", f"layer_norm{n}") for n in range(1, 5)),
    _Rename("norm_final_attn", "layer_norm_final_attn"),
    # image encoder
    _Rename("image_encoder.trunk", "vision_encoder.backbone"),
    _Rename("image_encoder.neck", "vision_encoder.neck"),
    _Rename("neck.convs.{i}.conv", "neck.convs.{i}"),
    _Rename("patch_embed.proj", "patch_embed.projection"),
    # prompt encoder
    _Rename("sam_prompt_encoder", "prompt_encoder"),
    _Rename("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    _Rename("mask_downscaling.0", "mask_embed.conv1"),
    _Rename("mask_downscaling.1", "mask_embed.layer_norm1"),
    _Rename("mask_downscaling.3", "mask_embed.conv2"),
    _Rename("mask_downscaling.4", "mask_embed.layer_norm2"),
    _Rename("mask_downscaling.6", "mask_embed.conv3"),
    # mask decoder
    _Rename("sam_mask_decoder", "mask_decoder"),
    _Rename("output_upscaling.0", "upscale_conv1"),
    _Rename("output_upscaling.1", "upscale_layer_norm"),
    _Rename("output_upscaling.3", "upscale_conv2"),
    *_three_layer_heads(),
    _Rename("mlp.layers.0", "mlp.proj_in"),
    _Rename("mlp.layers.1", "mlp.proj_out"),
    # memory encoder
    _Rename("memory_encoder.o_proj", "memory_encoder.projection"),
    *_mask_downsampler(),
    _Rename("pix_feat_proj", "feature_projection"),
    _Rename("fuser", "memory_fuser"),
    _Rename("dwconv", "depthwise_conv"),
    _Rename("pwconv1", "pointwise_conv1"),
    _Rename("pwconv2", "pointwise_conv2"),
    _Rename("gamma", "scale"),
    # top-level parameters of the tracker
    _Rename("obj_ptr_proj", "object_pointer_proj"),
    _Rename("obj_ptr_tpos_proj", "temporal_positional_encoding_projection_layer"),
    _Rename("no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    _Rename("no_obj_ptr", "no_object_pointer"),
    _Rename("maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    _Rename("no_mem_embed", "no_memory_embedding"),
    _Rename("no_mem_pos_enc", "no_memory_positional_encoding"),
)

_POINT_EMBEDDINGS = re.compile(r"^sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$")
_HF_POINT_EMBED = "prompt_encoder.point_embed.weight"
_HF_SHARED_PE = "shared_image_embedding.positional_embedding"
_HF_PROMPT_PE = "prompt_encoder.shared_embedding.positional_embedding"
_META_TRUNK_PATCH = "image_encoder.trunk.patch_embed.proj.weight"


def hf_name(meta_key: str) -> str:
    for rename in RENAMES:
        meta_key = rename.apply(meta_key, to_hf=True)
    return meta_key


def meta_name(hf_key: str) -> str:
    for rename in reversed(RENAMES):
        hf_key = rename.apply(hf_key, to_hf=False)
    return hf_key


def to_hf_state_dict(meta: dict) -> dict:
    """Meta's state dict in transformers' names and layout."""
    import torch

    points = {}
    converted = {}
    for key, tensor in meta.items():
        match = _POINT_EMBEDDINGS.match(key)
        if match:
            points[int(match.group(1))] = tensor
        else:
            converted[hf_name(key)] = tensor
    if points:  # four (1, C) embeddings become one (4, C) table
        converted[_HF_POINT_EMBED] = torch.cat([points[i] for i in sorted(points)], dim=0)
    if _HF_PROMPT_PE in converted:  # transformers keeps the image's positional encoding twice
        converted[_HF_SHARED_PE] = converted[_HF_PROMPT_PE].clone()
    return converted


def to_meta_state_dict(hf: dict) -> dict:
    """transformers' state dict in Meta's names and layout (the inverse of :func:`to_hf_state_dict`)."""
    import torch

    shared, prompt = hf.get(_HF_SHARED_PE), hf.get(_HF_PROMPT_PE)
    if shared is not None and shared is not prompt and not (shared.is_meta or torch.equal(shared, prompt)):
        raise ValueError(f"{_HF_SHARED_PE} differs from {_HF_PROMPT_PE}; Meta's format holds only one.")
    meta = {}
    for key, tensor in hf.items():
        if key == _HF_SHARED_PE:
            continue
        if key == _HF_POINT_EMBED:
            for i, row in enumerate(tensor):
                meta[f"sam_prompt_encoder.point_embeddings.{i}.weight"] = row[None].clone()
            continue
        meta[meta_name(key)] = tensor
    return meta


# -- reading ------------------------------------------------------------------------------------
def is_checkpoint_file(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES


def read_meta_state_dict(path: Path) -> dict:
    """The model tensors of a Meta checkpoint; a damaged or foreign file is one clear error."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on a damaged or foreign file (KeyError on text)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelUnavailableError(
            f"{path} is not a readable PyTorch checkpoint (truncated or damaged?): {first}"
        ) from exc
    state = loaded.get("model", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or _META_TRUNK_PATCH not in state:
        raise ModelUnavailableError(
            f"{path} is not a SAM 2 checkpoint in Meta's format: it has no SAM 2 image encoder ({_META_TRUNK_PATCH})."
        )
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def infer_shape(meta: dict) -> str:
    """The official configuration (``sam2.1-tiny`` …) whose tensor shapes ``meta`` has."""
    width = int(meta[_META_TRUNK_PATCH].shape[0])
    blocks = {int(m.group(1)) for k in meta if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))}
    size = _TRUNKS.get((width, len(blocks)))
    if size is None:
        raise ModelUnavailableError(
            f"The checkpoint's image encoder (width {width}, {len(blocks)} blocks) matches no official SAM 2 "
            "shape; name its configuration with --model-config (sam2.1-tiny, sam2-large, …)."
        )
    release = "sam2.1" if "no_obj_embed_spatial" in meta else "sam2"
    return f"{release}-{size}"


def build_from_meta(meta: dict, config_name: str, *, label: str):
    """A transformers ``Sam2VideoModel`` holding ``meta``'s tensors, checked strictly."""
    import torch
    from transformers import Sam2VideoModel

    converted = to_hf_state_dict(meta)
    with torch.device("meta"):
        model = Sam2VideoModel(random_config(config_name))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    misshaped = sorted(
        k for k in set(expected) & set(converted) if tuple(expected[k].shape) != tuple(converted[k].shape)
    )
    problems = [
        f"{what}: {', '.join(meta_name(k) for k in keys[:3])}{' …' if len(keys) > 3 else ''} ({len(keys)})"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped))
        if keys
    ]
    if problems:
        raise ModelUnavailableError(
            f"{label} does not fit the {config_name} configuration ({'; '.join(problems)}). "
            "If it is another size, name it with --model-config."
        )
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()


# -- the cache of converted models --------------------------------------------------------------
def converted_root() -> Path:
    """``$NAPARI_SAM2_CACHE/converted`` or ``~/.cache/napari-sam2/converted``."""
    return project_cache_root() / "converted"


def _cached_conversion(root: Path, key: str, model_config: str | None) -> Path | None:
    """The cached folder of a checkpoint (by hash): of ``model_config``, or else of the official
    configuration inference would give (one that loaded strictly has that one's shapes)."""
    for name in [model_config] if model_config is not None else OFFICIAL_CONFIGS:
        if (root / f"{key}-{name}" / "config.json").is_file():
            return root / f"{key}-{name}"
    return None


def convert_checkpoint(path: str | os.PathLike, *, model_config: str | None = None) -> tuple[Path, str, str]:
    """Return ``(directory, sha256, config)`` of ``path`` converted and cached in save_pretrained form.

    The folder is named by the checkpoint's hash and configuration, and written under a
    temporary name then renamed, so a killed conversion leaves no half model in the cache.
    """
    import shutil
    import tempfile

    path = Path(path).expanduser().resolve()
    if model_config is not None:
        check_config_name(model_config)
    digest = file_sha256(path)
    root = converted_root()
    cached = _cached_conversion(root, digest[:32], model_config)
    if cached is not None:  # not even read again
        return cached, digest, cached.name.split("-", 1)[1]
    meta = read_meta_state_dict(path)
    config_name = model_config or infer_shape(meta)
    target = root / f"{digest[:32]}-{config_name}"
    if (target / "config.json").is_file():
        return target, digest, config_name
    model = build_from_meta(meta, config_name, label=str(path))
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    except OSError as exc:
        raise ModelUnavailableError(f"Cannot write the converted model under {root}: {exc.strerror or exc}") from exc
    try:
        model.save_pretrained(staging)
        make_processor(config_image_size(model.config)).save_pretrained(staging)
        (staging / "napari_sam2_source.txt").write_text(f"{path}\nsha256:{digest}\nconfig:{config_name}\n")
        os.replace(staging, target)
    except OSError as exc:
        if (target / "config.json").is_file():  # another process converted it meanwhile
            return target, digest, config_name
        raise ModelUnavailableError(f"Cannot write the converted model under {root}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, digest, config_name
