"""One tracking session: objects, prompts, single-frame prediction and propagation.

The engine drives transformers' ``Sam2VideoModel`` with one inference state per object.
All objects share one lazy frame mapping and one feature cache, so a frame is encoded once
however many objects look at it, while a new object can be propagated alone without
recomputing (or changing) the objects already tracked.

Two things differ from a plain transformers session, on purpose:

* **Corrections are conditioning frames.** transformers stores prompts on an already
  tracked frame as a non-conditioning output, so the next propagation through that frame
  recomputes it without the prompt (the upstream SAM 2 behaviour). After the forward call
  the engine moves that output to the conditioning outputs, where propagation keeps it.
* **What is never read again is dropped, what is identical is stored once.**
  ``high_res_masks`` (4 MiB per frame and object at 1024²) is used once, by the memory
  encoder, then released; ``pred_masks`` (0.25 MiB) of tracked (non-conditioning) frames
  are never read again; ``maskmem_pos_enc`` (1 MiB) depends only on the feature-map shape,
  so every frame shares one copy (transformers 5.23 already shares its storage; the engine
  makes sure). What remains per frame and object is the bf16 memory (0.5 MiB at 1024²) and
  the object pointer: state grows by about 0.5 MiB per frame instead of 5.75 MiB.
* **State far from the working frames is spilled.** Each object's tracked outputs live in a
  :class:`~napari_sam2.core.state.SpillingOutputs`: the 32 most recently used frames stay in
  place, older ones move to an unlinked temporary file (CPU) or to CPU memory (GPU) and come
  back bit for bit when a later pass or correction reads them. Memory stays flat however
  long the stack.

The private parts of transformers relied on are listed in :data:`PRIVATE_CONTRACT`,
:data:`PRIVATE_METHODS` and :data:`PRIVATE_MODULES`; a test
checks them so that a transformers release that changes them fails loudly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conditioned import ConditionedFeatures
from .diskcache import DiskFeatureCache, frame_fingerprint, model_fingerprint
from .errors import Sam2InputError, Sam2SetupError
from .features import FeatureCache
from .frames import FrameSource, PreprocessedFrames, Roi
from .holes import DEFAULT_FILL_HOLE_AREA, fill_small_holes
from .shadow import shadowing
from .state import SpillingOutputs, SpillStore

DIRECTIONS = ("forward", "backward", "both")

#: The transformers releases tested (CI runs both ends); pyproject.toml holds the same range.
TESTED_TRANSFORMERS = "transformers>=5.4,<5.25"

#: Attributes of transformers' inference session that the engine reads or writes.
PRIVATE_CONTRACT = (
    "processed_frames",
    "cache",
    "output_dict_per_obj",
    "frames_tracked_per_obj",
    "point_inputs_per_obj",
    "mask_inputs_per_obj",
    "obj_with_new_inputs",
)

#: Model methods shadowed for one call (:func:`~napari_sam2.core.shadow.shadowing`), with
#: the keyword arguments the wrappers read or pass.
PRIVATE_METHODS = {
    "_prepare_memory_conditioned_features": ("frame_idx", "is_initial_conditioning_frame"),  # core.conditioned
    "_run_single_frame_inference": (  # _as_meta
        "inference_session",
        "frame_idx",
        "point_inputs",
        "mask_inputs",
        "prev_sam_mask_logits",
    ),
}

#: transformers modules imported by path (:func:`_session_class`), not from its top level.
PRIVATE_MODULES = {
    "Sam2VideoInferenceSession": "transformers.models.sam2_video.modeling_sam2_video",
    "EdgeTamVideoInferenceSession": "transformers.models.edgetam_video.modeling_edgetam_video",
}


@dataclass(frozen=True)
class Point:
    """A click in full-frame pixel coordinates ``(y, x)``; napari's row/column order."""

    y: float
    x: float
    positive: bool = True


@dataclass
class PromptGroup:
    """The clicks (in the order given) and the box of one object on one frame."""

    points: list[Point] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None  # y0, x0, y1, x1

    def key(self) -> tuple:
        """Equal keys, equal prompts: what the plugin compares to find changed groups."""
        return (tuple(self.points), self.box)

    def is_empty(self) -> bool:
        return not self.points and self.box is None


@dataclass
class FramePrompts(PromptGroup):
    """Everything one object was given on one frame: its clicks and box, or a mask."""

    mask: np.ndarray | None = None
    #: The frame's mask logits before its first prompt (a tracked frame's), which the first
    #: click refines; kept so that the prompts can be replayed from the same start.
    base_logits: Any = None

    def is_empty(self) -> bool:
        return super().is_empty() and self.mask is None


