"""The tracking session on a real (random-weight) model: every test checks its masks mean something."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.frames import FrameSource
from napari_sam2.core.labels import merge_masks_into_labels
from napari_sam2.core.prompts import Point
from napari_sam2.core.session import TrackingSession
from napari_sam2.core.upstream import Fixes
from tests.helpers import CountingArray, assert_differs, assert_meaningful, moving_blob_stack

CLICK = (40, 35)  # (y, x) inside the disc on frame 0


def _track(model, stack, clicks, direction="forward", **kwargs):
    session = TrackingSession(model, FrameSource(stack), **kwargs)
    for obj_id, frame, y, x in clicks:
        session.add_points(obj_id, frame, [(y, x)])
    return session, {r.frame: r for r in session.propagate(direction)}


def test_masks_are_meaningful_and_depend_on_prompt_and_image(reduced_model):
    stack = moving_blob_stack(6)
    _, a = _track(reduced_model, stack, [(1, 0, *CLICK)])
    _, b = _track(reduced_model, stack, [(1, 0, 80, 130)])
    _, c = _track(reduced_model, moving_blob_stack(6, seed=5, speed=-2), [(1, 0, *CLICK)])
    for f in range(6):
        assert_meaningful(a[f].masks[0])
    assert_differs(a[3].masks[0], b[3].masks[0])
    assert_differs(a[3].masks[0], c[3].masks[0])


def test_points_are_y_x_on_an_asymmetric_image(reduced_model):
    # The engine takes napari's (row, col); SAM 2 takes (x, y). Compare with the model
    # driven directly, with the click given both ways round.
    stack = moving_blob_stack(1, shape=(90, 140))
    y, x = 20.0, 110.0  # (y, x) inside the image; (x, y) = (110, 20) would be outside rows
    # transformers fills no holes: compare with the engine's hole filling off.
    engine = TrackingSession(reduced_model, FrameSource(stack), fill_hole_area=0).add_points(1, 0, [(y, x)]).masks[0]
    assert_meaningful(engine)

    def direct(xy):
        processor, model = reduced_model.processor, reduced_model.model
        state = processor.init_video_session(video=np.repeat(stack[..., None], 3, -1), inference_device="cpu")
        processor.add_inputs_to_inference_session(
            state, frame_idx=0, obj_ids=1, input_points=[[[xy]]], input_labels=[[[1]]]
        )
        with torch.inference_mode():
            out = model(inference_session=state, frame_idx=0)
        return (
            processor.post_process_masks([out.pred_masks], original_sizes=[[90, 140]], binarize=False)[0][0, 0] > 0
        ).numpy()

    np.testing.assert_array_equal(engine, direct([x, y]))
    assert_differs(engine, direct([y, x % 90]))


def test_adding_a_prompt_returns_that_frame_at_once(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(5)))
    result = session.add_points(1, 2, [Point(*CLICK)])
    assert result.frame == 2 and result.object_ids == [1] and result.masks.shape == (1, 90, 140)
    assert_meaningful(result.masks[0])
    negative = session.add_points(1, 2, [Point(60, 30, positive=False)])
    assert_differs(result.masks[0], negative.masks[0])


def _correction_survives(model, fix: bool) -> tuple[np.ndarray, np.ndarray]:
    stack = moving_blob_stack(10)
    session, _ = _track(model, stack, [(1, 0, *CLICK)], fixes=Fixes(corrections_kept=fix))
    corrected = session.add_points(1, 6, [Point(45, 60, positive=False), Point(10, 10, positive=True)]).masks[0]
    again = {r.frame: r for r in session.propagate("forward")}
    return corrected, again[6].masks[0]


def test_corrections_survive_repropagation(reduced_model):
    corrected, after = _correction_survives(reduced_model, fix=True)
    assert_meaningful(corrected)
    np.testing.assert_array_equal(after, corrected)


def test_without_the_fix_propagation_overwrites_the_correction(reduced_model):
    # This is the upstream behaviour the engine fixes; if it passes with the fix off,
    # the test above proves nothing.
    corrected, after = _correction_survives(reduced_model, fix=False)
    assert_meaningful(corrected)
    assert_differs(after, corrected)


def test_a_correction_changes_the_frames_after_it(reduced_model):
    stack = moving_blob_stack(10)
    session, first = _track(reduced_model, stack, [(1, 0, *CLICK)])
    session.add_points(1, 5, [Point(45, 60, positive=False), Point(10, 10)])
    second = {r.frame: r for r in session.propagate("forward", start=5)}
    assert set(second) == set(range(5, 10))
    assert_differs(first[8].masks[0], second[8].masks[0])


def test_cancel_keeps_finished_frames_and_resumes(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(10)))
    session.add_points(1, 0, [CLICK])
    run = session.propagate("forward")
    done = [next(run).frame for _ in range(4)]
    run.close()
    assert done == [0, 1, 2, 3] and sorted(session.scores) == [0, 1, 2, 3]
    rest = [r.frame for r in session.propagate("forward", start=3)]
    assert rest == list(range(3, 10)) and sorted(session.scores) == list(range(10))


def test_new_object_propagates_alone_and_others_do_not_change(reduced_model):
    stack = moving_blob_stack(8)
    session, first = _track(reduced_model, stack, [(1, 0, *CLICK)])
    labels = np.zeros((8, 90, 140), np.uint16)
    for r in first.values():
        merge_masks_into_labels(labels[r.frame], object_ids=r.object_ids, masks=r.masks, scores=r.scores)
    before_state = {
        f: o["object_pointer"].clone()
        for f, o in session._objects[1].state.output_dict_per_obj[0]["non_cond_frame_outputs"].items()
    }
    calls = []
    original = reduced_model.model.forward

    def counting_forward(*args, **kwargs):
        calls.append(kwargs["inference_session"])
        return original(*args, **kwargs)

    reduced_model.model.forward = counting_forward
    try:
        session.add_points(2, 0, [(75, 120)])
        new = list(session.propagate("forward", objects=[2]))
    finally:
        del reduced_model.model.forward
    assert all(r.object_ids == [2] for r in new)
    assert all(state is session._objects[2].state for state in calls)  # object 1 was not recomputed
    assert_meaningful(new[-1].masks[0])
    after_state = session._objects[1].state.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert all(torch.equal(before_state[f], after_state[f]["object_pointer"]) for f in before_state)
    frozen = labels.copy()
    for r in new:
        merge_masks_into_labels(labels[r.frame], object_ids=r.object_ids, masks=r.masks, scores=r.scores)
    assert ((labels == 1) == (frozen == 1)).all()  # object 1's pixels did not move


def test_each_frame_is_read_once_per_pass_for_several_objects(reduced_model):
    data = CountingArray(moving_blob_stack(12))
    session = TrackingSession(reduced_model, FrameSource(data), feature_cache_mb=0)
    start = data.reads
    session.add_points(1, 6, [CLICK])
    session.add_points(2, 6, [(75, 120)])
    list(session.propagate("both"))
    # 12 frames; the start frame is a prompt frame served from its stored output.
    assert data.reads - start <= 12 + 1


def test_box_and_mask_prompts(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(6)))
    boxed = session.set_prompts(1, 0, box=(20, 10, 60, 60))
    assert_meaningful(boxed.masks[0])
    painted = np.zeros((90, 140), bool)
    painted[25:55, 15:50] = True
    masked = session.add_mask(2, 0, painted)
    assert masked.masks[0][40, 30] and not masked.masks[0][80, 130]
    results = list(session.propagate("forward"))
    assert all(r.object_ids == [1, 2] for r in results)
    assert_meaningful(results[-1].masks[1])


def test_frame_range_and_directions(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(10)))
    session.add_points(1, 4, [CLICK])
    assert [r.frame for r in session.propagate("backward")] == [4, 3, 2, 1, 0]
    assert [r.frame for r in session.propagate("forward", frame_range=(0, 6))] == [4, 5, 6]
    calls = []
    frames = [
        r.frame for r in session.propagate("both", start=5, frame_range=(3, 7), progress=lambda *c: calls.append(c))
    ]
    assert frames == [5, 6, 7, 5, 4, 3]
    # The total is known before the first frame (a CLI bar's ETA); frame 5, in both passes, counts once.
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (3, 5), (4, 5), (5, 5)]
    with pytest.raises(Sam2InputError, match="Direction"):
        list(session.propagate("sideways"))
    with pytest.raises(Sam2InputError, match="outside the frame range"):
        list(session.propagate("forward", start=2, frame_range=(3, 7)))
    with pytest.raises(Sam2InputError, match="does not exist"):
        list(session.propagate("forward", frame_range=(0, 10)))


def test_roi_gives_labels_at_full_frame_coordinates(reduced_model):
    stack = moving_blob_stack(3, shape=(120, 200))
    session = TrackingSession(reduced_model, FrameSource(stack, roi=(20, 10, 100, 110)))
    result = session.add_points(1, 0, [(55, 60)])
    assert result.masks.shape == (1, 80, 100) and (result.roi.y0, result.roi.x0) == (20, 10)
    assert_meaningful(result.masks[0])
    with pytest.raises(Sam2InputError, match="outside the region of interest"):
        session.add_points(1, 0, [(5, 5)])


@pytest.mark.parametrize(
    "frame, point, message",
    [
        (0, (95, 10), "outside the 90x140 image"),
        (0, (10, -1), "outside the 90x140 image"),
        (9, (10, 10), "Frame 9 does not exist"),
    ],
)
def test_bad_prompts_are_clear_errors_and_lose_nothing(reduced_model, frame, point, message):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(4)))
    session.add_points(1, 0, [CLICK])
    with pytest.raises(Sam2InputError, match=message):
        session.add_points(1, frame, [point])
    assert [p.y for p in session.prompts()[1][0].points] == [CLICK[0]]  # the good click is kept


def test_remove_object_and_reset(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(4)))
    session.add_points(1, 0, [CLICK])
    session.add_points(2, 0, [(75, 120)])
    session.remove_object(1)
    assert session.object_ids == [2] and [r.object_ids for r in session.propagate("forward")][0] == [2]
    session.reset()
    assert session.object_ids == []
    with pytest.raises(Sam2InputError, match="Nothing to propagate"):
        list(session.propagate("forward"))


def test_removing_the_last_prompt_of_a_frame(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(4)))
    session.add_points(1, 0, [CLICK])
    session.add_points(1, 2, [CLICK])
    assert session.set_prompts(1, 2, points=[]) is None
    assert list(session.prompts()[1]) == [0]
    assert session._objects[1].state.output_dict_per_obj[0]["cond_frame_outputs"].keys() == {0}


def test_new_prompts_on_the_only_prompted_frame_after_propagation_start_the_object_again(reduced_model):
    """Found by the random walk of the plugin: a box drawn beside the one click of an object
    that had been tracked raised transformers' "maskmem_features in conditioning outputs
    cannot be empty" (the frame was tracked, so SAM 2 wanted memory, and the only
    conditioning frame was the one being redone)."""
    stack = moving_blob_stack(6)
    session = TrackingSession(reduced_model, FrameSource(stack))
    session.set_prompts(1, 2, points=[CLICK])
    list(session.propagate("both"))
    again = session.set_prompts(1, 2, points=[CLICK], box=(25, 15, 60, 60))
    assert_meaningful(again.masks[0])
    fresh = TrackingSession(reduced_model, FrameSource(stack)).set_prompts(1, 2, points=[CLICK], box=(25, 15, 60, 60))
    np.testing.assert_array_equal(again.masks, fresh.masks)  # started again: as a fresh object would be
    assert session.set_prompts(1, 2, points=[]) is None  # every prompt gone: no tracked state is kept
    assert not session._objects[1].state.frames_tracked_per_obj[0]
    assert_meaningful(session.set_prompts(1, 4, points=[(40, 45)]).masks[0])
    assert_meaningful(next(iter(session.propagate("forward"))).masks[0])


def _run_with_correction(model, slim: bool, **kwargs):
    stack = moving_blob_stack(14)
    session = TrackingSession(model, FrameSource(stack), fixes=Fixes(shared_position_encoding=slim), **kwargs)
    session.add_points(1, 3, [CLICK])
    session.add_points(2, 3, [(75, 120)])
    first = {r.frame: r.masks.copy() for r in session.propagate("both")}
    session.add_points(1, 9, [Point(45, 60, positive=False)])
    second = {r.frame: r.masks.copy() for r in session.propagate("both")}
    return first, second, session


def test_slim_state_changes_no_masks_and_holds_less(reduced_model):
    slim_first, slim_second, slim = _run_with_correction(reduced_model, slim=True)
    full_first, full_second, full = _run_with_correction(reduced_model, slim=False, state_window=None)
    for frame in full_first:
        np.testing.assert_array_equal(slim_first[frame], full_first[frame])
        np.testing.assert_array_equal(slim_second[frame], full_second[frame])
    assert_meaningful(slim_second[13][0])
    assert_differs(full_first[12][0], full_second[12][0])  # the correction mattered
    # Slimming shares maskmem_pos_enc's storage (transformers mostly does already). Tracked
    # frames' low-resolution logits are kept: a click there refines them, as in Meta's predictor.
    assert slim.state_nbytes() <= full.state_nbytes()


def test_spilled_state_changes_no_masks(reduced_model):
    # A window of 2 frames spills nearly every entry: forward, the backward pass reading the
    # forward pass's state, and a correction reading its neighbours' memories all go
    # through the spill file, against keeping everything in place.
    spilled_first, spilled_second, spilled = _run_with_correction(reduced_model, slim=False, state_window=2)
    full_first, full_second, _ = _run_with_correction(reduced_model, slim=False, state_window=None)
    for frame in full_first:
        np.testing.assert_array_equal(spilled_first[frame], full_first[frame])
        np.testing.assert_array_equal(spilled_second[frame], full_second[frame])
    assert_differs(full_first[12][0], full_second[12][0])  # the correction mattered
    assert_meaningful(spilled_second[13][0])
    assert spilled.spill.reads > 0 and spilled.spill.writes > 0
    outputs = spilled._objects[1].state.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert len(outputs.resident_items()) == 2 and len(outputs.spilled_frames) > 5


def test_spilled_state_keeps_memory_flat(reduced_model):
    stack = moving_blob_stack(24)
    held, spilled = {}, {}
    for n in (12, 24):
        session = TrackingSession(reduced_model, FrameSource(stack[:n]), state_window=4)
        session.add_points(1, 0, [CLICK])
        list(session.propagate("forward"))
        held[n], spilled[n] = session.state_nbytes(), session.spill.nbytes
        file_bytes = session.spill.file_bytes
        list(session.propagate("forward"))  # re-propagation reuses the spill file's slots
        assert session.spill.file_bytes == file_bytes
    # In memory: the window, plus an object pointer and a score per spilled frame.
    assert held[24] - held[12] < 12 * 2048, held
    assert spilled[24] > spilled[12] > 0


def test_state_per_frame_is_small(reduced_model):
    stack = moving_blob_stack(24)
    sizes = {}
    for n in (12, 24):
        session = TrackingSession(reduced_model, FrameSource(stack[:n]))
        session.add_points(1, 0, [CLICK])
        list(session.propagate("forward"))
        sizes[n] = session.state_nbytes()
    per_frame = (sizes[24] - sizes[12]) / 12
    # Reduced shape (256 input, 16x16 memory): bf16 memory 16*16*64*2 = 32 KiB, the 64x64
    # float32 mask logits a click refines (16 KiB), and the pointer.
    assert per_frame < 52 * 1024, per_frame


def test_cached_repropagation_gives_identical_masks_without_reading_frames(reduced_model):
    data = CountingArray(moving_blob_stack(10))
    session = TrackingSession(reduced_model, FrameSource(data), feature_cache_mb=256)
    session.add_points(1, 0, [CLICK])
    first = {r.frame: r.masks.copy() for r in session.propagate("forward")}
    reads = data.reads
    second = {r.frame: r.masks.copy() for r in session.propagate("forward")}
    assert data.reads == reads  # every frame came from the feature cache
    for frame in first:
        np.testing.assert_array_equal(first[frame], second[frame])
    assert_meaningful(second[9][0])


def test_a_cell_that_appears_at_frame_k_is_a_new_object_from_k(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(10)))
    session.add_points(1, 0, [CLICK])
    list(session.propagate("forward"))
    session.add_points(2, 6, [(75, 120)])
    frames = [r.frame for r in session.propagate("forward", objects=[2])]
    assert frames == [6, 7, 8, 9]
    assert sorted(f for f, per in session.scores.items() if 2 in per) == [6, 7, 8, 9]


def _corrections(model, budget_mb):
    session = TrackingSession(model, FrameSource(moving_blob_stack(10)), conditioned_cache_mb=budget_mb)
    session.add_points(1, 0, [CLICK])
    first = [r.masks.copy() for r in session.propagate("forward")]
    clicks = [session.add_points(1, 6, [Point(45, 60, positive=False)]).masks.copy()]
    clicks.append(session.add_points(1, 6, [Point(20, 20)]).masks.copy())  # 6 is conditioning now
    after = [r.masks.copy() for r in session.propagate("forward", start=6)]
    return first, clicks, after, session


def test_kept_conditioned_features_change_no_masks(reduced_model):
    kept = _corrections(reduced_model, budget_mb=64)
    plain = _corrections(reduced_model, budget_mb=0)
    for a, b in zip(kept[:3], plain[:3]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert kept[3].conditioned.hits == 1  # the correction on tracked frame 6 skipped memory attention
    assert_meaningful(kept[1][0][0])
    assert_differs(kept[0][6][0], kept[1][0][0])  # the correction changed frame 6


def test_kept_conditioned_features_respect_their_budget(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(12)), conditioned_cache_mb=0.5)
    session.add_points(1, 0, [CLICK])
    list(session.propagate("forward"))
    assert 0 < session.conditioned.nbytes <= 0.5 * 2**20


def test_two_corrections_on_the_same_frame_both_count(reduced_model):
    # The second correction lands on a frame that is already conditioning; its fresh
    # memory must not be lost (transformers writes it into the old entry).
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(10)), conditioned_cache_mb=0)
    session.add_points(1, 0, [CLICK])
    list(session.propagate("forward"))
    session.add_points(1, 5, [Point(45, 60, positive=False)])
    second = session.add_points(1, 5, [Point(20, 20)]).masks[0]
    stored = session._objects[1].state.output_dict_per_obj[0]["cond_frame_outputs"][5]
    assert {"maskmem_features", "maskmem_pos_enc", "object_pointer", "pred_masks"} <= set(stored)
    after = {r.frame: r.masks[0] for r in session.propagate("forward", start=5)}
    np.testing.assert_array_equal(after[5], second)
    assert_meaningful(after[9])


def test_the_same_prompts_give_the_same_mask_whatever_edits_led_there(reduced_model):
    # A click refines the mask of the one before (Meta's semantics), so set_prompts replays
    # a frame's clicks in order after any change but an appended click: an edited napari
    # session, the CLI and a reloaded prompts file give the same masks.
    stack = moving_blob_stack(6)
    p1, p2, p3 = Point(40, 60), Point(70, 100, False), Point(20, 30)
    sessions = []
    for _ in range(2):
        session = TrackingSession(reduced_model, FrameSource(stack))
        session.add_points(1, 0, [CLICK])
        list(session.propagate("forward"))
        sessions.append(session)
    edited, direct = sessions
    for points in ([p1], [p1, p2], [p1, p2, p3], [p3], [p1, p3]):  # a click deleted, the first moved
        last = edited.set_prompts(1, 3, points=points)
    fresh = direct.set_prompts(1, 3, points=[p1, p3])
    assert_meaningful(fresh.masks[0])
    np.testing.assert_array_equal(last.masks, fresh.masks)
    one_step = TrackingSession(reduced_model, FrameSource(stack))
    one_step.add_points(1, 0, [CLICK])
    list(one_step.propagate("forward"))
    assert_differs(one_step.add_points(1, 3, [p1, p3]).masks[0], fresh.masks[0])  # clicks refine, one by one


def test_a_mask_becomes_the_logits_sam2_keeps_for_a_mask_prompt(reduced_model):
    # Going on from a reopened result turns its masks into logits (upstream.mask_logits):
    # they are exactly what SAM 2 stores when the same mask is given as a prompt.
    from napari_sam2.core.upstream import mask_logits

    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(3)), fill_hole_area=0)
    painted = np.zeros((90, 140), bool)
    painted[25:55, 15:50] = True
    session.add_mask(1, 1, painted)
    stored = session._objects[1].state.output_dict_per_obj[0]["cond_frame_outputs"][1]["pred_masks"]
    torch.testing.assert_close(stored.float(), mask_logits(reduced_model.model, painted).to(stored.device))


def _yesterday(model, stack):
    """A result tracked earlier, as its labels hold it: frame -> mask of object 1."""
    _, run = _track(model, stack, [(1, 0, *CLICK)])
    return {f: r.masks[0] for f, r in run.items()}


def test_going_on_from_reopened_masks_refines_them_and_remembers_the_last_good_frame(reduced_model):
    """A result reopened from disk: the first click on frame 5 refines the object's mask
    there (not the click alone), the mask on frame 4 is remembered as a mask prompt without
    being rewritten, and a forward run starts at the click, carrying frame 4's memory."""
    stack = moving_blob_stack(8)
    earlier = _yesterday(reduced_model, stack)
    for f in (4, 5):
        assert_meaningful(earlier[f])
    correction = [Point(45, 60, positive=False)]

    def today(*, here: bool, anchor: bool):
        session = TrackingSession(reduced_model, FrameSource(stack))
        if here:
            session.set_earlier_mask(1, 5, earlier[5])
        if anchor:
            session.add_mask(1, 4, earlier[4], anchor=True)
        clicked = session.add_points(1, 5, correction).masks[0]
        assert session.default_start() == 5
        return clicked, {r.frame: r.masks[0] for r in session.propagate("forward")}

    refined, gone_on = today(here=True, anchor=True)
    alone, _ = today(here=False, anchor=True)
    _, no_memory = today(here=True, anchor=False)
    assert sorted(gone_on) == [5, 6, 7]  # frame 4, the last good frame, is not rewritten
    assert_meaningful(refined)
    assert_differs(refined, alone)  # the negative click trimmed the reopened mask
    assert (refined & earlier[5]).sum() > 0.5 * refined.sum()  # and stayed on it
    assert_meaningful(gone_on[7])
    assert_differs(gone_on[7], no_memory[7])  # frame 4's memory carried through


def test_an_earlier_mask_is_checked_like_a_mask_prompt(reduced_model):
    session = TrackingSession(reduced_model, FrameSource(moving_blob_stack(3)))
    with pytest.raises(Sam2InputError, match="An earlier mask for object 1 on frame 1 is empty"):
        session.set_earlier_mask(1, 1, np.zeros((90, 140), bool))
    with pytest.raises(Sam2InputError, match="frame's shape"):
        session.set_earlier_mask(1, 1, np.ones((9, 14), bool))
