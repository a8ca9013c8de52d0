"""SAM 2's mask decoder for many single-point prompts on one image: segment everything's inner loop.

transformers' ``Sam2VideoMaskDecoder`` (Meta's ``MaskDecoder`` too) copies the image embedding
once per prompt and runs the two-way transformer on every copy: a 32 x 32 grid moves a
64 x 64 x 256 embedding through ten linear layers a thousand times. The same arithmetic, in
another order, needs far less:

* **Shared first layer.** Until the first image-to-token attention, every prompt sees the same
  image: its key, value and query projections are computed once for the batch.
* **Attention through the weights.** The token side has 8 tokens; the image side 4096 pixels.
  A projection of the pixels followed by a dot product with the tokens equals a dot product
  of the pixels with the tokens projected back through the weight
  (``q . (W k + b) = (W^T q) . k + q . b``; the constant ``q . b`` cancels in a softmax over
  pixels, and a value projection commutes with the attention average because its rows sum
  to one). Every per-prompt pixel projection becomes a product with 8 heads x 8 tokens = 64
  columns instead of 128. The positional encoding, the same for every prompt, is added
  inside those products rather than to a copy of each prompt's image, and the residual
  ``image + attention`` is the product's own input.
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

from typing import Any


def decode_points(decoder: Any, image: Any, positions: Any, sparse: Any, high_res: list, keep_above: float):
    """Three candidate masks and IoUs per point prompt.

    ``decoder``: transformers' SAM 2 mask decoder; ``image``: ``(1, C, H, W)``, the image
    embedding plus the dense (no-mask) prompt embedding; ``positions``: ``(1, C, H, W)``;
    ``sparse``: ``(B, T, C)`` point embeddings; ``high_res``: the two high-resolution feature
    maps, batch 1. Returns ``(low_res, iou, upscaled)``: ``low_res`` ``(n, 3, 4H, 4W)`` logits
    for the ``n`` points whose best IoU exceeds ``keep_above`` (their indices: ``upscaled``),
    and ``iou`` ``(B, 3)`` for every point.
    """
    import torch

    transformer = decoder.transformer
    batch = sparse.shape[0]
    tokens = torch.cat(
        [decoder.obj_score_token.weight, decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0
    ).expand(batch, -1, -1)
    prompts = torch.cat([tokens, sparse], dim=1).to(decoder.iou_token.weight.dtype)  # (B, T, C)
    x = image.flatten(2).transpose(1, 2)  # (1, HW, C)
    pe = positions.flatten(2).transpose(1, 2)
    first, second = transformer.layers

    # Layer 1: the image is the same for every prompt.
    queries = _tokens(first.self_attn, prompts, prompts, prompts)
    queries = first.layer_norm1(queries)
    queries = first.layer_norm2(
        queries + _to_shared_image(first.cross_attn_token_to_image, queries + prompts, x + pe, x)
    )
    queries = first.layer_norm3(queries + first.mlp(queries))
    # keys + the attention's output in one product (the residual is the product's input)
    keys = first.layer_norm4(_image_to_tokens(first.cross_attn_image_to_token, x, pe, queries + prompts, queries))

    # Layer 2 and the final attention: each prompt has its own image now; the positions are
    # added inside the products, not to a copy of each image.
    queries = second.layer_norm1(queries + _tokens(second.self_attn, queries + prompts, queries + prompts, queries))
    queries = second.layer_norm2(queries + _to_image(second.cross_attn_token_to_image, queries + prompts, keys, pe))
    queries = second.layer_norm3(queries + second.mlp(queries))
    keys = second.layer_norm4(_image_to_tokens(second.cross_attn_image_to_token, keys, pe, queries + prompts, queries))

    # The final attention, token by token (each token's row is its own): the IoU token for
    # every prompt, the three mask tokens only for the prompts whose masks are upscaled.
    iou_token = _final(transformer, queries[:, _IOU], prompts[:, _IOU], keys, pe)
    iou = decoder.iou_prediction_head(iou_token[:, 0])[:, 1:]  # multimask: masks 1 to 3
    upscaled = torch.nonzero(iou.amax(dim=1) > keep_above).flatten()
    keys = keys[upscaled]
    mask_tokens = _final(transformer, queries[upscaled, _MASKS], prompts[upscaled, _MASKS], keys, pe)
    return _masks(decoder, keys, mask_tokens, image.shape[-2:], high_res), iou, upscaled


#: The tokens after the final attention that the outputs read (the order is the obj-score
#: token, the IoU token, four mask tokens, then the prompt's): the IoU token, and mask tokens
#: 1 to 3 (multimask output). The obj-score token, mask token 0 and the prompt's tokens are
#: read by nothing after the final attention, so it is not computed for them.
_IOU = slice(1, 2)
_MASKS = slice(3, 6)


def _final(transformer, queries, prompts, keys, positions):
    """The final token-to-image attention and its layer norm, for these tokens only."""
    if queries.shape[0] == 0:
        return queries
    attention = transformer.final_attn_token_to_image
    return transformer.layer_norm_final_attn(queries + _to_image(attention, queries + prompts, keys, positions))


def _masks(decoder, keys, mask_tokens, size, high_res):
    """The upscaled masks 1 to 3 of these prompts from their mask tokens 1 to 3 (transformers'
    last steps, batch by batch)."""
    import torch

    n = keys.shape[0]
    height, width = size
    if n == 0:
        return keys.new_zeros((0, 3, 4 * height, 4 * width))
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


def _to_shared_image(attention, query, key, value):
    """Tokens attending to the image every prompt shares (``key``/``value``: batch 1): one
    product per head for all the prompts' tokens."""
    import torch

    batch, n_tokens, _ = query.shape
    heads, dim = attention.num_attention_heads, attention.head_dim
    q = attention.q_proj(query).view(batch * n_tokens, heads, dim).transpose(0, 1) * attention.scaling  # (h, BT, d)
    k = attention.k_proj(key[0]).view(-1, heads, dim).transpose(0, 1)  # (h, HW, d)
    v = attention.v_proj(value[0]).view(-1, heads, dim).transpose(0, 1)
    weights = torch.softmax(q @ k.transpose(1, 2), dim=-1)  # (h, BT, HW)
    out = (weights @ v).transpose(0, 1).reshape(batch, n_tokens, heads * dim)
    return attention.o_proj(out)


