"""SAM 2's mask decoder for many single-point prompts on one image: segment everything's inner loop.

transformers' ``Sam2VideoMaskDecoder`` (Meta's ``MaskDecoder`` too) copies the image embedding
once per prompt and runs the two-way transformer on every copy: a 32 x 32 grid moves a
64 x 64 x 256 embedding through ten linear layers a thousand times. The same arithmetic, in
another order, needs far less:

* **Shared first layer.** Until the first image-to-token attention, every prompt sees the same
  image: its key and value projections, and the image plus its positional encoding, are
  computed once per image (:func:`share_image`), not once per chunk of prompts.
* **Attention through the weights.** The token side has 8 tokens; the image side 4096 pixels.
  A projection of the pixels followed by a dot product with the tokens equals a dot product
  of the pixels with the tokens projected back through the weight
  (``q . (W k + b) = (W^T q) . k + q . b``; the constant ``q . b`` cancels in a softmax over
  pixels, and a value projection commutes with the attention average because its rows sum
  to one). Every per-prompt pixel projection becomes a product with 8 heads x 8 tokens = 64
  columns instead of 128. The residual ``image + attention`` is the product's own input.
* **Positions added once per prompt in layer 2.** Both layer-2 attentions score each
  prompt's keys plus the positional encoding: the sum is made once (one pass over the
  prompt's 4096 x 256 map) and read by both, instead of a 64-column product with the
  positions inside each. The final attention, with 8 rows, keeps the positions inside its
  product. (Session 11 found the sum slower, when each new map could cost page faults.)
* **One workspace per image.** A chunk's per-prompt maps (4 MB a prompt) are written into
  tensors kept for the image, the layer norms a 2 MB tile at a time (torch's layer norm
  allocates its output). A fresh map may cost a page fault per 4 kB: glibc hands blocks of
  32 MB and more straight from the system each time, and returns the top of its heap past a
  threshold it adapts at run time, so the cost depended on what the process did before (one
  process: 10.4 s, another 17 s with 3 million faults, the same decoder). Under autocast the
  products allocate their outputs, in the autocast dtype, as before.
* **Upscaling only what can be kept.** A point's masks are upscaled (two transposed
  convolutions, a layer norm, two GELUs, the hypernetwork product: as costly as the whole
  transformer) only when one of its predicted IoUs passes the threshold that would drop the
  mask anyway.
* **The final attention only for the tokens read.** After the final token-to-image attention
  only the IoU token and mask tokens 1 to 3 are read, and each token's attention is its own.
  So it runs for the IoU token of every point (8 rows instead of 64), and for the mask
  tokens only of the points that are upscaled (1024 points: 16.0 s -> 14.4 s, session 12).

The masks are those of the module (the same operations in another order: equal up to float
rounding; :func:`decode_points` is checked against it in the tests). Only point prompts, no mask
input, multimask output: what segment everything asks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SharedImage:
    """What every point prompt on one image shares (:func:`share_image`): the image and the
    positional encoding pixel-major ``(HW, C)``, their sum, layer 1's key and value
    projections of the image, and the workspace each chunk of prompts writes its maps into."""

    size: tuple[int, int]
    image: Any
    positions: Any
    image_at_positions: Any
    keys: Any  # layer 1's token-to-image keys, (h, HW, d)
    values: Any
    _flat: dict = field(default_factory=dict, repr=False)

    def buffer(self, name: str, *shape: int):
        """A tensor of ``shape`` kept for this image under ``name`` (grown when a larger
        one is asked for); ``None`` under autocast, where each operation allocates its
        output in the autocast dtype."""
        import torch

        if torch.is_autocast_enabled(self.image.device.type):
            return None
        n = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < n:
            flat = self._flat[name] = self.image.new_empty(n)
        return flat[:n].view(shape)


def share_image(decoder: Any, image: Any, positions: Any) -> SharedImage:
    """The shared part of :func:`decode_points` for one image: ``image`` ``(1, C, H, W)``,
    the image embedding plus the dense (no-mask) prompt embedding; ``positions``
    ``(1, C, H, W)``."""
    attention = decoder.transformer.layers[0].cross_attn_token_to_image
    heads, dim = attention.num_attention_heads, attention.head_dim
    pixels = image.flatten(2)[0].T.contiguous()  # (HW, C)
    at_positions = positions.flatten(2)[0].T.contiguous()
    summed = pixels + at_positions
    keys = attention.k_proj(summed).view(-1, heads, dim).transpose(0, 1)  # (h, HW, d)
    values = attention.v_proj(pixels).view(-1, heads, dim).transpose(0, 1)
    return SharedImage(tuple(image.shape[-2:]), pixels, at_positions, summed, keys, values)


def decode_points(decoder: Any, shared: SharedImage, sparse: Any, high_res: list, keep_above: float):
    """Three candidate masks and IoUs per point prompt.

    ``decoder``: transformers' SAM 2 mask decoder; ``shared``: :func:`share_image` of the
    image; ``sparse``: ``(B, T, C)`` point embeddings; ``high_res``: the two
    high-resolution feature maps, batch 1. Returns ``(low_res, iou, upscaled)``: ``low_res``
    ``(n, 3, 4H, 4W)`` logits for the ``n`` points whose best IoU exceeds ``keep_above``
    (their indices: ``upscaled``), and ``iou`` ``(B, 3)`` for every point. No returned
    tensor shares memory with the workspace.
    """
    import torch

    transformer = decoder.transformer
    batch, hw, channels = sparse.shape[0], shared.image.shape[0], shared.image.shape[1]
    tokens = torch.cat(
        [decoder.obj_score_token.weight, decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0
    ).expand(batch, -1, -1)
    prompts = torch.cat([tokens, sparse], dim=1).to(decoder.iou_token.weight.dtype)  # (B, T, C)
    first, second = transformer.layers
    # Two per-prompt maps, (B, HW, C) each: the keys, changed in place from layer to layer,
    # and the keys plus the positions (None under autocast: each step allocates its output).
    keys_map, sum_map = (shared.buffer(name, batch, hw, channels) for name in ("keys", "keys + positions"))

    # Layer 1: the image is the same for every prompt.
    queries = _tokens(first.self_attn, prompts, prompts, prompts)
    queries = first.layer_norm1(queries)
    queries = first.layer_norm2(queries + _to_shared_image(first.cross_attn_token_to_image, queries + prompts, shared))
    queries = first.layer_norm3(queries + first.mlp(queries))
    summed = _image_to_tokens(
        first.cross_attn_image_to_token,
        shared.image[None],
        shared.image_at_positions[None],
        queries + prompts,
        queries,
        shared,
        out=keys_map,
    )  # the image + the attention's output in one product (the residual is the product's input)
    keys = _layer_norm(first.layer_norm4, summed, out=keys_map)

    # Layer 2: each prompt has its own keys now; both attentions score them plus the
    # positions, summed once.
    at_positions = torch.add(keys, shared.positions, out=sum_map)
    queries = second.layer_norm1(queries + _tokens(second.self_attn, queries + prompts, queries + prompts, queries))
    to_keys = _to_image(second.cross_attn_token_to_image, queries + prompts, keys, shared, at_positions=at_positions)
    queries = second.layer_norm2(queries + to_keys)
    queries = second.layer_norm3(queries + second.mlp(queries))
    summed = _image_to_tokens(  # the residual added to the keys in place
        second.cross_attn_image_to_token,
        keys,
        at_positions,
        queries + prompts,
        queries,
        shared,
        out=keys_map,
    )
    keys = _layer_norm(second.layer_norm4, summed, out=keys_map)

    # The final attention, token by token (each token's row is its own): the IoU token for
    # every prompt, the three mask tokens only for the prompts whose masks are upscaled.
    iou_token = _final(transformer, queries[:, _IOU], prompts[:, _IOU], keys, shared)
    iou = decoder.iou_prediction_head(iou_token[:, 0])[:, 1:]  # multimask: masks 1 to 3
    upscaled = torch.nonzero(iou.amax(dim=1) > keep_above).flatten()
    masks = []
    for start in range(0, len(upscaled), _UPSCALED_TOGETHER):  # a few at a time: 12 MB of upscaled maps each
        few = upscaled[start : start + _UPSCALED_TOGETHER]
        few_keys = keys[few]  # a copy: the workspace is written again by the next chunk
        mask_tokens = _final(transformer, queries[few, _MASKS], prompts[few, _MASKS], few_keys, shared)
        masks.append(_masks(decoder, few_keys, mask_tokens, shared.size, high_res))
    height, width = shared.size
    low_res = torch.cat(masks) if masks else keys.new_zeros((0, 3, 4 * height, 4 * width))
    return low_res, iou, upscaled


#: The tokens after the final attention that the outputs read (the order is the obj-score
#: token, the IoU token, four mask tokens, then the prompt's): the IoU token, and mask tokens
#: 1 to 3 (multimask output). The obj-score token, mask token 0 and the prompt's tokens are
#: read by nothing after the final attention, so it is not computed for them.
_IOU = slice(1, 2)
_MASKS = slice(3, 6)

#: Prompts upscaled together (their maps: 4 MB of keys, 4 and 8 MB of upscaled features each).
_UPSCALED_TOGETHER = 4


def _final(transformer, queries, prompts, keys, shared):
    """The final token-to-image attention and its layer norm, for these tokens only (few
    rows: the positions stay inside its product)."""
    attention = transformer.final_attn_token_to_image
    return transformer.layer_norm_final_attn(queries + _to_image(attention, queries + prompts, keys, shared))


def _masks(decoder, keys, mask_tokens, size, high_res):
    """The upscaled masks 1 to 3 of these prompts from their mask tokens 1 to 3 (transformers'
    last steps, batch by batch)."""
    import torch

    n = keys.shape[0]
    height, width = size
    embedding = keys.transpose(1, 2).reshape(n, -1, height, width)
    feat_s0, feat_s1 = high_res
    up = decoder.upscale_conv1(embedding) + feat_s1
    up = decoder.activation(decoder.upscale_layer_norm(up))
    up = decoder.activation(decoder.upscale_conv2(up) + feat_s0)
    mlps = decoder.output_hypernetworks_mlps
    hyper = [mlps[i](mask_tokens[:, i - 1]) for i in range(1, len(mlps))]  # multimask output: masks 1 to 3
    h, w = up.shape[-2:]
    return (torch.stack(hyper, dim=1) @ up.reshape(n, up.shape[1], h * w)).reshape(n, len(hyper), h, w)


def _heads(attention, tensor):
    """``(B, N, h*d) -> (B, h, N, d)``."""
    b, n, _ = tensor.shape
    return tensor.view(b, n, attention.num_attention_heads, attention.head_dim).transpose(1, 2)


def _tokens(attention, query, key, value):
    """Attention among the prompt tokens (small: the module itself, on a point batch of one)."""
    out, _ = attention(query=query[:, None], key=key[:, None], value=value[:, None])
    return out[:, 0]


def _to_shared_image(attention, query, shared):
    """Tokens attending to the image every prompt shares (its keys and values projected once,
    in :func:`share_image`): one product per head for all the prompts' tokens."""
    import torch

    batch, n_tokens, _ = query.shape
    heads, dim = attention.num_attention_heads, attention.head_dim
    q = attention.q_proj(query).view(batch * n_tokens, heads, dim).transpose(0, 1) * attention.scaling  # (h, BT, d)
    shape = (heads, batch * n_tokens, shared.keys.shape[1])
    scores = torch.bmm(q, shared.keys.transpose(1, 2), out=shared.buffer("scores", *shape))
    weights = _softmax(scores, -1, shared.buffer("weights", *shape))  # (h, BT, HW)
    out = (weights @ shared.values).transpose(0, 1).reshape(batch, n_tokens, heads * dim)
    return attention.o_proj(out)


