"""What every job does with one stack: open it as the settings say, open a session, and write
the labels so that nothing is lost however the run ends.

The labels are written frame by frame into a partial file and committed with their JSON
sidecar however the run ends (done, interrupted, failed). Run from the command line, Ctrl-C
and SIGTERM interrupt it; run as a batch task (on a worker thread, where no signal handler
can be set), a ``stop()`` callable does, checked after every frame.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from ..core.errors import Sam2InputError
from ..settings import EXPORTED, StackSettings, command_line
from .outcome import ExitStatus, TrackOutcome

#: Memory of image features the command line keeps: each frame is visited once per pass, so
#: features are never reused; about three 1024² frames, and memory stays flat.
CLI_FEATURE_CACHE_MB = 48


# -- the stack ------------------------------------------------------------------------------------
def with_exported(settings: StackSettings) -> tuple[StackSettings, dict]:
    """The settings with those a napari export put beside the prompts (for every option the
    user did not give), and the export itself (its history, for a replay; {} when none)."""
    from ..core import prompt_files

    given = settings.prompts or settings.boxes
    path = prompt_files.prompt_settings_path(given) if given else None
    if path is None or not path.exists():
        return settings, {}
    exported = prompt_files.read_prompt_settings(path)
    changed = settings.with_export({k: v for k, v in exported.items() if k != "boxes"})
    taken = [k for k in EXPORTED if k != "boxes" and exported.get(k) not in (None, []) and k not in settings.given]
    if exported.get("boxes") and settings.boxes is None:
        changed = replace(changed, boxes=str(path.with_name(exported["boxes"])))
        taken.append("boxes")
    taken = [k.replace("_", "-") for k in taken]
    if taken and not settings.quiet:
        print(f"napari-sam2: using {', '.join(taken)} from {path.name}", file=sys.stderr)
    if exported.get("masks"):
        exported = {**exported, "masks": str(path.with_name(exported["masks"]))}
    return changed, exported


def check_common(settings: StackSettings) -> Path:
    """What any job can refuse before reading the stack or loading the model; returns the output."""
    from ..core import outputs
    from ..core.models import check_model_config, resolve_spec

    inputs = (settings.input, settings.prompts, settings.boxes)
    out = outputs.check_outputs(settings.out, inputs=inputs, overwrite=settings.overwrite)
    if settings.threads is not None and settings.threads < 1:
        raise Sam2InputError(f"--threads must be at least 1, got {settings.threads}.")
    if settings.fill_hole_area < 0:
        raise Sam2InputError(f"--fill-hole-area must be 0 (off) or more, got {settings.fill_hole_area}.")
    check_model_config(resolve_spec(settings.model)[0], settings.model_config)
    return out


def frame_source(image, settings: StackSettings):
    """The FrameSource the settings ask for, and the frame axis's letter (T or Z)."""
    from ..core.frames import FrameSource
    from ..core.images import default_frame_axis

    shape, axes = tuple(image.data.shape), image.axes
    channel_axis = rgb = None
    if axes and len(axes) == len(shape):
        for letter in "SC":
            if letter in axes:
                channel_axis = axes.index(letter)
                break
        rgb = "S" in axes
    frame_axis = settings.axis if settings.axis is not None else default_frame_axis(shape, axes, channel_axis)
    channels = list(settings.channel) or None
    if rgb and channels is None:
        channels = [0, 1, 2] if shape[channel_axis] >= 3 else [0]
    source = FrameSource(
        image.data,
        frame_axis=frame_axis,
        held=held_axes(settings.hold),
        channel_axis=channel_axis,
        channels=channels,
        rgb=False if channel_axis is not None else None,
        contrast_limits=tuple(settings.contrast_limits) if settings.contrast_limits else None,
        roi=tuple(settings.roi) if settings.roi else None,
        origin=str(settings.input),
    )
    if settings.contrast_limits and source.is_uint8:
        raise Sam2InputError("--contrast-limits applies to 16-bit and float data; 8-bit data goes to SAM 2 as it is.")
    if settings.roi:
        _check_roi_inside(settings.roi, source.full_frame_shape)
    letter = axes[frame_axis] if axes and frame_axis is not None and len(axes) == len(shape) else "T"
    return source, letter


def held_axes(hold) -> dict[int, int]:
    """``("1=5", ...)`` -> ``{1: 5}``; an axis held twice, or bad text, is one line."""
    held: dict[int, int] = {}
    for text in hold:
        try:
            axis, index = (int(part) for part in str(text).split("="))
        except ValueError:
            raise Sam2InputError(f"--hold takes AXIS=INDEX, for example --hold 1=5; got {text!r}.") from None
        if axis in held:
            raise Sam2InputError(f"Axis {axis} is held twice (--hold {text}); hold each axis once.")
        held[axis] = index
    return held


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


def points_frame_axis(source) -> int:
    """The propagated axis counted among point coordinates (channels are not a point axis)."""
    if source.frame_axis is None:
        return 0
    skipped = [a for a in range(len(source.data.shape)) if a != source.channel_axis]
    return skipped.index(source.frame_axis)


