"""The client side of ``napari-sam2 batch``: the cluster, the tasks, progress, the report.

1. The stacks are read and checked (:mod:`.manifest`); a stack whose labels exist with
   ``"complete": true`` and the same settings fingerprint is skipped (``--force`` redoes it).
2. The model is made ready once, here: a hub model is downloaded into the cache if it is
   not there (workers of a local cluster then read it offline), a Meta checkpoint is
   converted into its cache. Workers never download unless their own cache is empty.
3. The cluster is a ``LocalCluster`` (``--workers`` processes, one stack at a time each),
   or the scheduler at ``--scheduler`` (reached within ``--connect-timeout`` seconds).
4. One task per stack, retried up to ``--retries`` times (not for a user error); a worker
   that dies mid-stack has its task rescheduled by dask.
5. Ctrl-C or SIGTERM: running stacks stop after their current frame and keep what they
   have, stacks not started are cancelled, the report is written, and a cluster started
   here is shut down.

The report, ``OUT_DIR/batch-report.csv``, has one line per stack. The exit status is 0
when every stack is done or skipped, 2 when some failed for a user error only, 1 for any
other failure, 130 when interrupted.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import signal
import sys
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import ModelUnavailableError, Sam2InputError
from ..jobs.outcome import ExitStatus
from .manifest import Row, fingerprint, read_stacks

REPORT = "batch-report.csv"
REPORT_COLUMNS = (
    "row", "input", "output", "status", "error", "frames_done", "frames", "review_items", "wall_s", "worker",
)  # fmt: skip
STOP_GRACE_S = 120  # after Ctrl-C, how long running stacks get to commit their frames


@dataclass
class BatchSettings:
    """What ``napari-sam2 batch`` was asked, beside the track options for every stack."""

    stacks: str
    out_dir: Path
    shared: dict  # track options for every stack, as settings fields (napari_sam2.settings)
    model: str
    model_config: str | None
    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    retries: int = 2
    force: bool = False
    connect_timeout: float = 20.0
    seeds: bool = False
    quiet: bool = False


def run_batch(settings: BatchSettings) -> int:
    """Run the batch; returns the exit status (see the module docstring)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise Sam2InputError("napari-sam2 batch needs dask.distributed: pip install 'napari-sam2[batch]'.") from None
    if not settings.out_dir.is_dir():
        raise Sam2InputError(f"--out-dir {settings.out_dir} does not exist; create it first.")
    rows = read_stacks(settings.stacks, settings.out_dir, seeds_given=settings.seeds)
    records = {row.number: _record(row) for row in rows}
    todo = []
    for row in rows:
        try:
            stack = row.settings(settings.shared)
        except Sam2InputError as exc:  # a column that cannot be what its option takes
            row.problem = row.problem or f"Row {row.number}: {exc}"
            stack = None
        settings_hash = fingerprint(stack, row) if stack is not None else ""
        sidecar = _sidecar(row.output)
        if row.problem:
            records[row.number].update(status="failed", error=row.problem, kind="user")
        elif row.output.exists() and sidecar is None:  # never replaced, not even with --force
            records[row.number].update(
                status="failed", kind="user", error=f"{row.output} exists and was not written by napari-sam2."
            )
        elif not settings.force and _finished(sidecar, settings_hash):
            records[row.number].update(status="skipped", error="done earlier with the same settings")
        else:
            todo.append((row, replace(stack, settings_hash=settings_hash, command_line=_command(stack))))
    if todo:
        _prepare_model(settings)
        interrupted = _run_on_cluster(settings, todo, records)
    else:
        interrupted = False
    write_report(settings.out_dir / REPORT, rows, records)
    return _summary(records, settings, interrupted)


def _command(stack) -> str:
    """The ``napari-sam2 track`` command that tracks this stack alone, for the sidecar."""
    options = [f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, tuple) else v}"
               for k, v in sorted(stack.as_sidecar().items()) if k in {f for f in stack.given} - {"input"}]  # fmt: skip
    return " ".join(["napari-sam2 track", str(stack.input), *options])