def _to_image(attention, query, image, shared, at_positions=None):
    """Tokens attending to each prompt's own image (keys ``image + positions``, values
    ``image``), through the weights: scores ``(W_k^T q) . (image + positions)`` (the bias
    term is constant over pixels), values ``W_v (weights . image) + b_v`` (the weights sum
    to one). ``at_positions``: ``image + positions`` where it is made already; otherwise
    the positions' part is a product with the shared positions."""
    import torch

    batch, n_tokens, channels = query.shape
    heads, dim = attention.num_attention_heads, attention.head_dim
    q = _heads(attention, attention.q_proj(query)) * attention.scaling  # (B, h, T, d)
    w_k = attention.k_proj.weight.view(heads, dim, channels)  # (h, d, C)
    q_back = (q @ w_k).reshape(batch, heads * n_tokens, channels)  # (B, hT, C)
    hw = image.shape[1]
    scores = shared.buffer("scores", batch, heads * n_tokens, hw)
    if at_positions is not None:
        scores = torch.bmm(q_back, at_positions.mT, out=scores)
    else:
        positions_part = (q_back.reshape(-1, channels) @ shared.positions.T).view(batch, heads * n_tokens, hw)
        scores = torch.baddbmm(positions_part, q_back, image.mT, out=scores)
    weights = _softmax(scores, -1, shared.buffer("weights", *scores.shape))  # (B, hT, HW)
    pooled = (weights @ image).view(batch, heads, n_tokens, channels)  # (B, h, T, C)
    w_v = attention.v_proj.weight.view(heads, dim, channels)
    out = pooled @ w_v.transpose(1, 2) + attention.v_proj.bias.view(heads, 1, dim)  # (B, h, T, d)
    return attention.o_proj(out.transpose(1, 2).reshape(batch, n_tokens, heads * dim))


