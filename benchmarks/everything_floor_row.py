"""Benchmark row: how low segment everything's decoder can go on this machine, in fp32.

``core.point_decoder.decode_points`` runs, per point and per 64 x 64 map, six matrix
products with 256 channels against 64 (8 heads x 8 tokens) columns, two layer norms of the
point's 4096 x 256 keys, one sum of those keys and the positions, two softmaxes over the
tokens and one over the pixels, then the final attention for the IoU token alone (three
products and a softmax with 8 rows: 8 heads x 1 token; the mask tokens' rows only for
points whose masks are upscaled, none here). This row times each of those operations
alone, in its real shape and chunk size, on the same tensors over and over (hot where they
fit the caches), and adds them up per 1024 points: the time the decoder would
take if nothing else cost anything (the token-side layers, the prompt encoder, the
filtering and every tensor coming fresh from memory). It runs the real decoder on a 32 x 32
grid interleaved with it, so that both see the same machine.
"""

from __future__ import annotations

import statistics
import time


def _seconds(fn, repeats: int = 20) -> float:
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def _operations(decoder, hw: int, batch: int) -> dict:
    """``name -> (uses per chunk, callable)``: decode_points' big operations in their shapes."""
    import torch

    from napari_sam2.core.point_decoder import _layer_norm

    attention = decoder.transformer.layers[1].cross_attn_image_to_token
    channels, columns = decoder.iou_token.weight.shape[1], attention.num_attention_heads * 8  # 8 prompt tokens
    shared, keys = torch.randn(hw, channels), torch.randn(batch, hw, channels)
    tokens, by_token = torch.randn(batch, columns, channels), torch.randn(batch, columns, hw)
    all_back, bias = torch.randn(batch * columns, channels), torch.randn(batch * columns, 1)
    norm = decoder.transformer.layers[1].layer_norm4
    heads = attention.num_attention_heads
    iou_rows = torch.randn(batch * heads, channels) / channels  # scores near 1: no subnormal softmax weights

    def final_iou_token():  # positions, the point's keys, softmax over pixels, pixel-weighted keys
        at_positions = (iou_rows @ shared.T).view(batch, heads, hw)
        weights = torch.softmax(torch.baddbmm(at_positions, iou_rows.view(batch, heads, -1), keys.mT), dim=-1)
        return weights @ keys

    # Outputs written where decode_points writes them: into tensors kept for the image.
    scores, weights, into = torch.empty_like(by_token), torch.empty_like(by_token), torch.empty_like(keys)
    by_head = by_token.unflatten(1, (-1, 8))
    return {
        "scores against the shared image (addmm)": (
            1,
            lambda: torch.addmm(bias, all_back, shared.T, out=scores.view(batch * columns, hw)),
        ),
        "tokens' scores against each point's keys plus positions (bmm)": (
            2,
            lambda: torch.bmm(tokens, keys.mT, out=scores),
        ),
        "pixel-weighted keys (bmm)": (1, lambda: by_token @ keys),
        "residual plus token-weighted values (baddbmm)": (
            2,
            lambda: torch.baddbmm(keys, by_token.mT, tokens, out=into),
        ),
        "layer norm of the keys (2 MB tiles)": (2, lambda: _layer_norm(norm, keys, out=into)),
        "positions added to each point's keys": (1, lambda: torch.add(keys, shared, out=into)),
        "softmax over 8 tokens, per pixel and head": (
            2,
            lambda: torch.ops.aten._softmax.out(by_head, 2, False, out=weights.view(by_head.shape)),
        ),
        "softmax over the pixels": (1, lambda: torch.ops.aten._softmax.out(by_token, -1, False, out=weights)),
        "final attention, the IoU token (8 rows)": (1, final_iou_token),
    }


def row_everything_floor(tiny, args) -> dict:
    import torch
    from benchmarks.run import decode_grid, everything_frame

    from napari_sam2.core.everything import EverythingOptions, decode_chunk

    session, embeddings, points = everything_frame(tiny)
    model, options = session.loaded.model, EverythingOptions()
    hw = embeddings[-1].shape[-2] * embeddings[-1].shape[-1]
    chunks = len(points) / decode_chunk(options, autocast=False)
    floors, decodes, parts = [], [], {}
    with torch.inference_mode():
        operations = _operations(model.mask_decoder, hw, decode_chunk(options, autocast=False))
        for _ in range(max(2, args.repeats)):
            for name, (uses, fn) in operations.items():
                parts.setdefault(name, []).append(uses * chunks * _seconds(fn))
            floors.append(sum(v[-1] for v in parts.values()))
            decodes.append(decode_grid(model, embeddings, points, options))
    floor, decode = statistics.median(floors), statistics.median(decodes)
    return {
        "metric": "segment everything's decoder, 1024 points: its big operations alone (the floor) vs all of it",
        "value": round(floor, 2),
        "unit": "s",
        "target": "report (the everything row's target is 10 s for all of segment everything)",
        "ok": None,
        "details": {
            "decoder_s": [round(x, 2) for x in decodes],
            "floor_s": [round(x, 2) for x in floors],
            "floor_share_of_decoder": round(floor / decode, 2),
            "per_operation_s": {k: round(statistics.median(v), 2) for k, v in parts.items()},
            "decode_chunk": decode_chunk(options, autocast=False),
        },
    }
