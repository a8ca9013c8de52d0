"""One tracking session: objects, prompts, single-frame prediction and propagation.

The engine drives transformers' ``Sam2VideoModel`` with one inference state per object.
All objects share one lazy frame mapping and one feature cache, so a frame is encoded once
however many objects look at it, while a new object can be propagated alone without
recomputing (or changing) the objects already tracked.

Where the engine differs from a plain transformers session, on purpose, is in
:mod:`.upstream` (:class:`~.upstream.Fixes`: corrections kept as conditioning frames, clicks
that refine the mask shown, as Meta's predictor does). What the tracked state holds in
memory is in :mod:`.spill`: what is never read again is dropped, what is identical is stored
once, and state far from the working frames is spilled to disk, so memory stays flat.
Prompts are :mod:`.prompts`; the passes of a propagation are :mod:`.passes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conditioned import ConditionedFeatures
from .diskcache import DiskFeatureCache, frame_fingerprint, model_fingerprint
from .errors import Sam2InputError
from .features import FeatureCache
from .frames import FrameSource, PreprocessedFrames, Roi
from .holes import DEFAULT_FILL_HOLE_AREA
from .passes import plan_passes
from .prompts import FramePrompts, Point, as_point, box_corners
from .spill import SpillingOutputs, SpillStore, StateSlimmer
from .together import alone_on, objects_together_by_default, track_together
from .upstream import (
    Fixes,
    add_inputs,
    as_meta,
    inference_state,
    make_conditioning,
    mask_logits,
    masks_and_scores,
    previous_logits,
)


@dataclass
class FrameResult:
    """Masks of some objects on one frame. ``masks`` are in ROI coordinates."""

    frame: int
    object_ids: list[int]
    masks: np.ndarray  # (n_objects, H, W) bool
    scores: np.ndarray  # (n_objects,) object-score logits; > 0 means "present"
    roi: Roi
    erased: list[int] = field(default_factory=list)  # objects that end before this frame: cleared from it


@dataclass
class _TrackedObject:
    state: Any  # transformers Sam2VideoInferenceSession holding this object alone
    prompts: dict[int, FramePrompts] = field(default_factory=dict)
    span: tuple[int | None, int | None] = (None, None)  # first and last frame it may exist on

    def exists_on(self, frame: int) -> bool:
        first, last = self.span
        return (first is None or frame >= first) and (last is None or frame <= last)


class TrackingSession:
    """Segment and track prompted objects through a :class:`FrameSource`.

    Parameters
    ----------
    loaded
        A :class:`~napari_sam2.core.models.LoadedModel`.
    source
        The frames.
    feature_cache_mb
        Byte budget of the shared image-feature cache (LRU).
    conditioned_cache_mb
        Byte budget of the memory-conditioned features kept for correction clicks on
        tracked frames (see :mod:`~napari_sam2.core.conditioned`).
    state_window
        Tracked frames per object kept in place; older ones are spilled (see
        :mod:`~napari_sam2.core.spill`). ``None`` keeps everything in place.
    spill_dir
        Folder of the spill file on a CPU (default: the system's temporary folder).
    feature_dtype
        Store cached image features in this dtype (``torch.float16`` halves them); default:
        as computed, which keeps masks identical to an uncached run.
    disk_cache
        A :class:`~napari_sam2.core.diskcache.DiskFeatureCache`, or a folder to open one in:
        encoded frames are kept there across sessions, keyed by the model input and model.
    fill_hole_area
        Fill background holes of up to this many pixels in the low-resolution masks, as
        Meta's video predictor does (8, its default); 0 turns it off.
    fixes
        Where the engine differs from a plain transformers session (:class:`~.upstream.Fixes`,
        every one on by default). Only tests switch one off, to show it is needed.
    together
        Track the objects that share a frame as one batch (:mod:`.together`; the same
        masks as one at a time). Default: on a GPU, where batching pays; one at a time on
        a CPU, where it does not (``docs/benchmarks.md``).
    """

    def __init__(
        self,
        loaded: Any,
        source: FrameSource,
        *,
        feature_cache_mb: float = 512,
        conditioned_cache_mb: float = 256,
        state_window: int | None = 32,
        spill_dir: str | None = None,
        feature_dtype: Any = None,
        disk_cache: Any = None,
        fill_hole_area: int = DEFAULT_FILL_HOLE_AREA,
        fixes: Fixes | None = None,
        together: bool | None = None,
    ) -> None:
        self.loaded = loaded
        self.together = objects_together_by_default(loaded) if together is None else bool(together)
        self.fill_hole_area = int(fill_hole_area)
        self.fixes = fixes = fixes or Fixes()
        self.source = source
        self.frames = PreprocessedFrames(source, loaded.processor.video_processor)
        if disk_cache is not None and not isinstance(disk_cache, DiskFeatureCache):
            disk_cache = DiskFeatureCache(disk_cache, model_fingerprint(loaded.model))
        self._frame_keys: dict[int, str] = {}
        self.cache = FeatureCache(
            budget_bytes=int(feature_cache_mb * 2**20),
            store_dtype=feature_dtype,
            disk=disk_cache,
            frame_key=self._frame_key,
        )
        self.conditioned = ConditionedFeatures(budget_bytes=int(conditioned_cache_mb * 2**20))
        self.slimmer = StateSlimmer(share=fixes.shared_position_encoding)
        self.state_window = state_window
        self.spill_dir = spill_dir
        self.spill = self._new_spill_store()
        self._objects: dict[int, _TrackedObject] = {}
        self._scratch = None  # an inference state with no object, for encoding ahead
        self.scores: dict[int, dict[int, float]] = {}  # frame -> object id -> score
        # (object, frame) -> the low-resolution logits of a mask it had before this session
        # (a result reopened from disk), which the frame's first click refines
        self._earlier: dict[tuple[int, int], Any] = {}

    def _frame_key(self, frame: int) -> str:
        key = self._frame_keys.get(frame)
        if key is None:
            key = self._frame_keys[frame] = frame_fingerprint(self.frames[frame])
        return key

    # -- encoding ahead -----------------------------------------------------------------------
    def encode(self, frame: int) -> bool:
        """Compute and cache one frame's image features; ``False`` if they were cached already.

        Used to encode frames ahead while the user is still clicking: a later click or pass
        on this frame then skips the image encoder. Features found in the disk cache are
        brought into memory without running the encoder.
        """
        import torch

        self._check_frame(frame)
        if frame in self.cache:
            return False
        if self._scratch is None:
            self._scratch = self._new_state(0, register=False)
        misses = self.cache.misses
        with torch.inference_mode(), self.loaded.autocast():
            # Looks in the cache (and its disk tier) first, and runs the encoder on a miss.
            self.loaded.model._prepare_vision_features(self._scratch, frame, 1)
        return self.cache.misses > misses

    def encode_ahead_order(self, center: int, frame_range: tuple[int, int] | None = None) -> list[int]:
        """Frames still to encode, nearest to ``center`` first (see :meth:`FeatureCache.ahead_order`)."""
        return self.cache.ahead_order(center, len(self.source), frame_range)

    # -- objects ----------------------------------------------------------------------------
    @property
    def object_ids(self) -> list[int]:
        return list(self._objects)

    def add_object(self, obj_id: int | None = None) -> int:
        """Register an object; ``None`` takes the next free id (ids start at 1)."""
        if obj_id is None:
            obj_id = max(self._objects, default=0) + 1
        obj_id = int(obj_id)
        if obj_id <= 0:
            raise Sam2InputError(f"Object ids must be positive integers, got {obj_id}.")
        if obj_id not in self._objects:
            self._objects[obj_id] = _TrackedObject(state=self._new_state(obj_id))
        return obj_id

    def limit_object(self, obj_id: int, *, first: int | None = None, last: int | None = None) -> None:
        """``obj_id`` exists only from ``first`` to ``last`` (a daughter born on ``first``, a
        mother that divided after ``last``): propagation leaves it out of other frames and
        what was tracked there is released. ``None`` leaves that end as it is."""
        obj = self._objects[obj_id]
        old_first, old_last = obj.span
        obj.span = (old_first if first is None else int(first), old_last if last is None else int(last))
        outputs = obj.state.output_dict_per_obj[0]["non_cond_frame_outputs"]
        tracked = obj.state.frames_tracked_per_obj[0]
        for frame in [f for f in list(outputs.keys()) if not obj.exists_on(f)]:
            del outputs[frame]
            tracked.pop(frame, None)

    def remove_object(self, obj_id: int) -> None:
        obj = self._objects.pop(obj_id, None)
        self._earlier = {k: v for k, v in self._earlier.items() if k[0] != obj_id}
        if obj is not None:
            obj.state.output_dict_per_obj[0]["non_cond_frame_outputs"].clear()  # frees spilled slots
        self.conditioned.forget_object(obj_id)
        for per_frame in self.scores.values():
            per_frame.pop(obj_id, None)

    def reset(self) -> None:
        """Forget every object, prompt and result; keep the cached image features."""
        self._objects.clear()
        self._earlier.clear()
        self.conditioned = ConditionedFeatures(self.conditioned.budget_bytes)
        self.scores.clear()
        self.close()
        self.spill = self._new_spill_store()

    def close(self) -> None:
        """Release the spill file (the session stays usable only after :meth:`reset`)."""
        if self.spill is not None:
            self.spill.close()

    def _new_spill_store(self) -> SpillStore | None:
        if self.state_window is None:
            return None
        return SpillStore("disk" if self.loaded.device_type == "cpu" else "cpu", directory=self.spill_dir)

    def prompts(self) -> dict[int, dict[int, FramePrompts]]:
        """``object id -> frame -> prompts``, for export and provenance."""
        return {oid: dict(sorted(obj.prompts.items())) for oid, obj in self._objects.items()}

    def _new_state(self, obj_id: int, register: bool = True):
        state = inference_state(self.loaded, self.source.frame_shape, self.frames, self.cache)
        if not register:
            return state
        state.obj_id_to_idx(obj_id)
        if self.spill is not None:
            state.output_dict_per_obj[0]["non_cond_frame_outputs"] = SpillingOutputs(
                self.spill, resident=self.state_window, shared=self.slimmer.is_shared
            )
        return state

    # -- prompts ----------------------------------------------------------------------------
    def add_points(self, obj_id: int, frame: int, points: Iterable[Point | tuple]) -> FrameResult:
        """Add clicks for ``obj_id`` on ``frame`` and return that frame's mask at once.

        Several points in one call are one step, as one call of Meta's
        ``add_new_points_or_box``; :meth:`set_prompts` takes them one click at a time.
        """
        new = self._validated(points, frame)
        prompts = self._frame_prompts(obj_id, frame)
        if prompts.mask is not None:
            prompts = self._restart(obj_id, frame)
        prompts.points.extend(new)
        return self._predict_prompt_frame(obj_id, frame)

    def set_prompts(
        self,
        obj_id: int,
        frame: int,
        *,
        points: Sequence[Point | tuple] = (),
        box: tuple[float, float, float, float] | None = None,
    ) -> FrameResult | None:
        """Make ``points`` (in click order) and ``box`` the prompts of ``obj_id`` on ``frame``.

        The mask is the one clicking them in this order gives, box first, as in Meta's
        predictor where each click refines the mask of the one before: whatever the order of
        edits that led here, the same prompts give the same mask (the CLI and a reloaded
        prompts file repeat a napari session). Appended clicks cost one step each; any other
        change replays the frame's prompts from its state before the first one. An empty set
        removes them.
        """
        new = self._validated(points, frame)
        if box is not None:
            for y, x in box_corners(*box):
                self._to_roi_xy(y, x, f"The box on frame {frame}")
        if not new and box is None:
            self.clear_prompts(obj_id, frame)
            return None
        prompts = self._frame_prompts(obj_id, frame)
        done = len(prompts.points)
        appended = (
            prompts.mask is None
            and prompts.box == box
            and (done > 0 or box is not None)
            and prompts.points == new[:done]
            and len(new) > done
        )
        if not appended:
            prompts = self._restart(obj_id, frame)
            prompts.box, done = box, 0
            result = self._predict_prompt_frame(obj_id, frame) if box is not None else None
        for point in new[done:]:
            prompts.points.append(point)
            result = self._predict_prompt_frame(obj_id, frame)
        return result

    def _restart(self, obj_id: int, frame: int) -> FramePrompts:
        """Forget the prompts of ``obj_id`` on ``frame`` and their output, keeping where they
        started; return the frame's new, empty prompts."""
        base = self._frame_prompts(obj_id, frame).base_logits
        self._clear(obj_id, frame)
        prompts = self._frame_prompts(obj_id, frame)
        prompts.base_logits = base
        return prompts

    def add_mask(self, obj_id: int, frame: int, mask: np.ndarray, *, anchor: bool = False) -> FrameResult:
        """Use a full-frame boolean mask (for example a painted label slice) as the prompt.

        ``anchor``: the mask is given for memory only, as SAM 2 remembers a mask prompt (the
        last good frame of a result reopened from disk): passes do not start on it, so a
        forward run from a correction after it leaves that frame as it was."""
        mask = self._roi_mask(obj_id, frame, mask, "A mask prompt")
        prompts = self._restart(obj_id, frame)
        prompts.mask, prompts.anchor = mask, bool(anchor)
        return self._predict_prompt_frame(obj_id, frame)

    def set_earlier_mask(self, obj_id: int, frame: int, mask: np.ndarray) -> None:
        """``obj_id`` had this full-frame mask on ``frame`` before the session (a result
        reopened from disk): the frame's first click refines it, as a click on a tracked
        frame refines the tracked mask, instead of starting from the click alone. The mask
        becomes the low-resolution logits SAM 2 stores for a mask prompt."""
        mask = self._roi_mask(obj_id, frame, mask, "An earlier mask")
        self.add_object(obj_id)
        self._earlier[(int(obj_id), int(frame))] = mask_logits(self.loaded.model, mask)

    def _roi_mask(self, obj_id: int, frame: int, mask: np.ndarray, what: str) -> np.ndarray:
        self._check_frame(frame)
        mask = np.asarray(mask)
        if mask.shape != self.source.full_frame_shape:
            shape = self.source.full_frame_shape
            raise Sam2InputError(f"{what} must have the frame's shape {shape}, got {mask.shape}.")
        roi = self.source.roi
        mask = mask[roi.y0 : roi.y1, roi.x0 : roi.x1].astype(bool)
        if not mask.any():
            raise Sam2InputError(f"{what} for object {obj_id} on frame {frame} is empty inside the region.")
        return mask

    def clear_prompts(self, obj_id: int, frame: int) -> None:
        """Remove every prompt of ``obj_id`` on ``frame`` and forget its conditioning output.

        An object left with no prompt at all keeps no tracked state either: what it was
        tracked from is gone, and a later prompt starts it again (on a tracked frame, SAM 2
        would otherwise look for memory in conditioning frames that no longer exist)."""
        self._clear(obj_id, frame)
        obj = self._objects.get(obj_id)
        if obj is not None and not obj.prompts:
            obj.state.output_dict_per_obj[0]["non_cond_frame_outputs"].clear()  # frees spilled slots
            obj.state = self._new_state(obj_id)

    def _clear(self, obj_id: int, frame: int) -> None:
        obj = self._objects.get(obj_id)
        if obj is None:
            return
        obj.prompts.pop(frame, None)
        self.conditioned.forget_object(obj_id)
        state = obj.state
        state.point_inputs_per_obj[0].pop(frame, None)
        state.mask_inputs_per_obj[0].pop(frame, None)
        state.output_dict_per_obj[0]["cond_frame_outputs"].pop(frame, None)

    def _validated(self, points: Iterable[Point | tuple], frame: int) -> list[Point]:
        self._check_frame(frame)
        new = [as_point(p) for p in points]
        for p in new:
            self._to_roi_xy(p.y, p.x, f"A point on frame {frame}")
        return new

    def _frame_prompts(self, obj_id: int, frame: int) -> FramePrompts:
        self._check_frame(frame)
        self.add_object(obj_id)
        return self._objects[obj_id].prompts.setdefault(frame, FramePrompts())

    def _check_frame(self, frame: int) -> None:
        if not isinstance(frame, (int, np.integer)) or not 0 <= frame < len(self.source):
            raise Sam2InputError(f"Frame {frame} does not exist; the stack has frames 0 to {len(self.source) - 1}.")

    def _to_roi_xy(self, y: float, x: float, what: str) -> list[float]:
        return self.source.to_roi_xy(y, x, what)

    def _send_prompts(self, obj_id: int, frame: int) -> None:
        obj = self._objects[obj_id]
        add_inputs(self.loaded.processor, obj.state, obj_id, frame, obj.prompts[frame], self.source)

    def _predict_prompt_frame(self, obj_id: int, frame: int) -> FrameResult:
        import torch

        self._send_prompts(obj_id, frame)
        state = self._objects[obj_id].state
        tracked = state.frames_tracked_per_obj[0].get(frame)
        if tracked is not None and not state.output_dict_per_obj[0]["cond_frame_outputs"]:
            # New prompts on the object's only prompted frame, which propagation went through:
            # with no other conditioning frame there is no memory to correct with, so the
            # frame starts the object again (SAM 2 needs a conditioning frame for memory).
            del state.frames_tracked_per_obj[0][frame]
            tracked = None
        reverse = bool(tracked["reverse"]) if tracked else False
        model = self.loaded.model
        prompts = self._objects[obj_id].prompts[frame]
        previous = previous_logits(state, frame)
        if previous is None and prompts.base_logits is None and prompts.mask is None:
            prompts.base_logits = self._earlier.get((obj_id, frame))
        if previous is None:
            previous = prompts.base_logits
        elif prompts.base_logits is None and len(prompts.points) + (prompts.box is not None) <= 1:
            prompts.base_logits = previous  # the tracked mask this frame's first prompt refines
        # Meta's add_new_mask uses no previous mask.
        if not self.fixes.previous_mask or prompts.mask is not None:
            previous = None
        with (
            torch.inference_mode(),
            self.loaded.autocast(),
            self.conditioned.around(model, obj_id, reuse=True),
            as_meta(
                model,
                fill_hole_area=self.fill_hole_area,
                memory_from_stored_mask=self.fixes.memory_from_stored_mask,
                frame=frame,
                previous_logits=previous,
            ),
        ):
            out = model(inference_session=state, frame_idx=frame, reverse=reverse)
        # The conditioning frames of this object changed: its kept features are stale now.
        self.conditioned.forget_object(obj_id)
        outputs = state.output_dict_per_obj[0]
        if tracked is not None and self.fixes.corrections_kept and frame in outputs["non_cond_frame_outputs"]:
            make_conditioning(outputs, frame)
        self.slimmer.drop_unread(state, frame)
        return self._result(frame, [obj_id], [out])

    # -- propagation ------------------------------------------------------------------------
    def propagate(
        self,
        direction: str = "both",
        *,
        objects: Sequence[int] | None = None,
        start: int | None = None,
        frame_range: tuple[int, int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[FrameResult]:
        """Track objects through the stack, yielding one :class:`FrameResult` per frame.

        ``both`` is the reference order: a forward pass, then a backward pass, each
        starting at ``start`` (default: the earliest prompted frame of the chosen objects).
        ``frame_range=(first, last)``, inclusive, bounds both passes. Closing the generator
        stops between frames; every yielded frame is complete. ``progress(done, total)`` is
        called once before the first frame (``done == 0``) and after every frame; it counts
        distinct frames, so the start frame of ``both``, yielded by both passes, counts once.
        """
        ids = self._objects_to_track(objects)
        if start is None:
            start = self.default_start(ids)
        plan = self.plan(direction, start=start, frame_range=frame_range)
        total = len({frame for _, order in plan for frame in order})  # both: the start frame once
        seen: set[int] = set()
        if progress is not None:
            progress(0, total)
        for reverse, order in plan:
            for frame in order:
                yield self._track_frame(ids, frame, reverse)
                seen.add(frame)
                if progress is not None:
                    progress(len(seen), total)

    def default_start(self, objects: Sequence[int] | None = None) -> int:
        """The earliest prompted frame of ``objects`` (default: all), where passes start."""
        ids = self._objects_to_track(objects)
        given = [(f, p.anchor) for o in ids for f, p in self._objects[o].prompts.items()]
        starts = [f for f, anchor in given if not anchor]  # an anchor alone: start there
        return min(starts or [f for f, _ in given])

    def plan(
        self, direction: str, *, start: int, frame_range: tuple[int, int] | None = None
    ) -> list[tuple[bool, range]]:
        """The passes ``(reverse, frames)`` that :meth:`propagate` will run."""
        return plan_passes(len(self.source), direction, start=start, frame_range=frame_range)

    def _objects_to_track(self, objects: Sequence[int] | None) -> list[int]:
        ids = list(self._objects) if objects is None else [int(o) for o in objects]
        unknown = [o for o in ids if o not in self._objects]
        if unknown:
            raise Sam2InputError(f"Unknown object id(s) {unknown}; known: {list(self._objects)}.")
        ids = [o for o in ids if self._objects[o].prompts]
        if not ids:
            raise Sam2InputError("Nothing to propagate: add a prompt (a click, box or mask) to an object first.")
        return ids

    def _track_frame(self, ids: list[int], frame: int, reverse: bool) -> FrameResult:
        ids = [o for o in ids if self._objects[o].exists_on(frame)]
        together = []
        if self.together:
            together = [o for o in ids if not alone_on(self._objects[o].state, frame)]
        if len(together) < 2:
            together = []
        outs = {o: self._track_alone(o, frame, reverse) for o in ids if o not in together}
        if together:
            outs.update(zip(together, self._track_together(together, frame, reverse)))
        return self._result(frame, ids, [outs[o] for o in ids])

    def _track_alone(self, obj_id: int, frame: int, reverse: bool):
        import torch

        state, model = self._objects[obj_id].state, self.loaded.model
        with (
            torch.inference_mode(),
            self.loaded.autocast(),
            self.conditioned.around(model, obj_id, reuse=False),
            as_meta(
                model,
                fill_hole_area=self.fill_hole_area,
                memory_from_stored_mask=self.fixes.memory_from_stored_mask,
            ),
        ):
            out = model(inference_session=state, frame_idx=frame, reverse=reverse)
        # Meta's propagation marks every frame it passes as tracked, prompted ones included,
        # so a later click there is a correction that uses memory; transformers leaves
        # prompted frames out, and the click would start again with no memory.
        if self.fixes.prompted_frames_tracked:
            state.frames_tracked_per_obj[0][frame] = {"reverse": reverse}
        self.slimmer.drop_unread(state, frame)
        return out

    def _track_together(self, ids: list[int], frame: int, reverse: bool) -> list:
        """Objects that only track ``frame`` go through the model as one batch (:mod:`.together`)."""
        import torch

        states = [self._objects[o].state for o in ids]

        def keep(index, features):  # a budget of 0 keeps nothing (ConditionedFeatures.put)
            self.conditioned.put((ids[index], frame), features)

        with torch.inference_mode(), self.loaded.autocast():
            outs = track_together(
                self.loaded.model, states, frame, reverse, fill_hole_area=self.fill_hole_area, keep=keep
            )
        for state in states:
            self.slimmer.drop_unread(state, frame)
        return outs

    def state_nbytes(self) -> int:
        """Bytes of tracked state held in memory for all objects (shared tensors counted once).

        Spilled state is not counted; :attr:`spill` says how much of it there is.
        """
        return StateSlimmer.nbytes(obj.state for obj in self._objects.values())

    def _result(self, frame: int, ids: list[int], outs: list[Any]) -> FrameResult:
        masks, scores = masks_and_scores(self.loaded, self.source.frame_shape, outs)
        per_frame = self.scores.setdefault(frame, {})
        for obj_id, score in zip(ids, scores):
            per_frame[obj_id] = float(score)
        return FrameResult(frame, list(ids), masks, scores, self.source.roi)
