"""One stack tracked and written: the body of ``napari-sam2 track``, also run by each task
of ``napari-sam2 batch``.

Everything that can be refused is refused before the model loads. The labels are written
frame by frame into a partial file and committed with their JSON sidecar however the run
ends (done, interrupted, failed): finished frames are never lost. Run from the command
line, Ctrl-C and SIGTERM interrupt it; run as a batch task (on a worker thread, where no
signal handler can be set), a ``stop()`` callable does, checked after every frame.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cli_population
from .core.errors import Sam2InputError

EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
_FRAME_LETTERS = "TZQIR"
CLI_FEATURE_CACHE_MB = 48
DEFAULT_TRACK_MODEL = "sam2.1-tiny"


@dataclass(frozen=True)
class TrackOutcome:
    """How one stack's run ended."""

    code: int  # the exit status of ``napari-sam2 track``
    frames_done: int
    frames: int  # in the stack
    status: str  # complete, interrupted, or failed: <reason>


def _freed_memory_returner():
    """A function that hands memory freed on the C heap back to the OS (glibc's ``malloc_trim``).

    glibc keeps freed tensor buffers in fragmented heap arenas: without help, a long run's
    memory grows by 1.6-3 MiB per frame although the engine keeps 0.5 MiB. Trimming after
    each frame holds it at 0.21 MiB per frame and costs milliseconds. (The former remedy, a
    1 MiB ``M_MMAP_THRESHOLD``, held 0.39 MiB per frame but made every large buffer a fresh
    mmap: page faults cost a 5-frame run 25 % more time; docs/benchmarks.md.)
    Elsewhere than glibc it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    import ctypes

    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None  # not glibc: nothing to tune
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def _exported_settings(args: argparse.Namespace) -> None:
    """Fill the options not given from the settings exported with the prompts, then the defaults."""
    from .core import io
    from .core.holes import DEFAULT_FILL_HOLE_AREA

    given = args.prompts or args.boxes
    path = io.prompt_settings_path(given) if given else None
    taken = []
    args.model_given = args.model
    args.history = args.history_masks = None
    if path is not None and path.exists():
        settings = io.read_prompt_settings(path)
        args.history = settings.get("history")
        if settings.get("masks"):
            args.history_masks = str(path.with_name(settings["masks"]))
        for key in ("axis", "hold", "contrast_limits", "roi", "model", "model_config", "fill_hole_area"):
            if getattr(args, key) is None and settings.get(key) not in (None, []):
                setattr(args, key, settings[key])
                taken.append(key.replace("_", "-"))
        if args.boxes is None and settings.get("boxes"):
            args.boxes = str(path.with_name(settings["boxes"]))
            taken.append("boxes")
        if taken and not args.quiet:
            print(f"napari-sam2: using {', '.join(taken)} from {path.name}", file=sys.stderr)
    defaults = {"model": DEFAULT_TRACK_MODEL, "hold": [], "fill_hole_area": DEFAULT_FILL_HOLE_AREA}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def run_track(args: argparse.Namespace, *, loader=None, stop: Callable[[], bool] | None = None) -> TrackOutcome:
    """Track ``args.input`` as ``napari-sam2 track`` does with these options.

    ``loader``: a :class:`~napari_sam2.core.models.ModelLoader` that keeps models between
    calls (a batch worker's); default, a new one. ``stop``: when given, checked after every
    frame instead of handling SIGTERM (which only the main thread can).
    """
    from .core import io
    from .core.labels import label_dtype
    from .core.models import check_model_config, resolve_spec

    _exported_settings(args)

    # Everything that can be checked is checked before the model loads, and before the
    # labels file is laid out (which also proves the output folder is writable).
    out = io.check_outputs(args.out, inputs=(args.input, args.prompts, args.boxes), overwrite=args.overwrite)
    disk = _feature_cache_dir(args.feature_cache)
    if not args.prompts and not args.boxes and not args.seeds:
        raise Sam2InputError("Give prompts with --prompts and/or --boxes, or cells with --seeds.")
    if args.threads is not None and args.threads < 1:
        raise Sam2InputError(f"--threads must be at least 1, got {args.threads}.")
    if args.fill_hole_area < 0:
        raise Sam2InputError(f"--fill-hole-area must be 0 (off) or more, got {args.fill_hole_area}.")
    check_model_config(resolve_spec(args.model)[0], args.model_config)
    history = _history_to_replay(args)
    args.replaying = history is not None
    image = io.read_image(args.input)
    writer = None
    try:
        source, letter = _frame_source(image, args)
        points = io.read_point_prompts(args.prompts, frame_axis=_points_frame_axis(source)) if args.prompts else []
        boxes = io.read_box_prompts(args.boxes) if args.boxes else []
        plan = cli_population.check(args, source, [*points, *boxes])
        if plan is None:
            args.direction = args.direction or "both"
            _validate_run(source, points, boxes, args)
        else:
            _validate_prompts(source, points, boxes)
        shape = (len(source), *source.full_frame_shape)
        ids = [r.object_id for r in [*points, *boxes]] + (history_objects(history) if history else [])
        if plan is not None:  # cells found later get new ids: room for them
            ids += [*plan.seeds, 2**16 - 1]
        writer = io.LabelsTiffWriter(
            out, shape=shape, dtype=label_dtype(max(ids)), frame_axis_letter=letter, scale=image.scale, unit=image.unit
        )
        if history is not None:
            written, writer = writer, None  # from here on, _run_and_write commits or discards it
            return _replay(history, image, source, written, out, args, disk, loader, stop)
        session = _open_session(source, points, boxes, disk, args, loader)
        tracker = None if plan is None else cli_population.tracker_for(session, plan, args)  # may find no seed
        written, writer = writer, None  # from here on, _run_and_write commits or discards it
        if tracker is None:
            frames = _merged(_with_progress(session, args), written)
            return _run_and_write(lambda: session, written, out, args, frames=frames, stop=stop)
        frames = _merged(cli_population.results(session, plan, tracker, args), written, contest=False)
        lineage = tracker.lineage
        outcome = _run_and_write(lambda: session, written, out, args, frames=frames, lineage=lineage, stop=stop)
        cli_population.export(out, tracker, args, image.scale, letter)
        return outcome
    finally:
        if writer is not None:
            writer.discard()
        image.close()


def _merged(results, writer, *, contest: bool = True):
    """Each result merged into its frame of the output (the one overlap rule); yields the frame.
    A population run tracks every cell together (``contest=False``, as in napari)."""
    from .core.labels import LabelMerger

    merger = LabelMerger()
    for result in results:
        writer.write_frame(result.frame, merger.merge(writer.read_frame(result.frame), result, contest=contest))
        yield result.frame


# -- replaying a napari session ------------------------------------------------------------------
def _history_to_replay(args):
    """The napari session exported with the prompts, when ``track`` should replay it: no
    ``--seeds`` and no option that asks for another run (``--direction``, ``--start``,
    ``--range``). Checked before the model loads."""
    from .core import io
    from .core.history import SessionHistory

    if not args.history:
        return None
    asked = [f"--{k}" for k in ("direction", "start", "range") if getattr(args, k) is not None]
    if args.seeds or asked:
        if not args.quiet:
            what = "--seeds" if args.seeds else ", ".join(asked)
            print(f"napari-sam2: {what} given: tracking the prompts as asked, not as napari ran them", file=sys.stderr)
        return None
    masks = io.read_history_masks(args.history_masks) if args.history_masks else []
    history = SessionHistory.from_dict(args.history, masks)
    first = history.settings[0]
    for settings in history.settings[1:]:
        if (settings.get("axis"), settings.get("hold")) != (first.get("axis"), first.get("hold")):
            raise Sam2InputError(
                "The napari session changed the propagated axis or the held slices part-way; track replays "
                "one axis at one place: export again after tracking along one axis."
            )
    if history.unreplayable and not args.quiet:
        print(
            f"napari-sam2: the napari labels also hold {' and '.join(history.unreplayable)}, which this "
            "replay cannot repeat",
            file=sys.stderr,
        )
    for key in ("axis", "hold", "contrast_limits", "roi", "fill_hole_area"):  # the output is the first's
        setattr(args, key, first.get(key) if key != "hold" else list(first.get("hold") or []))
    if args.fill_hole_area is None:
        args.fill_hole_area = 8
    return history


def history_objects(history) -> list[int]:
    return [int(getattr(step, "object", 0) or 0) for step in history.steps] + [
        o for step in history.steps for o in getattr(step, "objects", [])
    ]


def _replay(history, image, source, writer, out, args, disk, loader, stop) -> TrackOutcome:
    """Replay the napari session into ``writer``, segment by segment (see core.history)."""
    from .core.history import replay

    opened: list = []

    def open_session(settings: dict):
        options = argparse.Namespace(**vars(args))
        for key in ("axis", "contrast_limits", "roi"):
            setattr(options, key, settings.get(key))
        options.hold = list(settings.get("hold") or [])
        options.fill_hole_area = int(settings.get("fill_hole_area", args.fill_hole_area))
        options.model = args.model_given or settings.get("model") or args.model
        segment, _ = _frame_source(image, options)
        opened.append(_open_session(segment, [], [], disk, options, loader))
        return opened[-1]

    if not args.quiet:
        steps = len(history.steps)
        print(f"napari-sam2: replaying the napari session ({steps} steps) exported with the prompts", file=sys.stderr)
    frames = replay(history, open_session=open_session, labels=writer, n_frames=len(source))
    return _run_and_write(lambda: opened[-1] if opened else None, writer, out, args, frames=frames, stop=stop)


def _validate_prompts(source, points, boxes) -> None:
    from .core.pipeline import validate_prompts

    if points or boxes:
        validate_prompts(source, points, boxes)


def _validate_run(source, points, boxes, args) -> None:
    """Prompts, frame range and start frame against the stack, before any model work."""
    from .core.session import plan_passes

    _validate_prompts(source, points, boxes)
    start = args.start if args.start is not None else min(r.frame for r in [*points, *boxes])
    plan_passes(len(source), args.direction, start=start, frame_range=args.range)


def _open_session(source, points, boxes, disk, args, loader=None):
    from .core.models import ModelLoader, quiet_third_party, set_torch_threads
    from .core.pipeline import apply_prompts
    from .core.session import TrackingSession

    if args.model.startswith("random:"):
        print("napari-sam2: WARNING: random weights; the masks are meaningless.", file=sys.stderr)
    if args.quiet:
        quiet_third_party()
    set_torch_threads(args.threads)
    loaded = (loader or ModelLoader()).load(
        args.model,
        device=args.device,
        progress=not args.quiet,
        compile=args.compile,
        precision=args.precision,
        model_config=args.model_config,
    )
    # Each frame is visited once per pass, so cached features are never reused in batch:
    # keep about three 1024² frames (16 MiB each), and memory stays flat with stack length.
    # There are no correction clicks in batch, so no memory-conditioned features are kept.
    session = TrackingSession(
        loaded,
        source,
        feature_cache_mb=CLI_FEATURE_CACHE_MB,
        conditioned_cache_mb=0,
        disk_cache=disk,
        fill_hole_area=args.fill_hole_area,
    )
    apply_prompts(session, points, boxes)
    return session


def _feature_cache_dir(option: str | None) -> Path | None:
    """Checked before the model loads, so a bad folder fails at once."""
    if not option:
        return None
    from .core.diskcache import default_root, usable_folder

    return usable_folder(default_root() if option == "default" else option)


def _frame_source(image, args):
    from .core.frames import FrameSource

    shape, axes = tuple(image.data.shape), image.axes
    channel_axis = rgb = None
    if axes and len(axes) == len(shape):
        for letter in "SC":
            if letter in axes:
                channel_axis = axes.index(letter)
                break
        rgb = "S" in axes
    frame_axis = args.axis if args.axis is not None else _default_frame_axis(shape, axes, channel_axis)
    held: dict[int, int] = {}
    for text in args.hold:
        axis, index = _parse_hold(text)
        if axis in held:
            raise Sam2InputError(f"Axis {axis} is held twice (--hold {text}); hold each axis once.")
        held[axis] = index
    channels = args.channel
    if rgb and channels is None:
        channels = [0, 1, 2] if shape[channel_axis] >= 3 else [0]
    source = FrameSource(
        image.data,
        frame_axis=frame_axis,
        held=held,
        channel_axis=channel_axis,
        channels=channels,
        rgb=False if channel_axis is not None else None,
        contrast_limits=tuple(args.contrast_limits) if args.contrast_limits else None,
        roi=tuple(args.roi) if args.roi else None,
        origin=str(args.input),
    )
    if args.contrast_limits and source.is_uint8:
        raise Sam2InputError("--contrast-limits applies to 16-bit and float data; 8-bit data goes to SAM 2 as it is.")
    if args.roi:
        _check_roi_inside(args.roi, source.full_frame_shape)
    letter = axes[frame_axis] if axes and frame_axis is not None and len(axes) == len(shape) else "T"
    return source, letter


def _check_roi_inside(roi, frame_shape) -> None:
    """--roi is taken as typed: a box reaching outside the frame, or upside down, is refused, not clipped."""
    y0, x0, y1, x1 = roi
    h, w = frame_shape
    if y0 >= y1 or x0 >= x1:
        raise Sam2InputError(f"--roi {y0:g} {x0:g} {y1:g} {x1:g}: Y0 must be less than Y1 and X0 less than X1.")
    if y0 < 0 or x0 < 0 or y1 > h or x1 > w:
        raise Sam2InputError(
            f"--roi {y0:g} {x0:g} {y1:g} {x1:g} reaches outside the {h}x{w} frame; "
            f"rows go from 0 to {h} and columns from 0 to {w}."
        )


def _default_frame_axis(shape, axes, channel_axis) -> int | None:
    spatial_candidates = [a for a in range(len(shape)) if a != channel_axis]
    if len(spatial_candidates) <= 2:
        return None
    if axes and len(axes) == len(shape):
        for letter in _FRAME_LETTERS:
            if letter in axes and axes.index(letter) != channel_axis:
                return axes.index(letter)
    return spatial_candidates[0]


def _parse_hold(text: str) -> tuple[int, int]:
    try:
        axis, index = text.split("=")
        return int(axis), int(index)
    except ValueError:
        raise Sam2InputError(f"--hold takes AXIS=INDEX, for example --hold 1=5; got {text!r}.") from None


def _points_frame_axis(source) -> int:
    """The propagated axis counted among point coordinates (channels are not a point axis)."""
    if source.frame_axis is None:
        return 0
    skipped = [a for a in range(len(source.data.shape)) if a != source.channel_axis]
    return skipped.index(source.frame_axis)


def _run_and_write(session_of, writer, out: Path, args, *, frames, lineage=None, stop=None) -> TrackOutcome:
    """Track (``frames`` writes each finished frame into ``writer`` and yields it); commit the
    TIFF + JSON pair however the run ends. ``session_of()`` is the session, for provenance.

    Ctrl-C or SIGTERM (or ``stop()``): finished frames kept, status 130. A file that cannot
    be read mid-run (damaged data): finished frames kept, one line, status 1. The output
    cannot be written (disk full): nothing is left behind, one line, status 1. A bug:
    finished frames kept, then the traceback.
    """
    from .core.errors import Sam2FileError
    from .core.pipeline import provenance

    done: set[int] = set()
    return_freed_memory = _freed_memory_returner()
    status, code, error = "complete", 0, None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if stop is None else None
    try:
        for frame in frames:
            done.add(frame)
            return_freed_memory()
            if stop is not None and stop():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        status, code = "interrupted", EXIT_INTERRUPTED
    except Sam2FileError as exc:
        if not writer.tmp.exists():
            raise  # the output itself failed: nothing to keep
        status, code, error = f"failed: {exc}", EXIT_FAILED, exc
    except Sam2InputError:
        writer.discard()
        raise
    except Exception as exc:  # a bug: keep the finished frames, then show the traceback
        status, error = f"failed: {type(exc).__name__}: {exc}", exc
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    session = session_of()
    if session is None:  # stopped before the first session opened
        writer.discard()
        if error is not None:
            raise error
        raise KeyboardInterrupt
    # The passes end normally only after every planned frame: "complete" needs no recount.
    complete = status == "complete"
    settings = _settings(args)
    sidecar = provenance(session=session, settings=settings, frames_done=sorted(done), complete=complete, status=status)
    if lineage is not None:  # complete: every frame from the first seeded or prompted one to the end
        sidecar["lineage"] = lineage.as_dict()
    writer.commit(sidecar)
    if error is not None:
        raise error
    n = writer.shape[0]
    _report(out, done, n, status)
    return TrackOutcome(code, len(done), n, status)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _with_progress(session, args):
    """The session's results, with a progress bar fed by the session's own count."""
    from tqdm import tqdm

    with tqdm(unit="frame", desc="tracking", file=sys.stderr, disable=args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:  # told before the first frame
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        yield from session.propagate(args.direction, start=args.start, frame_range=args.range, progress=progress)


def _settings(args) -> dict:
    return {
        "direction": args.direction,
        "start": args.start,
        "frame_range": args.range,
        "axis": args.axis,
        "hold": args.hold,
        "channel": args.channel,
        "contrast_limits_arg": args.contrast_limits,
        "roi": args.roi,
        "device_arg": args.device,
        "input": str(Path(args.input).resolve()),
        "prompts_file": args.prompts,
        "boxes_file": args.boxes,
        "seeds": args.seeds,
        "seed_frame": args.seed_frame if args.seeds else None,
        "redetect_every": args.redetect_every if args.seeds else None,
        "redetect_frames": args.redetect_frames if args.seeds else None,
        "divisions": args.divisions if args.seeds else None,
        "divide_file": getattr(args, "divide", None),
        "replayed": bool(getattr(args, "replaying", False)),
        "command": getattr(args, "command_line", None) or "napari-sam2 " + " ".join(sys.argv[1:]),
        "batch_settings_hash": getattr(args, "settings_hash", None),
    }


def _report(out: Path, done: set[int], n: int, status: str) -> None:
    print(
        f"napari-sam2: {status}: {len(done)}/{n} frames -> {out} (+ {out.with_suffix('.json').name})", file=sys.stderr
    )
