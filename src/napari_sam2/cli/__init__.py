"""Command line: ``napari-sam2 track | batch | review | models | download | sample``.

A thin wing over the jobs: each command turns its options into a settings value
(:mod:`napari_sam2.settings`, where every option is declared once) and runs the job
(:mod:`napari_sam2.jobs`); the core never sees argparse. User mistakes print one line on
stderr and exit with status 2, leaving no output file. An interrupted or failed run keeps
every finished frame: the label TIFF is written with a sidecar JSON that says which frames
are done (status 130 for Ctrl-C or SIGTERM). The statuses are :class:`~napari_sam2.jobs.ExitStatus`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import Sam2Error, Sam2InputError
from ..jobs import ExitStatus
from ..settings import POPULATION_ONLY, PopulationSettings, TrackSettings, options_of
from . import batch

#: The options of ``track`` in the order --help lists them (the settings' fields, population apart),
#: those a batch gives to every stack, and the population's own.
TRACK_OPTIONS = options_of(TrackSettings, "file", "stack")
STACK_OPTIONS = options_of(TrackSettings, "stack")
POPULATION_OPTIONS = tuple(n for n in options_of(PopulationSettings, "stack") if n in POPULATION_ONLY)
POPULATION_EXPORTS = options_of(PopulationSettings, "export")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(ExitStatus.USER_ERROR, f"napari-sam2: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from ..settings import add_arguments

    parser = _Parser(prog="napari-sam2", description="Segment and track objects through stacks with SAM 2.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    track = sub.add_parser(
        "track",
        help="track prompted objects through a stack and write a label TIFF",
        description="Track prompted objects through INPUT and write LABELS.tif plus LABELS.json (provenance).",
    )
    add_arguments(track, TRACK_OPTIONS)
    group = track.add_argument_group("whole population (seeds instead of, or beside, prompts)")
    add_arguments(track, POPULATION_OPTIONS + POPULATION_EXPORTS, group=group)
    track.epilog = (
        "Prompts exported from napari come with PROMPTS_settings.json: its axis, held indices, contrast "
        "limits, region, model, hole filling and boxes file are used for every option not given here, and "
        "the napari session it records is replayed unless --direction, --start or --range is given."
    )
    batch.add_parser(sub, STACK_OPTIONS, POPULATION_OPTIONS)
    review = sub.add_parser(
        "review",
        help="list the places where a result most likely went wrong",
        description="Rank the likely mistakes of a result (identity switches, merges, lost cells, odd divisions, "
        "...) and print the top ones; --out writes every one as CSV (rank,kind,cell,frame,last_frame,score,reason).",
    )
    review.add_argument("result", help="a label TIFF (its sidecar is used when it is there) or a CTC result folder")
    review.add_argument("--out", help="write every item to this CSV", metavar="REVIEW.csv")
    review.add_argument("--top", type=int, default=20, help="items to print (default 20)", metavar="N")
    sub.add_parser("models", help="list the model registry and what is in the local cache")
    download = sub.add_parser("download", help="download a model into the local cache ahead of time")
    download.add_argument("name", help="registry name or hub id")
    sample = sub.add_parser("sample", help="write a synthetic sample stack with its prompts")
    sample.add_argument("outdir")
    sample.add_argument("--kind", choices=("timelapse", "zstack"), default="timelapse")
    sample.add_argument("--frames", type=int, default=8, help="number of frames or slices")
    sample.add_argument("--objects", type=int, default=2, help="how many objects the prompts file names")
    return parser


def _cmd_track(args: argparse.Namespace) -> int:
    from ..jobs import run_job
    from ..settings import given_options, settings_for

    return run_job(settings_for(given_options(args))).code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "track": _cmd_track,
        "batch": batch.run,
        "review": _cmd_review,
        "models": _cmd_models,
        "download": _cmd_download,
        "sample": _cmd_sample,
    }
    try:
        return int(handlers[args.command](args))
    except Sam2InputError as exc:
        print(f"napari-sam2: error: {exc}", file=sys.stderr)
        return ExitStatus.USER_ERROR
    except Sam2Error as exc:  # a file that failed while working, or an unusable installation
        print(f"napari-sam2: error: {exc}", file=sys.stderr)
        return ExitStatus.FAILED


def _cmd_review(args: argparse.Namespace) -> int:
    from ..jobs.review import run_review

    if args.top < 0:
        raise Sam2InputError("--top must be 0 or more.")
    if args.out:
        from ..core.outputs import same_or_inside

        out = Path(args.out)
        if same_or_inside(out, Path(args.result)) or out.is_dir() or not out.parent.is_dir():
            raise Sam2InputError(f"--out {out}: give a new CSV file in an existing folder, outside the result.")
    run_review(args.result, out=args.out, top=args.top)
    return ExitStatus.DONE


# -- models, download, sample ---------------------------------------------------------------
def _cmd_models(args: argparse.Namespace) -> int:
    from ..core.models import REGISTRY, cache_dir, cached_models

    cached = cached_models()
    print(f"{'name':<18} {'hub id':<34} {'download':>9}  cached   description")
    for info in REGISTRY.values():
        mark = f"{cached[info.hub_id]:.0f} MB" if info.hub_id in cached else "no"
        print(f"{info.name:<18} {info.hub_id:<34} {info.download_mb:>6} MB  {mark:<8} {info.description}")
    print(f"\ncache: {cache_dir()}\nalso accepted: a hub id, a local save_pretrained directory, or random:NAME")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from ..core.models import download_model

    path = download_model(args.name)
    print(f"napari-sam2: {args.name} is cached at {path}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import tifffile

    from ..core import prompt_files
    from ..core.sample import make_timelapse, make_zstack

    if args.frames < 2 or args.objects < 1:
        raise Sam2InputError("--frames must be at least 2 and --objects at least 1.")
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    make = make_timelapse if args.kind == "timelapse" else make_zstack
    data, prompts = make(args.frames)
    letter = "T" if args.kind == "timelapse" else "Z"
    image, csv = outdir / f"{args.kind}.tif", outdir / f"{args.kind}_prompts.csv"
    tifffile.imwrite(image, data, imagej=True, metadata={"axes": f"{letter}YX"})
    prompt_files.write_point_prompts(csv, [p for p in prompts if p.object_id <= args.objects])
    print(f"napari-sam2: wrote {image} {data.shape} {data.dtype} and {csv}")
    return 0