def _record(row: Row) -> dict:
    return {
        "row": row.number,
        "input": str(row.input),
        "output": str(row.output),
        "status": "pending",
        "error": "",
        "kind": "",
        "frames_done": "",
        "frames": "",
        "review_items": "",
        "wall_s": "",
        "worker": "",
    }


def _sidecar(output: Path) -> dict | None:
    """The JSON napari-sam2 wrote beside ``output`` (None: no output, or not ours)."""
    from ..core.outputs import read_sidecar

    if not output.exists():
        return None
    try:
        return read_sidecar(output)
    except Sam2InputError:
        return None


def _finished(sidecar: dict | None, settings_hash: str) -> bool:
    if sidecar is None:
        return False
    return sidecar.get("complete") is True and sidecar.get("settings", {}).get("batch_settings_hash") == settings_hash


def _prepare_model(settings: BatchSettings) -> None:
    """Download or convert the model once, here, before any worker needs it."""
    from ..core.models import fetch_from_hub, resolve_spec

    kind, target = resolve_spec(settings.model)
    if kind == "hub":
        try:
            fetch_from_hub(target, progress=not settings.quiet)
        except ModelUnavailableError:
            if not settings.scheduler:
                raise
            # Workers elsewhere have their own cache (or network): they may still find it.
            print(f"napari-sam2: {target} is not in this machine's cache; the workers look in theirs.", file=sys.stderr)
    elif kind == "checkpoint":
        from ..core.models.checkpoints import convert_checkpoint

        convert_checkpoint(target, model_config=settings.model_config)
    elif kind == "local" and not Path(target).is_dir():
        raise Sam2InputError(f"--model {target} is not a folder written by save_pretrained.")


# -- the cluster --------------------------------------------------------------------------------
def _client(settings: BatchSettings):
    """A client of the scheduler at ``--scheduler``, or of a new LocalCluster (closed with it)."""
    from distributed import Client, LocalCluster

    if settings.scheduler:
        try:
            return Client(settings.scheduler, timeout=settings.connect_timeout), None
        except (OSError, TimeoutError) as exc:
            raise Sam2InputError(
                f"Cannot reach the dask scheduler at {settings.scheduler} within {settings.connect_timeout:g} s "
                f"({type(exc).__name__}); check the address and that the scheduler is running."
            ) from None
    gpus = _gpu_count()
    workers = settings.workers or max(gpus, 1)
    threads = settings.threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
    env = {"HF_HUB_OFFLINE": "1", "NAPARI_SAM2_THREADS": str(threads)}  # the model is cached (see _prepare_model)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # one stack at a time per worker: a session shadows model methods
        processes=True,
        dashboard_address=":0" if _has_dashboard() else None,
        silence_logs=logging.ERROR,
        env=env,
    )
    return Client(cluster), cluster


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no usable torch here: CPU workers
        return 0


def _dashboard_link(client) -> str | None:
    try:
        return client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None
    except Exception:  # an older or remote scheduler that does not say: no link is printed
        return None


def _has_dashboard() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def _run_on_cluster(settings: BatchSettings, todo: list, records: dict) -> bool:
    """Submit every stack and collect the records; returns whether the batch was interrupted."""
    from distributed import Event

    from .tasks import ModelCache, track_stack

    client, cluster = _client(settings)
    in_main = threading.current_thread() is threading.main_thread()  # only it can take signals
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    futures: dict = {}
    interrupted = False
    try:
        link = _dashboard_link(client)
        if link and not settings.quiet:
            print(f"napari-sam2: dask dashboard at {link}", file=sys.stderr)
        threads = settings.threads_per_worker
        local = cluster is not None
        client.register_plugin(ModelCache(threads, _gpu_count() if local else 0, local=local))
        stop = Event(f"napari-sam2-stop-{uuid.uuid4().hex}", client=client)
        for row, stack in todo:
            future = client.submit(
                track_stack, row.number, stack, stop.name, key=f"stack-{row.number}-{uuid.uuid4().hex[:8]}",
                retries=settings.retries, pure=False,
            )  # fmt: skip
            futures[future] = row
            records[row.number]["status"] = "queued"
        try:
            _collect(client, futures, records, settings)
        except KeyboardInterrupt:
            interrupted = True
            _stop(client, stop, futures, records, settings)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        client.close()
        if cluster is not None:
            cluster.close()
    return interrupted


