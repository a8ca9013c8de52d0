"""The engine against Meta's own SAM 2 video predictor (PyPI ``sam2``): same weights, same pixels.

The random reduced model is written as a Meta checkpoint and loaded by Meta's
``build_sam2_video_predictor``, which also proves the checkpoint conversion end to end. Both
read the same JPEG frames. Meta's predictor fills holes as it does on a GPU (its CUDA
kernel's contract emulated on the CPU, :class:`tests.meta_reference.GpuHoleFilling`).

Each scenario compares every frame and object over 14 frames (IoU >= 0.99; measured: 1.0),
and fails with the matching fix of the engine switched off: the reason for each fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.upstream import Fixes
from tests.helpers import assert_meaningful, moving_blob_stack
from tests.meta_reference import GpuHoleFilling, iou, jpeg_video, masks_of, meta_predictor, meta_state

pytest.importorskip("sam2", reason="Meta's sam2 package is the reference (scripts/setup.sh installs it)")

N_FRAMES = 14
FLOOR = 0.99

#: Engine switches that turn one fix off (the defaults turn every fix on).
FIXES = {
    "holes": {"fill_hole_area": 0},
    "memory from the stored mask": {"fixes": Fixes(memory_from_stored_mask=False)},
    "previous mask": {"fixes": Fixes(previous_mask=False)},
    "prompted frames tracked": {"fixes": Fixes(prompted_frames_tracked=False)},
    "corrections kept": {"fixes": Fixes(corrections_kept=False)},
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(loaded engine model, Meta predictor, decoded frames, JPEG folder), same weights and pixels."""
    import torch

    from napari_sam2.core.models import LoadedModel, build_random_model
    from tests.meta_reference import tie_positional_encodings, write_checkpoint

    torch.set_num_threads(2)
    folder = tmp_path_factory.mktemp("meta")
    model, processor = build_random_model("reduced")
    tie_positional_encodings(model)
    checkpoint = write_checkpoint(model, folder / "reduced.pt")
    loaded = LoadedModel(
        model=model, processor=processor, spec="random:reduced", source="random", model_id="random:reduced",
        revision="test", device="cpu", is_random=True, image_size=256,
    )  # fmt: skip
    frames = jpeg_video(moving_blob_stack(N_FRAMES, shape=(256, 256), speed=4.0), folder / "frames")
    return loaded, meta_predictor(checkpoint), frames, folder / "frames"


class Both:
    """One user's actions done on the engine and on Meta's predictor, results kept side by side."""

    def __init__(self, reference, **engine_options):
        from napari_sam2.core.frames import FrameSource
        from napari_sam2.core.session import TrackingSession

        loaded, self.predictor, frames, self.folder = reference
        self.session = TrackingSession(loaded, FrameSource(frames), **engine_options)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def __enter__(self):
        self.holes = GpuHoleFilling().__enter__()
        self._state = meta_state(self.predictor, self.folder)
        self.state = self._state.__enter__()
        return self

    def __exit__(self, *exc):
        self._state.__exit__(*exc)
        self.holes.__exit__(*exc)

    def click(self, obj, frame, y, x, positive=True):
        import torch

        from napari_sam2.core.prompts import Point

        ours = self.session.add_points(obj, frame, [Point(y, x, positive)])
        with torch.inference_mode():
            _, ids, masks = self.predictor.add_new_points_or_box(
                self.state, frame_idx=frame, obj_id=obj, points=np.array([[x, y]], np.float32),
                labels=np.array([int(positive)], np.int32), clear_old_points=False,
            )  # fmt: skip
        self.pairs.append((ours.masks[0], dict(zip(ids, masks_of(masks)))[obj]))

    def box(self, obj, frame, y0, x0, y1, x1):
        import torch

        ours = self.session.set_prompts(obj, frame, box=(y0, x0, y1, x1))
        with torch.inference_mode():
            _, ids, masks = self.predictor.add_new_points_or_box(
                self.state, frame_idx=frame, obj_id=obj, box=np.array([x0, y0, x1, y1], np.float32)
            )
        self.pairs.append((ours.masks[0], dict(zip(ids, masks_of(masks)))[obj]))

    def mask(self, obj, frame, mask):
        import torch

        ours = self.session.add_mask(obj, frame, mask)
        with torch.inference_mode():
            _, ids, masks = self.predictor.add_new_mask(self.state, frame_idx=frame, obj_id=obj, mask=mask)
        self.pairs.append((ours.masks[0], dict(zip(ids, masks_of(masks)))[obj]))

    def remove(self, obj):
        import torch

        self.session.remove_object(obj)
        with torch.inference_mode():
            self.predictor.remove_object(self.state, obj, need_output=False)

    def propagate(self, direction):
        import torch

        ours = {r.frame: dict(zip(r.object_ids, r.masks)) for r in self.session.propagate(direction)}
        start = self.session.default_start()
        theirs = {}
        with torch.inference_mode():
            for reverse in {"forward": [False], "backward": [True], "both": [False, True]}[direction]:
                for f, ids, m in self.predictor.propagate_in_video(self.state, start_frame_idx=start, reverse=reverse):
                    theirs[f] = dict(zip(ids, masks_of(m)))
        assert set(ours) == set(theirs) == set(range(N_FRAMES)) or direction == "forward"
        for frame in theirs:
            for obj in theirs[frame]:
                self.pairs.append((ours[frame][obj], theirs[frame][obj]))

    def worst(self) -> float:
        for _, theirs in self.pairs:
            assert_meaningful(theirs)
        assert self.holes.filled > 0, "no hole was filled: the comparison would not cover filling"
        return min(iou(a, b) for a, b in self.pairs)