@dataclass
class FrameResult:
    """Masks of some objects on one frame. ``masks`` are in ROI coordinates."""

    frame: int
    object_ids: list[int]
    masks: np.ndarray  # (n_objects, H, W) bool
    scores: np.ndarray  # (n_objects,) object-score logits; > 0 means "present"
    roi: Roi


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
    fix_corrections
        Keep prompts on tracked frames as conditioning frames (see module docstring).
        Only tests switch this off, to show the fix is needed.
    slim_state
        Keep one copy of the memory position encoding, which is the same tensor for every
        tracked frame, instead of one per frame. Only tests switch it off.
    state_window
        Tracked frames per object kept in place; older ones are spilled (see
        :mod:`~napari_sam2.core.state`). ``None`` keeps everything in place.
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
    refine_with_previous_mask, prompted_frames_count_as_tracked, memory_from_stored_mask
        Three more ways in which clicks behave as in Meta's predictor (see :func:`_as_meta`
        and :meth:`_track_frame`). Only tests switch them off, to show each is needed.
    """

    def __init__(
        self,
        loaded: Any,
        source: FrameSource,
        *,
        feature_cache_mb: float = 512,
        conditioned_cache_mb: float = 256,
        fix_corrections: bool = True,
        slim_state: bool = True,
        state_window: int | None = 32,
        spill_dir: str | None = None,
        feature_dtype: Any = None,
        disk_cache: Any = None,
        fill_hole_area: int = DEFAULT_FILL_HOLE_AREA,
        refine_with_previous_mask: bool = True,
        prompted_frames_count_as_tracked: bool = True,
        memory_from_stored_mask: bool = True,
    ) -> None:
        self.loaded = loaded
        self.fill_hole_area = int(fill_hole_area)
        self.refine_with_previous_mask = refine_with_previous_mask
        self.prompted_frames_count_as_tracked = prompted_frames_count_as_tracked
        self.memory_from_stored_mask = memory_from_stored_mask
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
        self.fix_corrections = fix_corrections
        self.slim_state = slim_state
        self._shared_pos_enc = None
        self.state_window = state_window
        self.spill_dir = spill_dir
        self.spill = self._new_spill_store()
        self._objects: dict[int, _TrackedObject] = {}
        self._scratch = None  # an inference state with no object, for encoding ahead
        self.scores: dict[int, dict[int, float]] = {}  # frame -> object id -> score

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
        """Frames still to encode, nearest to ``center`` first (later frames before earlier).

        Bounded by what the memory cache can hold without evicting the frames it has,
        unless a disk cache keeps everything anyway.
        """
        first, last = (0, len(self.source) - 1) if frame_range is None else frame_range
        order = sorted(range(first, last + 1), key=lambda f: (abs(f - center), f < center))
        todo = [f for f in order if f not in self.cache]
        if self.cache.disk is None:
            room = self.cache.room_for_frames()
            todo = todo[:room] if room is not None else todo[:1]
        return todo

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
        if obj is not None:
            obj.state.output_dict_per_obj[0]["non_cond_frame_outputs"].clear()  # frees spilled slots
        self.conditioned.forget_object(obj_id)
        for per_frame in self.scores.values():
            per_frame.pop(obj_id, None)

    def reset(self) -> None:
        """Forget every object, prompt and result; keep the cached image features."""
        self._objects.clear()
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
        on_gpu = str(self.loaded.device).split(":")[0] != "cpu"
        return SpillStore("cpu" if on_gpu else "disk", directory=self.spill_dir)

    def prompts(self) -> dict[int, dict[int, FramePrompts]]:
        """``object id -> frame -> prompts``, for export and provenance."""
        return {oid: dict(sorted(obj.prompts.items())) for oid, obj in self._objects.items()}

    def _new_state(self, obj_id: int, register: bool = True):
        import torch

        h, w = self.source.frame_shape
        device = self.loaded.device
        state = _session_class(self.loaded.model)(
            video=None,
            video_height=h,
            video_width=w,
            inference_device=device,
            inference_state_device=device,
            video_storage_device=device,
            dtype=torch.float32,
        )
        state.processed_frames = self.frames
        state.cache = self.cache
        if not register:
            return state
        state.obj_id_to_idx(obj_id)
        if self.spill is not None:
            state.output_dict_per_obj[0]["non_cond_frame_outputs"] = SpillingOutputs(
                self.spill, resident=self.state_window, shared=lambda value: value is self._shared_pos_enc
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

    def add_mask(self, obj_id: int, frame: int, mask: np.ndarray) -> FrameResult:
        """Use a full-frame boolean mask (for example a painted label slice) as the prompt."""
        mask = np.asarray(mask)
        if mask.shape != self.source.full_frame_shape:
            raise Sam2InputError(
                f"A mask prompt must have the frame's shape {self.source.full_frame_shape}, got {mask.shape}."
            )
        roi = self.source.roi
        mask = mask[roi.y0 : roi.y1, roi.x0 : roi.x1].astype(bool)
        if not mask.any():
            raise Sam2InputError(f"The mask prompt for object {obj_id} on frame {frame} is empty inside the region.")
        self._restart(obj_id, frame).mask = mask
        return self._predict_prompt_frame(obj_id, frame)

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
        new = [_as_point(p) for p in points]
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
        prompts = obj.prompts[frame]
        processor = self.loaded.processor
        if prompts.mask is not None:
            processor.add_inputs_to_inference_session(
                obj.state, frame_idx=frame, obj_ids=obj_id, input_masks=prompts.mask
            )
            return
        kwargs: dict[str, Any] = {}
        if prompts.points:
            where = f"A point on frame {frame}"
            kwargs["input_points"] = [[[self._to_roi_xy(p.y, p.x, where) for p in prompts.points]]]
            kwargs["input_labels"] = [[[int(p.positive) for p in prompts.points]]]
        if prompts.box is not None:
            (ax, ay), (bx, by) = (
                self._to_roi_xy(y, x, f"The box on frame {frame}") for y, x in box_corners(*prompts.box)
            )
            kwargs["input_boxes"] = [[[min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]]]
        processor.add_inputs_to_inference_session(obj.state, frame_idx=frame, obj_ids=obj_id, **kwargs)

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
        previous = self._previous_logits(state, frame)
        if previous is None:
            previous = prompts.base_logits
        elif prompts.base_logits is None and len(prompts.points) + (prompts.box is not None) <= 1:
            prompts.base_logits = previous  # the tracked mask this frame's first prompt refines
        # Meta's add_new_mask uses no previous mask.
        if not self.refine_with_previous_mask or prompts.mask is not None:
            previous = None
        with (
            torch.inference_mode(),
            self.loaded.autocast(),
            self.conditioned.around(model, obj_id, reuse=True),
            _as_meta(
                model,
                fill_hole_area=self.fill_hole_area,
                memory_from_stored_mask=self.memory_from_stored_mask,
                frame=frame,
                previous_logits=previous,
            ),
        ):
            out = model(inference_session=state, frame_idx=frame, reverse=reverse)
        # The conditioning frames of this object changed: its kept features are stale now.
        self.conditioned.forget_object(obj_id)
        outputs = state.output_dict_per_obj[0]
        if tracked is not None and self.fix_corrections and frame in outputs["non_cond_frame_outputs"]:
            self._make_conditioning(outputs, frame)
        self._drop_unread(state, frame)
        return self._result(frame, [obj_id], [out])

    @staticmethod
    def _previous_logits(state, frame: int):
        """The frame's last low-resolution mask logits for this object, clamped as Meta does.

        SAM's interactive refinement: clicks on a frame that already has a mask (a tracked
        frame, or one prompted before) go to the mask decoder together with that mask, so a
        negative click trims the mask the user sees instead of starting again from the clicks
        alone. Meta's predictor does this; transformers' ``forward`` never passes them.
        """
        import torch

        outputs = state.output_dict_per_obj[0]
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            stored = outputs[kind].get(frame)
            if stored is not None and stored.get("pred_masks") is not None:
                return torch.clamp(stored["pred_masks"], -32.0, 32.0)
        return None

    @staticmethod
    def _make_conditioning(outputs: dict, frame: int) -> None:
        """Move a corrected frame's output to the conditioning outputs, so propagation keeps it.

        On a frame that is already conditioning (a second correction), transformers writes
        the fresh memory encoding into the old conditioning entry, not the new output: carry
        it over before the new output replaces the old one.
        """
        fresh = outputs["non_cond_frame_outputs"].pop(frame)
        stale = outputs["cond_frame_outputs"].get(frame)
        if stale is not None and "maskmem_features" not in fresh:
            fresh["maskmem_features"] = stale["maskmem_features"]
            fresh["maskmem_pos_enc"] = stale["maskmem_pos_enc"]
        outputs["cond_frame_outputs"][frame] = fresh

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
        return min(min(self._objects[o].prompts) for o in ids)

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
        import torch

        ids = [o for o in ids if self._objects[o].exists_on(frame)]
        outs = []
        for obj_id in ids:
            state, model = self._objects[obj_id].state, self.loaded.model
            with (
                torch.inference_mode(),
                self.loaded.autocast(),
                self.conditioned.around(model, obj_id, reuse=False),
                _as_meta(
                    model, fill_hole_area=self.fill_hole_area, memory_from_stored_mask=self.memory_from_stored_mask
                ),
            ):
                outs.append(model(inference_session=state, frame_idx=frame, reverse=reverse))
            # Meta's propagation marks every frame it passes as tracked, prompted ones included,
            # so a later click there is a correction that uses memory; transformers leaves
            # prompted frames out, and the click would start again with no memory.
            if self.prompted_frames_count_as_tracked:
                state.frames_tracked_per_obj[0][frame] = {"reverse": reverse}
            self._drop_unread(state, frame)
        return self._result(frame, ids, outs)

    def _drop_unread(self, state, frame: int) -> None:
        outputs = state.output_dict_per_obj[0]
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            stored = outputs[kind].get(frame)
            if stored is None:
                continue
            fresh = stored.pop("high_res_masks", None) is not None  # just computed, not a kept output
            # The mask logits stay (a click there refines them, as in Meta's predictor), as a
            # fresh copy made after the frame's transient buffers are freed: kept where the
            # model allocated them, the heap around them could not be returned, and a CLI
            # run's peak grew by 4.2 MiB per frame instead of 0.3 (docs/benchmarks.md).
            if fresh and stored.get("pred_masks") is not None:
                stored["pred_masks"] = stored["pred_masks"].clone()
            if not self.slim_state:
                continue
            stored["maskmem_pos_enc"] = self._shared(stored.get("maskmem_pos_enc"))

    def _shared(self, pos_enc):
        import torch

        if pos_enc is None:
            return None
        shared = self._shared_pos_enc
        if shared is not None and shared.shape == pos_enc.shape and torch.equal(shared, pos_enc):
            return shared
        self._shared_pos_enc = pos_enc.clone()
        return self._shared_pos_enc

    def state_nbytes(self) -> int:
        """Bytes of tracked state held in memory for all objects (shared tensors counted once).

        Spilled state is not counted; :attr:`spill` says how much of it there is.
        """
        seen: set[int] = set()
        total = 0
        for obj in self._objects.values():
            for outputs in obj.state.output_dict_per_obj[0].values():
                items = outputs.in_memory_items() if isinstance(outputs, SpillingOutputs) else outputs.items()
                for _, stored in items:
                    for value in stored.values():
                        if hasattr(value, "untyped_storage") and value.untyped_storage().data_ptr() not in seen:
                            seen.add(value.untyped_storage().data_ptr())
                            total += value.untyped_storage().nbytes()
        return total

    def _result(self, frame: int, ids: list[int], outs: list[Any]) -> FrameResult:
        import torch

        h, w = self.source.frame_shape
        if not ids:
            return FrameResult(frame, [], np.zeros((0, h, w), bool), np.zeros(0, np.float32), self.source.roi)
        logits = torch.cat([o.pred_masks.float() for o in outs], dim=0)
        masks = self.loaded.processor.post_process_masks([logits.cpu()], original_sizes=[[h, w]], binarize=False)[0]
        scores = torch.cat([o.object_score_logits.float().reshape(-1) for o in outs]).cpu().numpy()
        per_frame = self.scores.setdefault(frame, {})
        for obj_id, score in zip(ids, scores):
            per_frame[obj_id] = float(score)
        return FrameResult(
            frame=frame,
            object_ids=list(ids),
            masks=(masks[:, 0] > 0).numpy(),
            scores=scores.astype(np.float32),
            roi=self.source.roi,
        )


def box_corners(y0: float, x0: float, y1: float, x1: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box's first and last pixel centre ``(y, x)``: boxes are half-open, so ``y1`` and
    ``x1`` may equal the frame size, and the far corner is taken just inside."""
    return (y0, x0), (y1 - 1e-3, x1 - 1e-3)


