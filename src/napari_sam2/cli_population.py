"""``napari-sam2 track --seeds ...``: track a whole population from seeds, with its lineage.

Seeds come from a label image (``--seeds labels.tif``: one frame, or a stack whose frame
``--seed-frame`` is used), from the threshold seeder (``--seeds threshold``) or from SAM 2
(``--seeds sam``). Every seed becomes an object on the seed frame; objects given with
``--prompts``/``--boxes`` join the population on their earliest prompted frame. Tracking
goes forward from the first of those frames, finds new cells on re-detection frames, ends
cells that are gone and splits dividing ones (:mod:`napari_sam2.core.population`). The
lineage goes into the JSON sidecar, and ``--ctc DIR`` and ``--geff PATH`` export it after
the labels are written.

Everything that can be refused is refused before the model loads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.errors import Sam2InputError


def add_options(track, *, exports: bool = True) -> list:
    """The population options (``exports``: with ``--ctc`` and ``--geff``, which name one
    stack's files); returns them."""
    group = track.add_argument_group("whole population (seeds instead of, or beside, prompts)")
    before = len(group._group_actions)
    group.add_argument(
        "--seeds",
        metavar="LABELS.tif|threshold|sam",
        help="label image of the cells, 'threshold' (bright nuclei) or 'sam' (SAM 2 segments everything)",
    )
    group.add_argument("--seed-frame", type=int, default=0, metavar="F", help="frame the seeds are on (default 0)")
    group.add_argument(
        "--redetect-every", type=int, default=0, metavar="K", help="look for new cells every K frames (0: never)"
    )
    group.add_argument(
        "--redetect-frames",
        type=int,
        nargs="+",
        default=[],
        metavar="F",
        help="also look for new cells on these frames",
    )
    group.add_argument("--divisions", choices=("on", "off"), default="on", help="split dividing cells (default on)")
    shared = group._group_actions[before:]
    if exports:
        group.add_argument(
            "--divide",
            metavar="DIVISIONS.csv",
            help="divisions marked by hand: rows cell,frame,y1,x1,y2,x2 (the cell divides on frame into "
            "daughters at the two points)",
        )
        group.add_argument("--ctc", metavar="DIR", help="also write a Cell Tracking Challenge result folder")
        group.add_argument(
            "--geff", metavar="PATH", help="also write the lineage graph as GEFF (needs the geff package)"
        )
    return list(shared)


@dataclass
class PopulationPlan:
    seeds: dict[int, np.ndarray]
    seed_frame: int
    detect_from: np.ndarray | str | None  # a label stack, "threshold", or None
    first_frame: int  # the run starts here: the seed frame, or an earlier prompted frame
    prompted: tuple[int, ...] = ()  # ids of the objects given with --prompts / --boxes
    divisions: tuple = ()  # (cell, frame, daughters' clicks) from --divide


def check(args, source, prompts=()) -> PopulationPlan | None:
    """The population run asked for, checked against the stack; None without ``--seeds``.

    ``prompts``: the point and box rows of ``--prompts``/``--boxes``; those objects join
    the population, so seed ids must not collide with theirs.
    """
    if not args.seeds:
        for option in ("ctc", "geff", "divide"):
            if getattr(args, option):
                raise Sam2InputError(f"--{option} exports a population: give --seeds too.")
        return None
    if args.direction not in (None, "forward") or args.start is not None or args.range:
        raise Sam2InputError(
            "A population run goes forward from --seed-frame to the end; leave out --direction, --start and --range."
        )
    n = len(source)
    if not 0 <= args.seed_frame < n:
        raise Sam2InputError(f"--seed-frame {args.seed_frame} does not exist; the stack has frames 0 to {n - 1}.")
    if args.redetect_every < 0:
        raise Sam2InputError("--redetect-every must be 0 (off) or a number of frames.")
    outside = [f for f in args.redetect_frames if not args.seed_frame < f < n]
    if outside:
        raise Sam2InputError(
            f"--redetect-frames {outside[0]} is not after the seed frame {args.seed_frame} and in the stack."
        )
    _check_export_paths(args)
    prompted = tuple(sorted({int(row.object_id) for row in prompts}))
    first = min([args.seed_frame, *(int(row.frame) for row in prompts)])
    divisions = read_divisions(args.divide, source, first) if getattr(args, "divide", None) else ()
    detect_from: np.ndarray | str | None
    if args.seeds == "sam":  # found once the model is loaded, numbered above the prompted ids
        return PopulationPlan({}, args.seed_frame, "sam", first, prompted, divisions)
    if args.seeds == "threshold":
        from .core.seeders import full_frame_grayscale, threshold_seeds

        seeds = threshold_seeds(full_frame_grayscale(source, args.seed_frame), first_id=max(prompted, default=0) + 1)
        detect_from = "threshold"
        if not seeds:
            raise Sam2InputError(f"The threshold seeder found no cell on frame {args.seed_frame}.")
    else:
        stack = _read_labels(args.seeds, source)
        from .core.seeders import seeds_from_labels

        frame = stack[args.seed_frame] if stack.ndim == 3 else stack
        seeds = seeds_from_labels(frame, frame_shape=source.full_frame_shape)
        detect_from = stack if stack.ndim == 3 else None
        taken = sorted(set(seeds) & set(prompted))
        if taken:
            raise Sam2InputError(
                f"--seeds {args.seeds} uses ids {taken[:5]} that --prompts/--boxes give to other objects; "
                "renumber one of them."
            )
    return PopulationPlan(seeds, args.seed_frame, detect_from, first, prompted, divisions)


def read_divisions(path: str, source, first: int) -> tuple:
    """``--divide``: rows ``cell,frame,y1,x1,y2,x2``, checked against the stack."""
    import csv

    from .core.session import Point

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


def _check_export_paths(args) -> None:
    for option in ("ctc", "geff"):
        path = getattr(args, option)
        if path is None:
            continue
        path = Path(path)
        if path.exists() and not (option == "geff" and args.overwrite):
            raise Sam2InputError(f"--{option} {path} exists already; choose a new name.")
        if not path.parent.is_dir():
            raise Sam2InputError(f"--{option}: the folder {path.parent} does not exist.")
        for given in (args.input, args.seeds):
            if given and Path(given).exists() and path.exists() and path.samefile(given):
                raise Sam2InputError(f"--{option} {path} is an input; choose a new name.")
    if args.geff:
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


def tracker_for(session, plan: PopulationPlan, args):
    from .core.population import PopulationOptions, PopulationTracker
    from .core.seeders import label_detector, threshold_detector

    detect = None
    if isinstance(plan.detect_from, np.ndarray):
        stack = plan.detect_from

        def detect(frame: int) -> np.ndarray:
            return stack[frame]

    elif plan.detect_from == "sam":
        from .core.everything import segment_everything
        from .core.seeders import renumbered

        plan.seeds = renumbered(segment_everything(session, plan.seed_frame), max(plan.prompted, default=0) + 1)
        if not plan.seeds:
            raise Sam2InputError(f"SAM 2 found no cell on frame {plan.seed_frame} (--seeds sam).")

        detect = label_detector(lambda frame: segment_everything(session, frame), session.source.full_frame_shape)

    elif plan.detect_from == "threshold":
        detect = threshold_detector(session.source)

    options = PopulationOptions(
        redetect_every=args.redetect_every,
        redetect_frames=tuple(args.redetect_frames),
        divisions=args.divisions == "on",
    )
    redetects = args.redetect_every or args.redetect_frames
    tracker = PopulationTracker(session, detect=detect if redetects else None, options=options)
    for cell, frame, daughters in plan.divisions:
        tracker.add_division(cell, frame, daughters)
    return tracker


def results(session, plan: PopulationPlan, tracker, args):
    """Every frame from the first seeded or prompted one to the end, with a progress bar."""
    from tqdm import tqdm

    n = len(session.source)
    tracker.add_seeds(plan.seed_frame, plan.seeds)
    tracker.add_prompted(plan.prompted)
    with tqdm(total=n - plan.first_frame, unit="frame", desc="tracking", file=sys.stderr, disable=args.quiet) as bar:
        for result in tracker.run(plan.first_frame):
            yield result
            bar.update(1)


def export(out: Path, tracker, args, image_scale: dict, frame_letter: str) -> None:
    """CTC and GEFF from the written labels (called once the TIFF + JSON are committed)."""
    import tifffile

    for cell, frame in tracker.skipped_divisions:
        print(f"napari-sam2: --divide: cell {cell} is not tracked on frame {frame}; skipped.", file=sys.stderr)
    if not (args.ctc or args.geff):
        return
    scale = tuple(float(image_scale.get(k, 1.0)) for k in (frame_letter, "Y", "X"))
    labels = tifffile.imread(out)
    if args.ctc:
        from .core.ctc import write_ctc

        write_ctc(args.ctc, labels, tracker.lineage)
    if args.geff:
        from .core.geff_export import write_geff

        write_geff(args.geff, labels, tracker.lineage, scale=scale, overwrite=args.overwrite)
