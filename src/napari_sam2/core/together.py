"""Objects tracked together: one memory attention call for many objects.

The engine keeps one transformers inference state per object, so that objects never change
one another (:mod:`.session`). Tracked one at a time, a frame with N objects costs N calls
of memory attention (most of a tracked frame's cost), the mask decoder and the memory
encoder. Here the objects that only track a frame (no new prompt there, not a conditioning
frame of theirs) go through memory attention and the memory encoder as one batch, while
each keeps its own memory, prompts, corrections and span:

1. each object's memory is gathered by transformers' own code
   (``_prepare_memory_conditioned_features``, with the memory attention module standing
   aside and recording what it would have been given);
2. objects whose memories have the same shape (the same number of memory frames and object
   pointers) are stacked along the batch axis and go through memory attention once; the
   others form groups of their own;
3. the mask decoder runs per object (its products over a few prompt tokens round
   differently in a batch, by about 1e-8, enough to flip a pixel now and then); the memory
   encoder runs once for all, as transformers' ``forward`` runs it for a session's objects
   (per object for EdgeTAM, whose own ``forward`` does so);
4. each object's outputs are stored in its state exactly where its own ``forward`` call
   would have put them.

Nothing is padded or masked, so every object meets the same arithmetic as alone. The tests
compare every stored tensor with tracking one at a time: bit for bit on the reduced shapes;
on the real tiny shape the masks are equal and the tensors agree to about 1e-6, because the
CPU's matrix product blocks a batch's larger feed-forward product differently.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from .holes import fill_small_holes


def objects_together_by_default(loaded) -> bool:
    """Batch objects on a GPU; on a CPU the cost is arithmetic, and one at a time was faster
    (``docs/benchmarks.md``, session 10 rows)."""
    return loaded.device_type != "cpu"


def alone_on(state, frame: int) -> bool:
    """Whether the object of ``state`` must run alone on ``frame``: it has new prompts or a
    conditioning output there (its ``forward`` call handles those cases)."""
    return bool(state.obj_with_new_inputs) or frame in state.output_dict_per_obj[0]["cond_frame_outputs"]


def track_together(model, states: list, frame: int, reverse: bool, *, fill_hole_area: int, keep=None) -> list:
    """Track the objects of ``states`` (one transformers inference state each, none of them
    :func:`alone_on` ``frame``) on ``frame`` in one batch.

    Returns, per state, what its ``forward`` would return (its ``pred_masks`` and
    ``object_score_logits``); ``keep(index, features)`` receives each object's
    memory-conditioned features (for :class:`~.conditioned.ConditionedFeatures`).
    """
    import torch

    feats, pos = model._prepare_vision_features(inference_session=states[0], frame_idx=frame, batch_size=1)
    recorded = _gather_memories(model, states, frame, reverse, feats[-1], pos[-1])
    channels, (height, width) = model.hidden_dim, model.backbone_feature_sizes[-1]
    conditioned: list[Any] = [None] * len(states)
    for members in _groups(recorded):
        batched = {
            k: torch.cat([recorded[i][k] for i in members], dim=1) if torch.is_tensor(v) else v
            for k, v in recorded[members[0]].items()
        }
        out = model.memory_attention(**batched)  # (1, batch, HW, channels)
        out = out.reshape(len(members), height * width, channels).transpose(1, 2)
        for j, i in enumerate(members):
            conditioned[i] = out[j].reshape(1, channels, height, width).clone()  # not the batch's storage
    if keep is not None:
        for i, value in enumerate(conditioned):
            keep(i, value)
    high_res = [
        x.permute(1, 2, 0).view(x.size(1), x.size(2), *s) for x, s in zip(feats[:-1], model.backbone_feature_sizes[:-1])
    ]
    # Per object: see the module's notes (a batch would round the prompt tokens differently).
    decoded = [
        model._single_frame_forward(
            pixel_values=None,
            image_embeddings=[*high_res, features],
            multimask_output=model._use_multimask(False, None),
        )
        for features in conditioned
    ]
    pred_masks = fill_small_holes(torch.cat([d.pred_masks for d in decoded]), fill_hole_area)
    scores = torch.cat([d.object_score_logits for d in decoded])
    memories = _encode_memories(model, feats[-1], torch.cat([d.high_res_masks for d in decoded]), scores)
    results = []
    for i, state in enumerate(states):
        one = slice(i, i + 1)
        stored = {
            "pred_masks": pred_masks[one].clone(),
            "object_pointer": decoded[i].object_pointer,
            "object_score_logits": scores[one].clone(),
        }
        state.store_output(0, frame, output_value=stored, is_conditioning_frame=False)
        kept = state.output_dict_per_obj[0]["non_cond_frame_outputs"][frame]
        kept["maskmem_features"], kept["maskmem_pos_enc"] = memories[i]
        state.frames_tracked_per_obj[0][frame] = {"reverse": reverse}
        results.append(
            SimpleNamespace(pred_masks=stored["pred_masks"], object_score_logits=stored["object_score_logits"])
        )
    return results


def _encode_memories(model, features, high_res_masks, scores) -> list[tuple]:
    """Each object's new memory (features, position encoding), as its ``forward`` encodes it:
    SAM 2 and SAM 3 encode the objects of a session in one batch, so they are batched here
    too; EdgeTAM encodes each object alone (its perceiver takes one), so it does here."""
    n = high_res_masks.shape[0]

    def encode(masks, logits):
        return model._encode_new_memory(
            current_vision_feats=features.expand(-1, masks.shape[0], -1),
            pred_masks_high_res=masks,
            object_score_logits=logits,
            is_mask_from_pts=False,
        )

    if not hasattr(model, "_batch_encode_memories"):
        return [encode(high_res_masks[i : i + 1], scores[i : i + 1]) for i in range(n)]
    memory, position = encode(high_res_masks, scores)  # (HW, n, channels) each
    return [(memory[:, i : i + 1].clone(), position[:, i : i + 1].clone()) for i in range(n)]


class _Recorder:
    """Stands in for the memory attention module: records its arguments, returns zeros."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        features = kwargs["current_vision_features"]  # (HW, 1, channels)
        return features.new_zeros(1, 1, features.shape[0], features.shape[-1])


@contextmanager
def _recording(model):
    """Within the block, ``model.memory_attention`` only records what it is given."""
    original = model._modules["memory_attention"]
    recorder = _Recorder()
    model._modules["memory_attention"] = recorder
    try:
        yield recorder
    finally:
        model._modules["memory_attention"] = original


def _gather_memories(model, states, frame, reverse, features, position) -> list[dict]:
    """The memory attention arguments of each object on ``frame``, by transformers' code."""
    with _recording(model) as recorder:
        for state in states:
            model._prepare_memory_conditioned_features(
                inference_session=state,
                frame_idx=frame,
                obj_idx=0,
                is_initial_conditioning_frame=False,
                current_vision_features=features,
                current_vision_positional_embeddings=position,
                num_total_frames=state.num_frames,
                track_in_reverse_time=reverse,
                streaming=False,
            )
    return recorder.calls


def _groups(recorded: list[dict]) -> list[list[int]]:
    """Objects (indices) whose memory attention arguments stack: same tensor shapes, same counts."""

    def key(kwargs):
        return tuple((k, tuple(v.shape) if hasattr(v, "shape") else v) for k, v in sorted(kwargs.items()))

    groups: dict[Any, list[int]] = {}
    for i, kwargs in enumerate(recorded):
        groups.setdefault(key(kwargs), []).append(i)
    return list(groups.values())