def _image_to_tokens(attention, image, at_positions, key, value, shared, out=None):
    """``image`` plus each pixel's attention to the prompt's tokens (queries ``at_positions``,
    the image plus its positions), through the weights: scores ``at_positions . (W_q^T k) +
    b_q . k``, output ``sum_h weights_h (v_h W_o,h^T + b_o / h)`` (each head's weights sum
    to one), added to ``image`` by the product itself, written to ``out`` (which may be
    ``image``: then in place). An image every prompt shares (batch 1) is one product for
    all the prompts."""
    import torch

    batch, n_tokens, channels = key.shape
    heads, dim = attention.num_attention_heads, attention.head_dim
    k = _heads(attention, attention.k_proj(key)) * attention.scaling  # (B, h, T, d)
    v = _heads(attention, attention.v_proj(value))  # (B, h, T, d)
    w_q = attention.q_proj.weight.view(heads, dim, channels)  # (h, d, C)
    k_back = torch.einsum("hdc,bhtd->bhtc", w_q, k).reshape(-1, channels)  # (B hT, C)
    bias = torch.einsum("hd,bhtd->bht", attention.q_proj.bias.view(heads, dim), k).reshape(-1, 1)  # (B hT, 1)
    # Scores laid out (B, h, T, HW): the softmax over the 8 tokens then runs across rows of
    # pixels: torch's own kernel, seven times faster here than the written-out softmax over a
    # last axis of 8 on the transposed product (0.47 vs 3.5 ms for 4 points; 14.4 -> 13.0 s in all).
    hw = image.shape[1]
    scores = shared.buffer("scores", batch * heads * n_tokens, hw)
    if image.shape[0] == 1:  # image and positions shared: (B hT, C) @ (C, HW)
        scores = torch.addmm(bias, k_back, at_positions[0].T, out=scores)
    else:
        scores = torch.baddbmm(
            bias.view(batch, heads * n_tokens, 1),
            k_back.view(batch, heads * n_tokens, channels),
            at_positions.mT,
            out=None if scores is None else scores.view(batch, heads * n_tokens, hw),
        )
    by_token = scores.view(batch, heads, n_tokens, hw)
    weights = _softmax(by_token, -2, shared.buffer("weights", *by_token.shape)).view(batch, heads * n_tokens, hw)
    w_o = attention.o_proj.weight.view(channels, heads, dim)  # (C, h, d)
    v_out = torch.einsum("bhtd,chd->bhtc", v, w_o) + attention.o_proj.bias / heads  # (B, h, T, C)
    v_out = v_out.reshape(batch, heads * n_tokens, channels)
    if out is not None and out.data_ptr() == image.data_ptr():
        return out.baddbmm_(weights.mT, v_out)
    return torch.baddbmm(image.expand(batch, -1, -1), weights.mT, v_out, out=out)


def _softmax(scores, dim: int, out):
    """``torch.softmax``, written to ``out`` when there is one (ATen's out= overload)."""
    import torch

    if out is None:
        return torch.softmax(scores, dim=dim)
    return torch.ops.aten._softmax.out(scores, dim, False, out=out)


def _layer_norm(norm, x, out):
    """``norm(x)``, written to ``out`` when there is one, a tile of rows at a time: torch's
    layer norm allocates its output, and a tile (2 MB) is reused by the allocator where a
    whole map (16 MB and more) may come back as fresh pages each time."""
    if out is None:
        return norm(x)
    rows, into = x.view(-1, x.shape[-1]), out.view(-1, x.shape[-1])
    for start in range(0, rows.shape[0], _LAYER_NORM_ROWS):
        into[start : start + _LAYER_NORM_ROWS] = norm(rows[start : start + _LAYER_NORM_ROWS])
    return out


#: Rows per tile of :func:`_layer_norm` (2 MB of 256 fp32 channels: this CPU's L2 per core).
_LAYER_NORM_ROWS = 2048
