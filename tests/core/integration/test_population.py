"""A population run on the random-weight test model: the mechanics, not segmentation quality.

Seeds become objects with their ids, all objects share one encoder call per frame, ended
objects stop costing model calls, re-detection adds objects, and the lineage agrees with
the labels written (checked through the CTC split, which py-ctcmetrics validates elsewhere).
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.core.ctc import ctc_tracks
from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.frames import FrameSource
from napari_sam2.core.labels import merge_result
from napari_sam2.core.lineage import Lineage
from napari_sam2.core.linking import LinkingRules
from napari_sam2.core.population import PopulationOptions, PopulationTracker
from napari_sam2.core.sample import make_timelapse
from napari_sam2.core.seeders import threshold_seeds
from napari_sam2.core.session import TrackingSession
from tests.helpers import assert_differs, assert_meaningful, counting_encoder


def run(tracker: PopulationTracker, seeds, n: int) -> np.ndarray:
    labels = np.zeros((n, *tracker.session.source.full_frame_shape), np.uint16)
    merge_result(labels[0], tracker.seed(0, seeds))
    for result in tracker.track(start=0):
        merge_result(labels[result.frame], result)
    return labels


def test_seeds_become_objects_sharing_one_encoder_call_per_frame_and_the_lineage_matches(reduced_model):
    stack, _ = make_timelapse(6)
    seeds = {10 * i: mask for i, mask in threshold_seeds(stack[0]).items()}
    assert len(seeds) >= 3
    tracker = PopulationTracker(TrackingSession(reduced_model, FrameSource(stack)), options=PopulationOptions())
    with counting_encoder(reduced_model) as calls:
        labels = run(tracker, seeds, 6)
    assert len(calls) == 6  # one per frame, however many objects
    assert set(tracker.lineage.tracks) >= set(seeds)  # ids kept (divisions may add daughters)
    assert_meaningful(labels[3] > 0)
    out, tracks = ctc_tracks(labels, tracker.lineage)
    assert Lineage.from_dict([t.__dict__ for t in tracks]).check_against(out) == []
    assert (
        tracker.lineage.check_against(labels) == []
        or any(t.parent for t in tracks)
        or len(tracks) > len(tracker.lineage)
    )


def test_ended_objects_stop_costing_model_calls(reduced_model):
    stack, _ = make_timelapse(8)
    seeds = threshold_seeds(stack[0])
    everything_absent = LinkingRules(min_area=10**9, absent_frames=2)  # no mask is big enough: all end
    session = TrackingSession(reduced_model, FrameSource(stack))
    tracked_per_frame = []
    original = session.propagate

    def counting(*args, **kwargs):
        tracked_per_frame.append(len(kwargs["objects"]))
        return original(*args, **kwargs)

    session.propagate = counting
    tracker = PopulationTracker(session, options=PopulationOptions(rules=everything_absent, divisions=False))
    labels = run(tracker, seeds, 8)
    assert tracked_per_frame == [len(seeds), len(seeds)]  # frames 1 and 2; from frame 3 on, nothing
    assert all(tracker.lineage.tracks[o].last == 0 for o in seeds)  # ended at their last present frame
    assert not labels[1:].any()


def test_a_detection_no_tracked_mask_covers_starts_a_new_object_there(reduced_model):
    stack, _ = make_timelapse(7)
    seeds = threshold_seeds(stack[0])
    newcomer = np.zeros(stack.shape[1:], np.uint16)
    newcomer[125:150, 10:35] = 1  # a corner no seeded cell reaches

    def detect(frame):  # looked for on every frame; found on frame 4 (random weights drift after)
        return newcomer if frame == 4 else np.zeros_like(newcomer)

    options = PopulationOptions(divisions=False, redetect_every=1)
    tracker = PopulationTracker(TrackingSession(reduced_model, FrameSource(stack)), detect=detect, options=options)
    labels = run(tracker, seeds, 7)
    new = [o for o in tracker.lineage.tracks if o not in seeds]
    assert len(new) == 1 and tracker.lineage.tracks[new[0]].first == 4
    assert (labels[4] == new[0]).any() and not (labels[:4] == new[0]).any()


def test_a_cell_found_on_a_later_re_detection_frame_is_tracked_back_to_where_it_appeared(reduced_model):
    """Cells are looked for on frame 4 only: the one found there is tracked backward over
    frames 1-3 (random weights keep a mask there), its track starts where its masks start, and
    those earlier frames come out of the run too."""
    stack, _ = make_timelapse(7)
    seeds = threshold_seeds(stack[0])
    newcomer = np.zeros(stack.shape[1:], np.uint16)
    newcomer[125:150, 10:35] = 1
    options = PopulationOptions(divisions=False, redetect_frames=(4,))
    session = TrackingSession(reduced_model, FrameSource(stack))
    tracker = PopulationTracker(session, detect=lambda f: newcomer, options=options)
    frames = []
    labels = np.zeros((7, *stack.shape[1:]), np.uint16)
    merge_result(labels[0], tracker.seed(0, seeds))
    for result in tracker.track(start=0):
        frames.append(result.frame)
        merge_result(labels[result.frame], result)
    [new] = [o for o in tracker.lineage.tracks if o not in seeds]
    present = [f for f in range(7) if (labels[f] == new).any()]
    track = tracker.lineage.tracks[new]
    assert track.first < 4 and present == list(range(track.first, 7))
    assert frames[:4] == [1, 2, 3, 4] and sorted(frames[4 : 4 + 4 - track.first]) == list(range(track.first, 4))
    assert tracker.lineage.check_against(labels) == []
    assert_differs(labels[track.first] == new, labels[4] == new)  # tracked, not copied


def test_segment_everything_runs_the_encoder_once_and_its_masks_follow_the_image(reduced_model):
    """The random-weight model's masks mean nothing, so the thresholds are opened; what is
    tested is the mechanics: one encoder call for a new frame, none for a cached one, masks
    that do not overlap, and masks that change with the image."""
    from napari_sam2.core.everything import EverythingOptions, segment_everything
    from tests.helpers import assert_differs

    stack, _ = make_timelapse(2)
    session = TrackingSession(reduced_model, FrameSource(np.stack([stack[0], stack[0][::-1, ::-1]])))
    loose = EverythingOptions(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    with counting_encoder(reduced_model) as calls:
        first = segment_everything(session, 0, loose)
        assert len(calls) == 1
        again = segment_everything(session, 0, loose)
        assert len(calls) == 1  # the frame was cached
    assert first and sorted(first) == list(range(1, len(first) + 1))
    coverage = np.sum([m.astype(int) for m in first.values()], axis=0)
    assert coverage.max() == 1  # no pixel belongs to two seeds
    assert_meaningful(coverage > 0)
    assert all((first[i] == again[i]).all() for i in first)
    flipped = segment_everything(session, 1, loose)
    assert_differs(np.sum([m for m in first.values()], axis=0) > 0, np.sum([m for m in flipped.values()], axis=0) > 0)


def test_a_division_marked_by_hand_tracks_two_daughters_from_their_clicks(reduced_model):
    """The napari correction, in the core: a finished run's lineage is continued by a new
    tracker; the mother ends before the frame, each daughter starts from one click there."""
    from napari_sam2.core.population import with_erased
    from napari_sam2.core.prompts import Point

    stack, _ = make_timelapse(6)
    seeds = threshold_seeds(stack[0])
    session = TrackingSession(reduced_model, FrameSource(stack))
    first = PopulationTracker(session, options=PopulationOptions(divisions=False))
    labels = run(first, seeds, 6)
    mother = max(seeds, key=lambda o: (labels[3] == o).sum())
    ys, xs = np.nonzero(labels[3] == mother)
    cy, width = ys.mean(), xs.max() - xs.min()
    clicks = [[Point(cy, xs.min() + 0.25 * width)], [Point(cy, xs.max() - 0.25 * width)]]

    again = PopulationTracker(session, lineage=first.lineage.copy(), options=PopulationOptions(divisions=False))
    written = [again.divide(mother, 3, clicks)]
    written += [with_erased(result, again.erased) for result in again.run(4)]
    assert [r.frame for r in written] == [3, 4, 5]
    for result in written:
        merge_result(labels[result.frame], result)

    daughters = again.lineage.children(mother)
    assert len(daughters) == 2 and again.lineage.tracks[mother].last == 2
    assert not (labels[3:] == mother).any() and (labels[2] == mother).any()
    a, b = (labels[3] == d for d in daughters)
    assert a.any() and b.any()
    assert_differs(a, b)  # two clicks, two masks
    assert set(again.active) <= set(daughters)  # the other cells were not tracked again
    assert len(written[1].object_ids) - len(again.erased) <= 2
    with pytest.raises(Sam2InputError, match="tracked on frames"):
        again.divide(mother, 5, clicks)  # she ended on frame 2: no second division on frame 5


def test_an_object_ends_on_its_last_frame_for_any_later_propagation(reduced_model):
    stack, prompts = make_timelapse(6)
    session = TrackingSession(reduced_model, FrameSource(stack))
    session.add_points(1, 0, [(float(prompts[0].y), float(prompts[0].x))])
    session.add_points(2, 0, [(float(prompts[1].y), float(prompts[1].x))])
    list(session.propagate("forward"))
    session.limit_object(1, last=2)
    later = {r.frame: r.object_ids for r in session.propagate("forward")}
    assert later == {0: [1, 2], 1: [1, 2], 2: [1, 2], 3: [2], 4: [2], 5: [2]}
    assert 4 not in session._objects[1].state.output_dict_per_obj[0]["non_cond_frame_outputs"]
