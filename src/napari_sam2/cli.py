"""Command line: ``napari-sam2 track | batch | models | download | sample``.

User mistakes print one line on stderr and exit with status 2, leaving no output file.
An interrupted or failed run keeps every finished frame: the label TIFF is written with a
sidecar JSON that says which frames are done (status 130 for Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import cli_batch, cli_population
from .core.errors import Sam2Error, Sam2InputError
from .track_job import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USER_ERROR  # noqa: F401 (the statuses, in one place)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"napari-sam2: error: {message} (see --help)\n")


def add_stack_options(parser) -> list[argparse.Action]:
    """The options of how one stack is tracked, shared by ``track`` and ``batch``; returns them."""
    before = len(parser._actions)
    parser.add_argument(
        "--model",
        help="registry name, hub id, save_pretrained directory, Meta checkpoint (.pt) or random:NAME "
        "(default: sam2.1-tiny)",
    )
    parser.add_argument(
        "--model-config",
        metavar="NAME",
        help="configuration of a .pt checkpoint (sam2.1-tiny, sam2-large, ...); default: inferred from its shapes",
    )
    parser.add_argument("--axis", type=int, help="axis to propagate (default: T or Z from the file, else 0)")
    parser.add_argument("--hold", action="append", metavar="AXIS=INDEX", help="hold another axis at INDEX")
    parser.add_argument("--channel", type=int, action="append", help="channel to use (once, or three times for RGB)")
    parser.add_argument("--direction", choices=("both", "forward", "backward"), help="default: both")
    parser.add_argument("--start", type=int, help="first frame of the passes (default: earliest prompted frame)")
    parser.add_argument("--range", type=int, nargs=2, metavar=("FIRST", "LAST"), help="track only these frames")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda or mps")
    parser.add_argument("--contrast-limits", type=float, nargs=2, metavar=("LO", "HI"), help="intensity mapping")
    parser.add_argument("--roi", type=float, nargs=4, metavar=("Y0", "X0", "Y1", "X1"), help="track inside this box")
    parser.add_argument(
        "--feature-cache",
        nargs="?",
        const="default",
        metavar="DIR",
        help="keep encoded frames on disk (default folder: ~/.cache/napari-sam2/features) so a rerun "
        "on the same stack skips the image encoder; needs zarr",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="bf16 autocast: auto uses it on CUDA only (on CPUs without bf16 instructions it is slower)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: NAPARI_SAM2_THREADS, else every core)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the image encoder and memory attention: a slow start, then faster frames "
        "(for long runs; see docs/benchmarks.md)",
    )
    parser.add_argument(
        "--fill-hole-area",
        type=int,
        metavar="PIXELS",
        help="fill holes up to this area in SAM 2's low-resolution masks, as Meta's predictor does (default 8; 0: off)",
    )
    return parser._actions[before:]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="napari-sam2", description="Segment and track objects through stacks with SAM 2.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    track = sub.add_parser(
        "track",
        help="track prompted objects through a stack and write a label TIFF",
        description="Track prompted objects through INPUT and write LABELS.tif plus LABELS.json (provenance).",
    )
    track.add_argument("input", help="TIFF (ImageJ, OME), .npy or .zarr stack")
    track.add_argument("--prompts", help="CSV object_id,frame,y,x,positive (or napari's Points CSV export)")
    track.add_argument("--boxes", help="CSV object_id,frame,y0,x0,y1,x1")
    track.add_argument("--out", required=True, help="output label TIFF; a .json sidecar is written beside it")
    add_stack_options(track)
    track.add_argument("--overwrite", action="store_true", help="replace an existing output")
    track.add_argument("--quiet", action="store_true", help="no progress bar")
    track.add_argument("--batch-settings-hash", dest="settings_hash", help=argparse.SUPPRESS)
    cli_population.add_options(track)
    track.epilog = (
        "Prompts exported from napari come with PROMPTS_settings.json: its axis, held indices, contrast "
        "limits, region, model, hole filling and boxes file are used for every option not given here."
    )
    cli_batch.add_parser(sub, add_stack_options)
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
    from .track_job import run_track

    return run_track(args).code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "track": _cmd_track,
        "batch": cli_batch.run,
        "models": _cmd_models,
        "download": _cmd_download,
        "sample": _cmd_sample,
    }
    try:
        return handlers[args.command](args)
    except Sam2InputError as exc:
        print(f"napari-sam2: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Sam2Error as exc:  # a file that failed while working, or an unusable installation
        print(f"napari-sam2: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


# -- models, download, sample ---------------------------------------------------------------
def _cmd_models(args: argparse.Namespace) -> int:
    from .core.models import REGISTRY, cache_dir, cached_models

    cached = cached_models()
    print(f"{'name':<18} {'hub id':<34} {'download':>9}  cached   description")
    for info in REGISTRY.values():
        mark = f"{cached[info.hub_id]:.0f} MB" if info.hub_id in cached else "no"
        print(f"{info.name:<18} {info.hub_id:<34} {info.download_mb:>6} MB  {mark:<8} {info.description}")
    print(f"\ncache: {cache_dir()}\nalso accepted: a hub id, a local save_pretrained directory, or random:NAME")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .core.models import download_model

    path = download_model(args.name)
    print(f"napari-sam2: {args.name} is cached at {path}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import tifffile

    from .core import io
    from .core.sample import make_timelapse, make_zstack

    if args.frames < 2 or args.objects < 1:
        raise Sam2InputError("--frames must be at least 2 and --objects at least 1.")
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    make = make_timelapse if args.kind == "timelapse" else make_zstack
    data, prompts = make(args.frames)
    letter = "T" if args.kind == "timelapse" else "Z"
    image, csv = outdir / f"{args.kind}.tif", outdir / f"{args.kind}_prompts.csv"
    tifffile.imwrite(image, data, imagej=True, metadata={"axes": f"{letter}YX"})
    io.write_point_prompts(csv, [p for p in prompts if p.object_id <= args.objects])
    print(f"napari-sam2: wrote {image} {data.shape} {data.dtype} and {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