def plan_passes(
    n_frames: int, direction: str, *, start: int, frame_range: tuple[int, int] | None = None
) -> list[tuple[bool, range]]:
    """The passes ``(reverse, frames)`` of a propagation over ``n_frames``; user errors raise.

    Needs no model, so the CLI checks a run with it before loading one.
    """
    if direction not in DIRECTIONS:
        raise Sam2InputError(f"Direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}.")
    first, last = (0, n_frames - 1) if frame_range is None else (int(frame_range[0]), int(frame_range[1]))
    for what, frame in (("first frame of the range", first), ("last frame of the range", last), ("start frame", start)):
        if not 0 <= frame < n_frames:
            raise Sam2InputError(f"The {what}, {frame}, does not exist; the stack has frames 0 to {n_frames - 1}.")
    if first > last:
        raise Sam2InputError(f"The frame range {first}..{last} is empty; the first frame must come first.")
    if not first <= start <= last:
        raise Sam2InputError(f"The start frame {start} is outside the frame range {first}..{last}.")
    if direction == "backward" and start == first:
        raise Sam2InputError(
            f"Tracking backward from frame {start} tracks nothing: it is the first frame"
            f"{' of the range' if first else ''}. Track forward, or start from a later frame."
        )
    passes = []
    if direction in ("forward", "both"):
        passes.append((False, range(start, last + 1)))
    if direction in ("backward", "both") and start > first:
        passes.append((True, range(start, first - 1, -1)))
    return passes