def _click_then_forward(both):
    both.click(1, 0, 120, 70)
    both.propagate("forward")


def _middle_click_both_ways(both):
    both.click(1, 7, 120, 100)
    both.propagate("both")


def _correction_then_forward(both):
    both.click(1, 0, 120, 70)
    both.propagate("forward")
    both.click(1, 6, 150, 120, positive=False)
    both.propagate("forward")


def _second_click_on_a_prompted_frame(both):
    both.click(1, 0, 120, 70)
    both.click(1, 0, 60, 200)
    both.propagate("forward")


def _new_click_on_a_prompted_frame_after_propagating(both):
    both.click(1, 0, 120, 70)
    both.propagate("forward")
    both.click(1, 0, 60, 200)
    both.propagate("forward")


def _new_click_on_the_middle_prompted_frame_after_both_ways(both):
    both.click(1, 7, 120, 100)
    both.propagate("both")  # the backward pass went through frame 7 last: it is tracked in reverse
    both.click(1, 7, 60, 200)
    both.propagate("both")


def _two_objects_on_different_frames(both):
    both.click(1, 0, 120, 70)
    both.click(2, 5, 40, 200)
    both.propagate("forward")


def _box_then_both_ways(both):
    both.box(1, 6, 90, 40, 170, 130)
    both.propagate("both")


def _mask_prompt_then_forward(both):
    yy, xx = np.mgrid[:256, :256]
    both.mask(1, 0, (yy - 120) ** 2 + (xx - 70) ** 2 < 40**2)
    both.propagate("forward")


def _correction_on_a_frame_tracked_backward(both):
    both.click(1, 9, 120, 110)
    both.propagate("both")
    both.click(1, 4, 150, 60, positive=False)  # tracked in the backward pass: corrected in reverse
    both.propagate("both")


def _an_object_removed_after_propagating(both):
    both.click(1, 0, 120, 70)
    both.click(2, 0, 40, 200)
    both.propagate("forward")
    both.remove(2)
    both.click(1, 3, 150, 120, positive=False)
    both.propagate("forward")


SCENARIOS = {
    "click then forward": (_click_then_forward, ["holes", "memory from the stored mask"]),
    "middle click, both ways": (_middle_click_both_ways, ["holes"]),
    "correction, then forward": (
        _correction_then_forward,
        ["holes", "memory from the stored mask", "previous mask", "corrections kept"],
    ),
    "second click on a prompted frame": (_second_click_on_a_prompted_frame, ["holes", "previous mask"]),
    "new click on a prompted frame after propagating": (
        _new_click_on_a_prompted_frame_after_propagating,
        ["holes", "prompted frames tracked"],
    ),
    "new click on the middle prompted frame after both ways": (
        _new_click_on_the_middle_prompted_frame_after_both_ways,
        ["holes", "prompted frames tracked"],
    ),
    "two objects on different frames": (_two_objects_on_different_frames, ["holes"]),
    "box, both ways": (_box_then_both_ways, ["holes"]),
    "mask prompt, then forward": (_mask_prompt_then_forward, ["holes"]),
    "an object removed after propagating": (_an_object_removed_after_propagating, ["holes", "previous mask"]),
    "correction on a frame tracked backward": (
        _correction_on_a_frame_tracked_backward,
        ["holes", "previous mask", "corrections kept"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_engine_gives_metas_masks(reference, name):
    scenario, needed = SCENARIOS[name]
    with Both(reference) as both:
        scenario(both)
    assert both.worst() >= FLOOR
    for fix in needed:  # each fix this scenario relies on, switched off, breaks it
        with Both(reference, **FIXES[fix]) as without:
            scenario(without)
        assert without.worst() < FLOOR, (name, fix)