def _to_image(attention, query, image, positions):
    """Tokens attending to each prompt's own image (keys ``image + positions``, values
    ``image``), through the weights: scores ``(W_k^T q) . (image + positions)`` (the bias
    term is constant over pixels), values ``W_v (weights . image) + b_v`` (the weights sum
    to one)."""
    import torch

    batch, n_tokens, channels = query.shape
    heads, dim = attention.num_attention_heads, attention.head_dim
    q = _heads(attention, attention.q_proj(query)) * attention.scaling  # (B, h, T, d)
    w_k = attention.k_proj.weight.view(heads, dim, channels)  # (h, d, C)
    q_back = (q @ w_k).reshape(batch, heads * n_tokens, channels)  # (B, hT, C)
    at_positions = (q_back.reshape(-1, channels) @ positions[0].T).view(batch, heads * n_tokens, -1)
    weights = torch.softmax(torch.baddbmm(at_positions, q_back, image.transpose(1, 2)), dim=-1)  # (B, hT, HW)
    pooled = (weights @ image).view(batch, heads, n_tokens, channels)  # (B, h, T, C)
    w_v = attention.v_proj.weight.view(heads, dim, channels)
    out = pooled @ w_v.transpose(1, 2) + attention.v_proj.bias.view(heads, 1, dim)  # (B, h, T, d)
    return attention.o_proj(out.transpose(1, 2).reshape(batch, n_tokens, heads * dim))


def _image_to_tokens(attention, image, positions, key, value):
    """``image`` plus each pixel's attention to the prompt's tokens (queries ``image +
    positions``), through the weights: scores ``(image + positions) . (W_q^T k) + b_q . k``,
    output ``sum_h weights_h (v_h W_o,h^T + b_o / h)`` (each head's weights sum to one), added
    to ``image`` by the product itself. An image every prompt shares (batch 1) is one product
    for all the prompts."""
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
    if image.shape[0] == 1:  # image and positions shared: (B hT, C) @ (C, HW)
        scores = torch.addmm(bias, k_back, (image[0] + positions[0]).T)
    else:  # the positions' part is shared, the image's is each prompt's
        at_positions = torch.addmm(bias, k_back, positions[0].T).view(batch, heads * n_tokens, -1)
        scores = torch.baddbmm(at_positions, k_back.view(batch, heads * n_tokens, channels), image.mT)
    weights = torch.softmax(scores.view(batch, heads, n_tokens, -1), dim=-2).view(batch, heads * n_tokens, -1)
    w_o = attention.o_proj.weight.view(channels, heads, dim)  # (C, h, d)
    v_out = torch.einsum("bhtd,chd->bhtc", v, w_o) + attention.o_proj.bias / heads  # (B, h, T, C)
    return torch.baddbmm(image.expand(batch, -1, -1), weights.mT, v_out.reshape(batch, heads * n_tokens, channels))
