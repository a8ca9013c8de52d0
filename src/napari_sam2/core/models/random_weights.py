"""Models with random weights in the real shapes: tests and trying the pipeline offline."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelUnavailableError
from .processors import config_image_size, make_processor, model_family, require_edgetam_support, video_model_class
from .registry import _HIERA, REDUCED, REDUCED_SAM3


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


def _sam3_config(reduced: bool):
    """The SAM 3 tracker's real shape (a 1024-wide, 32-layer ViT on 1008 pixels), or a
    reduced one for tests (252 pixels, a 2-layer ViT): same parts, fewer weights."""
    from transformers import Sam3TrackerVideoConfig

    if not reduced:
        return Sam3TrackerVideoConfig()
    s, patch = 252, 14
    grid = s // patch
    backbone = dict(
        model_type="sam3_vit_model", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        image_size=s, patch_size=patch, window_size=6, global_attn_indexes=[1], pretrain_image_size=84,
    )  # fmt: skip
    return Sam3TrackerVideoConfig(
        vision_config=dict(
            model_type="sam3_vision_model",
            backbone_config=backbone,
            backbone_feature_sizes=[[grid * 4, grid * 4], [grid * 2, grid * 2], [grid, grid]],
        ),
        prompt_encoder_config=dict(image_size=s),
        image_size=s,
        memory_attention_rope_feat_sizes=[grid, grid],
        memory_attention_num_layers=1,
    )


def random_config(shape: str):
    """A config in the shape of a registry model, or a reduced test shape."""
    from transformers import Sam2VideoConfig

    if shape in ("sam3", REDUCED_SAM3):
        return _sam3_config(reduced=shape == REDUCED_SAM3)

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

    config = random_config(shape)
    model_class = video_model_class(config.model_type, f"random:{shape}")  # the class a saved copy loads as
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
    return model, make_processor(config_image_size(config), model_family(config))


def save_random_model(shape: str, directory: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a random-weight model with ``save_pretrained``, as a user's directory would be."""
    model, processor = build_random_model(shape, seed=seed)
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