@contextmanager
def _as_meta(
    model, *, fill_hole_area: int, memory_from_stored_mask: bool, frame: int | None = None, previous_logits=None
):
    """Within this call, run each frame's inference as Meta's video predictor does.

    transformers' ``_run_single_frame_inference`` is wrapped, for this call only, to:

    * feed ``previous_logits`` to the mask decoder with the clicks on ``frame`` (see
      :meth:`TrackingSession._previous_logits`); its ``forward`` never passes them;
    * fill holes of up to ``fill_hole_area`` pixels in the low-resolution logits before
      they are stored and shown (:mod:`~napari_sam2.core.holes`);
    * encode a prompted frame's memory from that stored low-resolution mask, upsampled, as
      Meta does when propagation starts (transformers encodes the decoder's own upsampled
      mask, or a mask prompt at full resolution). Tracked frames keep the decoder's mask
      for memory, as in Meta's ``track_step``.
    """
    import torch.nn.functional as F

    def wrap(original):
        def run(**kwargs):
            prompted = kwargs.get("point_inputs") is not None or kwargs.get("mask_inputs") is not None
            refined = kwargs.get("frame_idx") == frame and kwargs.get("point_inputs") is not None
            if previous_logits is not None and refined:
                kwargs["prev_sam_mask_logits"] = previous_logits.to(kwargs["inference_session"].inference_device)
            out = original(**kwargs)
            out["pred_masks"] = fill_small_holes(out["pred_masks"], fill_hole_area)
            high_res = out.get("high_res_masks")
            if memory_from_stored_mask and prompted and high_res is not None:
                size = high_res.shape[-2:]
                upsampled = F.interpolate(out["pred_masks"].float(), size=size, mode="bilinear", align_corners=False)
                out["high_res_masks"] = upsampled.reshape(high_res.shape).to(high_res.dtype)
            return out

        return run

    with shadowing(model, "_run_single_frame_inference", wrap):
        yield


