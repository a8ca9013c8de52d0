"""Track prompted objects through one stack: the body of ``napari-sam2 track`` without
``--seeds``, also run by each task of ``napari-sam2 batch``.

Everything that can be refused is refused before the model loads. Prompts exported from
napari come with their settings, used for every option not given, and with the session's
history, which is replayed (:mod:`.replay`) unless a run of its own is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace

from ..core.errors import Sam2InputError
from ..settings import TrackSettings
from . import replay
from .outcome import TrackOutcome
from .stack import (
    check_common,
    feature_cache_dir,
    frame_source,
    merged,
    open_session,
    read_prompt_files,
    run_and_write,
    with_exported,
)


def run_track(settings: TrackSettings, *, loader=None, stop: Callable[[], bool] | None = None) -> TrackOutcome:
    """Track ``settings.input`` as ``napari-sam2 track`` does.

    ``loader``: a :class:`~napari_sam2.core.models.ModelLoader` that keeps models between
    calls (a batch worker's); default, a new one. ``stop``: when given, checked after every
    frame instead of handling SIGTERM (which only the main thread can).
    """
    from ..core import images, outputs
    from ..core.labels import label_dtype
    from ..core.prompts import apply_prompts

    settings, exported = with_exported(settings)
    check_common(settings)
    disk = feature_cache_dir(settings.feature_cache)
    if not settings.prompts and not settings.boxes:
        raise Sam2InputError("Give prompts with --prompts and/or --boxes, or cells with --seeds.")
    history, settings = replay.history_to_replay(settings, exported)
    settings = replace(settings, direction=settings.direction or "both")
    image = images.read_image(settings.input)
    writer = None
    try:
        source, letter = frame_source(image, settings)
        points, boxes = read_prompt_files(settings, source)
        _validate_run(source, points, boxes, settings)
        ids = [r.object_id for r in [*points, *boxes]] + (replay.history_objects(history) if history else [])
        writer = outputs.labels_writer(
            settings.out, shape=(len(source), *source.full_frame_shape), dtype=label_dtype(max(ids)),
            frame_axis_letter=letter, scale=image.scale, unit=image.unit,
        )  # fmt: skip
        if history is not None:
            written, writer = writer, None  # from here on, run_and_write commits or discards it
            return replay.replay_into(history, image, written, settings, disk=disk, loader=loader, stop=stop)
        session = open_session(source, settings, loader, disk)
        apply_prompts(session, points, boxes)
        written, writer = writer, None
        frames = merged(_with_progress(session, settings), written)
        return run_and_write(lambda: session, written, settings, frames=frames, stop=stop)
    finally:
        if writer is not None:
            writer.discard()
        image.close()


def _validate_run(source, points, boxes, settings: TrackSettings) -> None:
    """Prompts, frame range and start frame against the stack, before any model work."""
    from ..core.passes import plan_passes
    from ..core.prompts import validate_prompts

    validate_prompts(source, points, boxes)
    start = settings.start if settings.start is not None else min(r.frame for r in [*points, *boxes])
    plan_passes(len(source), settings.direction, start=start, frame_range=settings.range)


def _with_progress(session, settings: TrackSettings):
    """The session's results, with a progress bar fed by the session's own count."""
    from tqdm import tqdm

    with tqdm(unit="frame", desc="tracking", file=sys.stderr, disable=settings.quiet) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:  # told before the first frame
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        yield from session.propagate(
            settings.direction, start=settings.start, frame_range=settings.range, progress=progress
        )