def _collect(client, futures: dict, records: dict, settings: BatchSettings) -> None:
    from distributed import as_completed
    from tqdm import tqdm

    counts = {"done": 0, "failed": 0}
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    with tqdm(total=len(futures), unit="stack", desc="batch", file=sys.stderr, disable=settings.quiet) as bar:
        bar.set_postfix(done=0, failed=0, running=min(workers, len(futures)))
        for future in as_completed(list(futures)):
            _take(future, futures[future], records)
            status = records[futures[future].number]["status"]
            counts["done" if status == "done" else "failed"] += 1
            running = min(workers, sum(1 for f in futures if f.status == "pending"))
            bar.set_postfix(done=counts["done"], failed=counts["failed"], running=running, refresh=False)
            bar.update(1)


def _take(future, row: Row, records: dict) -> None:
    """The record of a finished task; a task that raised (after its retries) failed."""
    record = records[row.number]
    if future.status == "finished":
        result = future.result()
        record.update({k: v for k, v in result.items() if k in record})
        return
    if future.status == "cancelled":
        record.update(status="not started", error="the batch was stopped before this stack started")
        return
    error = future.exception()
    record.update(status="failed", kind="other", error=_one_line(error))


def _stop(client, stop, futures: dict, records: dict, settings: BatchSettings) -> None:
    """Ctrl-C: running stacks commit their frames, the others are cancelled."""
    from distributed import wait

    if not settings.quiet:
        print("\nnapari-sam2: stopping: running stacks keep their finished frames …", file=sys.stderr)
    stop.set()
    processing = {key for keys in client.processing().values() for key in keys}
    waiting = [f for f in futures if f.key not in processing and not f.done()]
    for future in waiting:
        future.cancel()
    running = [f for f in futures if f not in waiting]
    try:
        wait(running, timeout=STOP_GRACE_S)
    except TimeoutError:
        pass  # those still running are reported as such, and the cluster is closed
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting; unfinished frames are lost
        pass
    for future, row in futures.items():
        if future.done():
            _take(future, row, records)
        else:
            records[row.number].update(status="interrupted", error="still running when the batch stopped")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _one_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = str(error).strip().splitlines()
    name = type(error).__name__
    if name == "KilledWorker":
        return "the stack's worker died on every attempt (out of memory?)"
    return f"{name}: {text[0]}" if text else name


# -- the report ---------------------------------------------------------------------------------
def write_report(path: Path, rows: list[Row], records: dict) -> None:
    """``batch-report.csv``: one line per stack, written atomically."""
    from ..core.outputs import atomic_write_text

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=REPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(records[row.number])
    atomic_write_text(path, text.getvalue())


def _summary(records: dict, settings: BatchSettings, interrupted: bool) -> int:
    statuses = [r["status"] for r in records.values()]
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    text = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"napari-sam2: batch: {text} -> {settings.out_dir / REPORT}", file=sys.stderr)
    failed = [r for r in records.values() if r["status"] in ("failed", "interrupted", "not started")]
    for record in failed[:5]:
        print(f"  row {record['row']} ({Path(record['input']).name}): {record['error']}", file=sys.stderr)
    if interrupted:
        return ExitStatus.INTERRUPTED
    if any(r["status"] == "failed" and r["kind"] != "user" for r in records.values()):
        return ExitStatus.FAILED
    return ExitStatus.USER_ERROR if failed else ExitStatus.DONE