def _session_class(model):
    """transformers' inference-state class matching the model (SAM 2 or EdgeTAM)."""
    import importlib

    name = "EdgeTamVideoInferenceSession" if type(model).__name__.startswith("EdgeTam") else "Sam2VideoInferenceSession"
    return check_transformers_contract(getattr(importlib.import_module(PRIVATE_MODULES[name]), name))


@functools.cache
def check_transformers_contract(session_class):
    """``session_class`` if it has every private part the engine uses; else one clear error.

    pip keeps transformers inside the tested range; this catches an installation forced
    outside it before anything is tracked, instead of an AttributeError mid-run.
    """
    import transformers

    try:
        state = session_class(video=None, video_height=10, video_width=10)
        missing = [name for name in PRIVATE_CONTRACT if not hasattr(state, name)]
        missing += [
            f"cache.{name}"
            for name in ("get_vision_features", "cache_vision_features")
            if not hasattr(getattr(state, "cache", None), name)
        ]
    except Exception as exc:  # a changed constructor is a changed contract
        missing = [f"its constructor ({type(exc).__name__})"]
    if missing:
        raise Sam2SetupError(
            f"transformers {transformers.__version__} changed parts of its SAM 2 video session that napari-sam2 "
            f"uses ({', '.join(missing)}); install a tested release: pip install '{TESTED_TRANSFORMERS}'."
        )
    return session_class


def _as_point(p: Point | tuple) -> Point:
    if isinstance(p, Point):
        return p
    if len(p) == 2:
        return Point(float(p[0]), float(p[1]), True)
    return Point(float(p[0]), float(p[1]), bool(p[2]))