def read_prompt_files(settings: StackSettings, source) -> tuple[list, list]:
    from ..core import prompt_files

    axis = points_frame_axis(source)
    points = prompt_files.read_point_prompts(settings.prompts, frame_axis=axis) if settings.prompts else []
    boxes = prompt_files.read_box_prompts(settings.boxes) if settings.boxes else []
    return points, boxes


# -- the session ----------------------------------------------------------------------------------
def feature_cache_dir(option: str | None) -> Path | None:
    """Checked before the model loads, so a bad folder fails at once."""
    if not option:
        return None
    from ..core.diskcache import default_root, usable_folder

    return usable_folder(default_root() if option == "default" else option)


def open_session(source, settings: StackSettings, loader=None, disk=None):
    """Load the model (through ``loader``, which may keep it) and open a session on ``source``."""
    from ..core.models import ModelLoader, quiet_third_party, set_torch_threads
    from ..core.session import TrackingSession

    if settings.model.startswith("random:"):
        print("napari-sam2: WARNING: random weights; the masks are meaningless.", file=sys.stderr)
    if settings.quiet:
        quiet_third_party()
    set_torch_threads(settings.threads)
    loaded = (loader or ModelLoader()).load(
        settings.model,
        device=settings.device,
        progress=not settings.quiet,
        compile=settings.compile,
        precision=settings.precision,
        model_config=settings.model_config,
    )
    # There are no correction clicks on the command line: no memory-conditioned features are kept.
    return TrackingSession(
        loaded,
        source,
        feature_cache_mb=CLI_FEATURE_CACHE_MB,
        conditioned_cache_mb=0,
        disk_cache=disk,
        fill_hole_area=settings.fill_hole_area,
        together={"auto": None, "on": True, "off": False}[settings.objects_together],
    )


def merged(results, writer, *, contest: bool = True) -> Iterator[int]:
    """Each result merged into its frame of the output (the one overlap rule); yields the frame.
    A population run tracks every cell together (``contest=False``, as in napari)."""
    from ..core.labels import LabelMerger

    merger = LabelMerger()
    for result in results:
        writer.write_frame(result.frame, merger.merge(writer.read_frame(result.frame), result, contest=contest))
        yield result.frame


# -- writing, however the run ends ----------------------------------------------------------------
def freed_memory_returner() -> Callable[[], None]:
    """A function that hands memory freed on the C heap back to the OS (glibc's ``malloc_trim``).

    glibc keeps freed tensor buffers in fragmented heap arenas: without help, a long run's
    memory grows by 1.6-3 MiB per frame although the engine keeps 0.5 MiB. Trimming after
    each frame holds it at 0.21 MiB per frame and costs milliseconds (docs/benchmarks.md).
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


def run_and_write(session_of, writer, settings: StackSettings, *, frames, extra=None, stop=None) -> TrackOutcome:
    """Track (``frames`` writes each finished frame into ``writer`` and yields it); commit the
    TIFF + JSON pair however the run ends. ``session_of()`` is the session, for provenance;
    ``extra`` adds to the sidecar (the lineage, ``replayed``).

    Ctrl-C or SIGTERM (or ``stop()``): finished frames kept, status 130. A file that cannot
    be read mid-run (damaged data): finished frames kept, one line, status 1. The output
    cannot be written (disk full): nothing is left behind, one line, status 1. A bug:
    finished frames kept, then the traceback.
    """
    from ..core.errors import Sam2FileError
    from ..core.provenance import provenance

    done: set[int] = set()
    return_freed_memory = freed_memory_returner()
    status, code, error = "complete", ExitStatus.DONE, None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if stop is None else None
    try:
        for frame in frames:
            done.add(frame)
            return_freed_memory()
            if stop is not None and stop():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        status, code = "interrupted", ExitStatus.INTERRUPTED
    except Sam2FileError as exc:
        if not writer.tmp.exists():
            raise  # the output itself failed: nothing to keep
        status, code, error = f"failed: {exc}", ExitStatus.FAILED, exc
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
    sidecar = provenance(
        session=session,
        settings=sidecar_settings(settings, replayed=bool((extra or {}).pop("replayed", False))),
        frames_done=sorted(done),
        complete=status == "complete",
        status=status,
    )
    sidecar.update({k: v() if callable(v) else v for k, v in (extra or {}).items()})
    writer.commit(sidecar)
    if error is not None:
        raise error
    n = writer.shape[0]
    _report(settings.out, done, n, status)
    return TrackOutcome(code, len(done), n, status)


def sidecar_settings(settings: StackSettings, *, replayed: bool = False) -> dict:
    return {
        **settings.as_sidecar(),
        "replayed": replayed,
        "command": settings.command_line or command_line(),
        "batch_settings_hash": settings.settings_hash,
    }


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _report(out, done: set[int], n: int, status: str) -> None:
    from ..core.ome_zarr import labels_target

    out, target = Path(out), labels_target(out)
    where = f"{out} (+ {out.with_suffix('.json').name})" if target is None else f"{target[0]}/labels/{target[1]}"
    print(f"napari-sam2: {status}: {len(done)}/{n} frames -> {where}", file=sys.stderr)
