"""Replaying a napari session exported with its prompts (:mod:`napari_sam2.core.history`).

``track`` replays the history when the export has one and the user asked for no run of
their own (no ``--direction``, ``--start`` or ``--range``): each segment of the history gets a
session with its own settings (contrast, region, model), and the labels come out as napari
wrote them. The output's axis and held indices are the first segment's; a history that
changed them part-way is refused in one line.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from ..core.errors import Sam2InputError
from ..settings import TrackSettings
from .stack import frame_source, open_session, run_and_write


def history_to_replay(settings: TrackSettings, exported: dict):
    """The history to replay (or None) and the settings of the output; checked before the
    model loads."""
    from ..core import prompt_files
    from ..core.history import SessionHistory

    if not exported.get("history"):
        return None, settings
    if settings.asks_for_a_run:
        if not settings.quiet:
            asked = ", ".join(f"--{k}" for k in ("direction", "start", "range") if getattr(settings, k) is not None)
            print(f"napari-sam2: {asked} given: tracking the prompts as asked, not as napari ran them", file=sys.stderr)
        return None, settings
    masks = prompt_files.read_history_masks(exported["masks"]) if exported.get("masks") else []
    history = SessionHistory.from_dict(exported["history"], masks)
    first = history.settings[0]
    for segment in history.settings[1:]:
        if (segment.get("axis"), segment.get("hold")) != (first.get("axis"), first.get("hold")):
            raise Sam2InputError(
                "The napari session changed the propagated axis or the held slices part-way; track replays "
                "one axis at one place: export again after tracking along one axis."
            )
    if history.unreplayable and not settings.quiet:
        print(
            f"napari-sam2: the napari labels also hold {' and '.join(history.unreplayable)}, which this "
            "replay cannot repeat",
            file=sys.stderr,
        )
    return history, _segment_settings(settings, first)


def _segment_settings(settings: TrackSettings, segment: dict) -> TrackSettings:
    """The settings a segment of the history was tracked with (the model the user gave wins)."""
    model = settings.model if "model" in settings.given else segment.get("model") or settings.model
    roi, contrast = segment.get("roi"), segment.get("contrast_limits")
    return replace(
        settings,
        axis=segment.get("axis"),
        hold=tuple(segment.get("hold") or ()),
        contrast_limits=tuple(contrast) if contrast else None,
        roi=tuple(roi) if roi else None,
        fill_hole_area=int(segment.get("fill_hole_area", settings.fill_hole_area)),
        model=model,
    )


def history_objects(history) -> list[int]:
    ids = [int(getattr(step, "object", 0) or 0) for step in history.steps]
    return ids + [o for step in history.steps for o in getattr(step, "objects", [])]


def replay_into(history, image, writer, settings: TrackSettings, *, disk=None, loader=None, stop=None):
    """Replay the napari session into ``writer``, segment by segment."""
    from ..core.history import replay

    opened: list = []

    def open_segment(segment: dict):
        source, _ = frame_source(image, _segment_settings(settings, segment))
        opened.append(open_session(source, _segment_settings(settings, segment), loader, disk))
        return opened[-1]

    if not settings.quiet:
        print(f"napari-sam2: replaying the napari session ({len(history.steps)} steps) exported with the prompts",
              file=sys.stderr)  # fmt: skip
    n = writer.shape[0]
    frames = replay(history, open_session=open_segment, labels=writer, n_frames=n)
    return run_and_write(lambda: opened[-1] if opened else None, writer, settings, frames=frames,
                         extra={"replayed": True}, stop=stop)  # fmt: skip
