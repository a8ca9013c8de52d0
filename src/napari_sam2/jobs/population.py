"""Track a whole population from seeds, with its lineage: ``napari-sam2 track --seeds``.

Seeds come from a label image (``--seeds labels.tif``: one frame, or a stack whose frame
``--seed-frame`` is used), from the threshold seeder (``--seeds threshold``) or from SAM 2
(``--seeds sam``). Every seed becomes an object on the seed frame; objects given with
``--prompts``/``--boxes`` join the population on their earliest prompted frame. Tracking
goes forward from the first of those frames, finds new cells on re-detection frames, ends
cells that are gone and splits dividing ones (:mod:`napari_sam2.core.population`). The
lineage goes into the JSON sidecar, and ``--ctc DIR`` and ``--geff PATH`` export it after
the labels are written, reading them back frame by frame.

Everything that can be refused is refused before the model loads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import Sam2InputError
from ..settings import PopulationSettings
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


@dataclass
class PopulationPlan:
    seeds: dict[int, np.ndarray]
    seed_frame: int
    detect_from: np.ndarray | str | None  # a label stack, "threshold", "sam", or None
    first_frame: int  # the run starts here: the seed frame, or an earlier prompted frame
    prompted: tuple[int, ...] = ()  # ids of the objects given with --prompts / --boxes
    divisions: tuple = ()  # (cell, frame, daughters' clicks) from --divide


def run_population(
    settings: PopulationSettings, *, loader=None, stop: Callable[[], bool] | None = None
) -> TrackOutcome:
    """Seed, track and write a population as ``napari-sam2 track --seeds`` does."""
    from ..core import images, outputs
    from ..core.labels import label_dtype
    from ..core.prompts import apply_prompts, validate_prompts

    settings, _ = with_exported(settings)
    out = check_common(settings)
    disk = feature_cache_dir(settings.feature_cache)
    image = images.read_image(settings.input)
    writer = None
    try:
        source, letter = frame_source(image, settings)
        points, boxes = read_prompt_files(settings, source)
        plan = check(settings, source, [*points, *boxes])
        if points or boxes:
            validate_prompts(source, points, boxes)
        ids = [r.object_id for r in [*points, *boxes]] + [*plan.seeds, 2**16 - 1]  # room for cells found later
        writer = outputs.labels_writer(
            out, shape=(len(source), *source.full_frame_shape), dtype=label_dtype(max(ids)),
            frame_axis_letter=letter, scale=image.scale, unit=image.unit,
        )  # fmt: skip
        session = open_session(source, settings, loader, disk)
        apply_prompts(session, points, boxes)
        tracker = tracker_for(session, plan, settings)  # may find no seed
        written, writer = writer, None  # from here on, run_and_write commits or discards it
        frames = merged(results(session, plan, tracker, settings), written, contest=False)
        extra = {"lineage": lambda: tracker.lineage.as_dict()}  # as it is once the run ends
        outcome = run_and_write(lambda: session, written, settings, frames=frames, extra=extra, stop=stop)
        export(out, tracker, settings, image.scale, letter)
        return outcome
    finally:
        if writer is not None:
            writer.discard()
        image.close()


def check(settings: PopulationSettings, source, prompts=()) -> PopulationPlan:
    """The population run asked for, checked against the stack.

    ``prompts``: the point and box rows of ``--prompts``/``--boxes``; those objects join
    the population, so seed ids must not collide with theirs.
    """
    n = len(source)
    if not 0 <= settings.seed_frame < n:
        raise Sam2InputError(f"--seed-frame {settings.seed_frame} does not exist; the stack has frames 0 to {n - 1}.")
    if settings.redetect_every < 0:
        raise Sam2InputError("--redetect-every must be 0 (off) or a number of frames.")
    from ..core.population import check_redetect_frames

    check_redetect_frames(settings.redetect_frames, settings.seed_frame, n, name="--redetect-frames")
    _check_export_paths(settings)
    prompted = tuple(sorted({int(row.object_id) for row in prompts}))
    first = min([settings.seed_frame, *(int(row.frame) for row in prompts)])
    divisions = read_divisions(settings.divide, source, first) if settings.divide else ()
    if settings.seeds == "sam":  # found once the model is loaded, numbered above the prompted ids
        return PopulationPlan({}, settings.seed_frame, "sam", first, prompted, divisions)
    if settings.seeds == "threshold":
        from ..core.seeders import full_frame_grayscale, threshold_seeds

        frame = full_frame_grayscale(source, settings.seed_frame)
        seeds = threshold_seeds(frame, first_id=max(prompted, default=0) + 1)
        if not seeds:
            raise Sam2InputError(f"The threshold seeder found no cell on frame {settings.seed_frame}.")
        return PopulationPlan(seeds, settings.seed_frame, "threshold", first, prompted, divisions)
    from ..core.seeders import seeds_from_labels

    stack = _read_labels(settings.seeds, source)
    frame = stack[settings.seed_frame] if stack.ndim == 3 else stack
    seeds = seeds_from_labels(frame, frame_shape=source.full_frame_shape)
    taken = sorted(set(seeds) & set(prompted))
    if taken:
        raise Sam2InputError(
            f"--seeds {settings.seeds} uses ids {taken[:5]} that --prompts/--boxes give to other objects; "
            "renumber one of them."
        )
    return PopulationPlan(seeds, settings.seed_frame, stack if stack.ndim == 3 else None, first, prompted, divisions)


def read_divisions(path: str, source, first: int) -> tuple:
    """``--divide``: rows ``cell,frame,y1,x1,y2,x2``, checked against the stack."""
    import csv

    from ..core.prompts import Point

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise Sam2InputError(f"--divide {path}: cannot read it ({exc.strerror or exc}).") from None
    divisions, n = [], len(source)
    for number, row in enumerate(rows, start=2):  # line numbers, after the header
        try:
            cell, frame = int(row["cell"]), int(row["frame"])
            clicks = [(float(row["y1"]), float(row["x1"])), (float(row["y2"]), float(row["x2"]))]
        except (KeyError, TypeError, ValueError):
            raise Sam2InputError(
                f"--divide {path}, line {number}: expected columns cell,frame,y1,x1,y2,x2 with numbers."
            ) from None
        if not first < frame < n:
            raise Sam2InputError(
                f"--divide {path}, line {number}: frame {frame} is not after the run's first frame {first} "
                f"and in the stack (frames 0 to {n - 1})."
            )
        for y, x in clicks:
            source.to_roi_xy(y, x, f"--divide {path}, line {number}: a daughter")
        divisions.append((cell, frame, ([Point(*clicks[0])], [Point(*clicks[1])])))
    if not divisions:
        raise Sam2InputError(f"--divide {path} lists no division.")
    return tuple(divisions)


def _check_export_paths(settings: PopulationSettings) -> None:
    for option in ("ctc", "geff"):
        path = getattr(settings, option)
        if path is None:
            continue
        path = Path(path)
        if path.exists() and not (option == "geff" and settings.overwrite):
            raise Sam2InputError(f"--{option} {path} exists already; choose a new name.")
        if not path.parent.is_dir():
            raise Sam2InputError(f"--{option}: the folder {path.parent} does not exist.")
        for given in (settings.input, settings.seeds):
            if given and Path(given).exists() and path.exists() and path.samefile(given):
                raise Sam2InputError(f"--{option} {path} is an input; choose a new name.")
    if settings.geff:
        try:
            import geff  # noqa: F401
        except ImportError:
            raise Sam2InputError("--geff needs the geff package: pip install 'napari-sam2[geff]'.") from None


def _read_labels(path: str, source) -> np.ndarray:
    import tifffile

    try:
        labels = tifffile.imread(path)
    except (OSError, ValueError) as exc:
        raise Sam2InputError(f"--seeds {path}: cannot read it as a TIFF label image ({exc}).") from None
    if not np.issubdtype(labels.dtype, np.integer):
        raise Sam2InputError(f"--seeds {path} holds {labels.dtype} values; a label image holds whole numbers.")
    if labels.ndim == 3 and labels.shape[0] != len(source):
        raise Sam2InputError(f"--seeds {path} has {labels.shape[0]} frames, the input {len(source)}.")
    if labels.ndim not in (2, 3) or labels.shape[-2:] != tuple(source.full_frame_shape):
        h, w = source.full_frame_shape
        raise Sam2InputError(f"--seeds {path} has shape {labels.shape}; expected {h}x{w} or {len(source)}x{h}x{w}.")
    return labels


def tracker_for(session, plan: PopulationPlan, settings: PopulationSettings):
    """The population tracker of ``plan``: seeds (SAM 2's found now), re-detection, divisions."""
    from ..core.population import PopulationOptions, PopulationTracker
    from ..core.seeders import threshold_detector

    detect = None
    if isinstance(plan.detect_from, np.ndarray):
        stack = plan.detect_from

        def detect(frame: int) -> np.ndarray:
            return stack[frame]

    elif plan.detect_from == "sam":
        from ..core.everything import everything_detector, segment_everything
        from ..core.seeders import renumbered

        plan.seeds = renumbered(segment_everything(session, plan.seed_frame), max(plan.prompted, default=0) + 1)
        if not plan.seeds:
            raise Sam2InputError(f"SAM 2 found no cell on frame {plan.seed_frame} (--seeds sam).")
        detect = everything_detector(session)
    elif plan.detect_from == "threshold":
        detect = threshold_detector(session.source)
    options = PopulationOptions(
        redetect_every=settings.redetect_every,
        redetect_frames=tuple(settings.redetect_frames),
        divisions=settings.divisions == "on",
    )
    redetects = settings.redetect_every or settings.redetect_frames
    tracker = PopulationTracker(session, detect=detect if redetects else None, options=options)
    for cell, frame, daughters in plan.divisions:
        tracker.add_division(cell, frame, daughters)
    return tracker


def results(session, plan: PopulationPlan, tracker, settings: PopulationSettings):
    """Every frame from the first seeded or prompted one to the end, with a progress bar."""
    from tqdm import tqdm

    n = len(session.source)
    tracker.add_seeds(plan.seed_frame, plan.seeds)
    tracker.add_prompted(plan.prompted)
    with tqdm(total=n - plan.first_frame, unit="frame", desc="tracking", file=sys.stderr,
              disable=settings.quiet) as bar:  # fmt: skip
        for result in tracker.run(plan.first_frame):
            yield result
            bar.update(1)


def export(out: Path, tracker, settings: PopulationSettings, image_scale: dict, frame_letter: str) -> None:
    """CTC and GEFF from the written labels (called once the TIFF + JSON are committed)."""
    for cell, frame in tracker.skipped_divisions:
        print(f"napari-sam2: --divide: cell {cell} is not tracked on frame {frame}; skipped.", file=sys.stderr)
    if not (settings.ctc or settings.geff):
        return
    from ..core.label_frames import open_label_frames

    scale = tuple(float(image_scale.get(k, 1.0)) for k in (frame_letter, "Y", "X"))
    with open_label_frames(out) as labels:  # the label file itself, one frame at a time
        if settings.ctc:
            from ..core.ctc import write_ctc

            write_ctc(settings.ctc, labels, tracker.lineage)
        if settings.geff:
            from ..core.geff_export import write_geff
            from ..core.ome_zarr import labels_array

            write_geff(
                settings.geff,
                labels,
                tracker.lineage,
                scale=scale,
                overwrite=settings.overwrite,
                segmentation=labels_array(out),
            )
