"""Meta's own SAM 2 video predictor (PyPI ``sam2``) on our random weights: the tests' reference.

The weights go to Meta's code the way users' fine-tunes come to ours, as a ``.pt`` checkpoint
(:func:`napari_sam2.core.models.checkpoints.to_meta_state_dict`). The frames go the way Meta reads
videos: a folder of JPEGs (quality 100) at exactly the model size, so Meta's PIL resize does
nothing; the engine gets the same decoded pixels. Meta's predictor is built as its
``build_sam2_video_predictor`` builds it for users, with ``add_all_frames_to_correct_as_cond=True``
as the engine's corrections assume.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: Meta's SAM 2.1-tiny configuration shrunk to the project's reduced test shape.
REDUCED_OVERRIDES = [
    "++model.image_size=256",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.memory_attention.num_layers=2",
    "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[16,16]",
]


def write_checkpoint(model, path: Path) -> Path:
    """``model`` (transformers) saved as Meta's training code saves: ``{"model": state dict}``."""
    import torch

    from napari_sam2.core.models.checkpoints import to_meta_state_dict

    state = dict(model.state_dict())
    torch.save({"model": to_meta_state_dict(state)}, path)
    return path


def tie_positional_encodings(model) -> None:
    """Give a random model the single image positional encoding a real SAM 2 has."""
    import torch

    with torch.no_grad():
        model.shared_image_embedding.positional_embedding.copy_(
            model.prompt_encoder.shared_embedding.positional_embedding
        )


def meta_predictor(checkpoint: Path, *, reduced: bool = True):
    """Meta's ``SAM2VideoPredictor`` holding ``checkpoint``'s weights, on the CPU."""
    import warnings

    from sam2.build_sam import build_sam2_video_predictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml",
            ckpt_path=str(checkpoint),
            device="cpu",
            hydra_overrides_extra=[
                *(REDUCED_OVERRIDES if reduced else []),
                "++model.add_all_frames_to_correct_as_cond=true",
            ],
        )
    _float_memory_on_cpu(predictor.memory_attention)
    return predictor


def _float_memory_on_cpu(attention) -> None:
    """Meta stores memories in bfloat16 and relies on CUDA autocast to mix them with float32.

    On a CPU, a frame whose only memories are bfloat16 (no object pointer to promote them,
    e.g. an object prompted on a later frame) fails in Meta's code with a dtype error. Cast
    them to float32 as type promotion does in every other case: the same values.
    """
    forward = attention.forward

    def float_memory(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        return forward(curr, memory.float(), curr_pos, memory_pos.float(), num_obj_ptr_tokens)

    attention.forward = float_memory


def jpeg_video(stack: np.ndarray, folder: Path) -> np.ndarray:
    """Write ``stack`` (N, S, S) uint8 as ``folder/<i>.jpg`` (quality 100); return the decoded RGB frames."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    decoded = []
    for i, frame in enumerate(stack):
        path = folder / f"{i}.jpg"
        Image.fromarray(frame).convert("RGB").save(path, quality=100)
        decoded.append(np.array(Image.open(path).convert("RGB")))
    return np.stack(decoded)


@contextmanager
def meta_state(predictor, folder: Path):
    """An inference state of ``predictor`` over the JPEG folder, loaded by Meta's own reader."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield predictor.init_state(video_path=str(folder))


def masks_of(video_res_masks) -> np.ndarray:
    return (video_res_masks[:, 0] > 0).cpu().numpy()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


class GpuHoleFilling:
    """Meta's hole filling on the CPU: its CUDA kernel's contract, emulated with scipy.

    Meta's ``get_connected_components`` (``sam2/csrc/connected_components.cu``) labels
    (N, 1, H, W) binary masks with 8-connectivity and returns each pixel's label and the
    area of its component. Without CUDA, Meta's predictor warns and skips hole filling;
    with this in place it fills as it does on a GPU. ``filled`` counts the pixels filled.
    """

    def __init__(self) -> None:
        self.filled = 0

    def components(self, mask):
        import torch
        from scipy import ndimage

        binary = mask.to(torch.uint8).cpu().numpy()
        labels = np.zeros(binary.shape, np.int32)
        areas = np.zeros(binary.shape, np.int32)
        for n in range(binary.shape[0]):
            labelled, _ = ndimage.label(binary[n, 0], structure=np.ones((3, 3)))
            sizes = np.bincount(labelled.ravel())
            sizes[0] = 0
            labels[n, 0], areas[n, 0] = labelled, sizes[labelled]
        small = (labels > 0) & (areas <= 8)
        self.filled += int(small.sum())
        return torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device)

    def __enter__(self):
        import sam2.utils.misc as misc

        self._original = misc.get_connected_components
        misc.get_connected_components = self.components
        return self

    def __exit__(self, *exc):
        import sam2.utils.misc as misc

        misc.get_connected_components = self._original
