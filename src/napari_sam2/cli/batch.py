"""``napari-sam2 batch STACKS --out-dir DIR``: track many stacks on dask.distributed.

STACKS is a manifest CSV (one row per stack) or a glob of inputs whose prompts are found
beside them by name (:mod:`napari_sam2.batch.manifest`). Every ``track`` option that
describes how a stack is tracked applies to all stacks; a manifest column wins over it for
its row. The work happens in :mod:`napari_sam2.batch.runner`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, stack_options: tuple[str, ...], population_options: tuple[str, ...]) -> None:
    """``batch``, with every option of how a stack is tracked (from the settings' fields)."""
    from ..settings import add_arguments

    batch = sub.add_parser(
        "batch",
        help="track many stacks on a dask cluster (this machine by default) with a report",
        description="Track every stack of STACKS (a manifest CSV, or a glob such as 'movies/*.tif' with "
        "X_prompts.csv beside each X.tif) and write the labels, their sidecars and batch-report.csv "
        "into --out-dir. Stacks already done with the same settings are skipped.",
    )
    batch.add_argument(
        "stacks", help="manifest CSV (input,prompts[,boxes][,output][,axis][,hold][,channel][,roi]) or glob"
    )
    batch.add_argument("--out-dir", required=True, type=Path, help="folder of the labels and the report")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask scheduler (tcp://host:8786)")
    where.add_argument("--workers", type=int, help="worker processes on this machine (default: one per GPU, else 1)")
    batch.add_argument(
        "--threads-per-worker", type=int, metavar="T", help="torch CPU threads per worker (default: cores / workers)"
    )
    batch.add_argument("--retries", type=int, default=2, help="attempts after a failure, per stack (default 2)")
    batch.add_argument("--force", action="store_true", help="redo every stack, finished or not")
    batch.add_argument(
        "--connect-timeout", type=float, default=20.0, metavar="S", help="seconds to reach --scheduler (default 20)"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    add_arguments(batch, stack_options)
    add_arguments(batch, population_options, group=batch.add_argument_group("whole population, for every stack"))


def run(args: argparse.Namespace) -> int:
    from ..batch.runner import BatchSettings, run_batch
    from ..core.errors import Sam2InputError
    from ..core.models import DEFAULT_MODEL
    from ..settings import given_options

    if args.workers is not None and args.workers < 1:
        raise Sam2InputError("--workers must be at least 1.")
    if args.retries < 0:
        raise Sam2InputError("--retries must be 0 or more.")
    shared = {k: v for k, v in given_options(args).items() if k != "quiet"}  # batch's own --quiet
    settings = BatchSettings(
        stacks=args.stacks,
        out_dir=args.out_dir,
        shared=shared,
        model=args.model or DEFAULT_MODEL,
        model_config=args.model_config,
        scheduler=args.scheduler,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        retries=args.retries,
        force=args.force,
        connect_timeout=args.connect_timeout,
        seeds=bool(args.seeds),
        quiet=args.quiet,
    )
    return run_batch(settings)
