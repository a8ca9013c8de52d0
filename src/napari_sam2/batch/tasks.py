"""What runs on a dask worker: one model per worker process, one stack per task.

* :class:`ModelCache` is a worker plugin. Each worker process builds one
  :class:`~napari_sam2.core.models.ModelLoader` when it starts; every stack the worker runs
  loads its model through it, so the model is loaded once per worker, not once per stack.
  Tasks carry paths and settings, never the model.
* :func:`track_stack` runs ``napari-sam2 track``'s own job on one stack, from its settings
  (:func:`~napari_sam2.jobs.run_job`), and returns a plain record for the report. A
  user error is returned as a failed record, so dask does not retry it; any other failure
  raises, and dask retries the task a bounded number of times. A worker that dies mid-stack
  loses nothing: the stack's partial output belongs to no one once its process is gone, and
  the task rescheduled elsewhere removes it and starts the stack again.
* A batch's stop is a ``distributed.Event``: the client sets it on Ctrl-C, and each task
  stops after its current frame, committing the frames it has (``"complete": false``).
"""

from __future__ import annotations

import contextlib
import io
import signal
import time

from distributed import WorkerPlugin

PLUGIN_NAME = "napari-sam2-models"
STOP_POLL_S = 0.5  # how often a task asks whether the batch was stopped


class ModelCache(WorkerPlugin):
    """One model loader per worker process; CPU threads and the GPU it uses set once.

    ``local``: the workers are this machine's, started by the batch. They then ignore
    SIGINT: a Ctrl-C in the terminal reaches every process of the batch, and the client,
    not each worker, decides how the batch stops (each stack commits its frames first).
    """

    name = PLUGIN_NAME

    def __init__(self, torch_threads: int | None = None, gpus: int = 0, local: bool = False) -> None:
        self.torch_threads, self.gpus, self.local = torch_threads, gpus, local
        self.loader = None

    def setup(self, worker) -> None:
        from ..core.models import ModelLoader, set_torch_threads

        if self.local:
            with contextlib.suppress(ValueError):  # not the process's main thread: nothing to do
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        set_torch_threads(self.torch_threads)
        if self.gpus:  # workers named 0, 1, ... on a LocalCluster: one GPU each
            import torch

            with contextlib.suppress(ValueError, TypeError):
                torch.cuda.set_device(int(worker.name) % self.gpus)
        self.loader = ModelLoader()


def _loader():
    from distributed import get_worker

    plugin = get_worker().plugins.get(PLUGIN_NAME)
    return plugin.loader if plugin is not None else None


def _stopper(event_name: str | None):
    """``stop()`` for the track job: has the client set the batch's stop event?"""
    if event_name is None:
        return None
    from distributed import Event

    event, last = Event(event_name), [-STOP_POLL_S, False]

    def stop() -> bool:
        now = time.monotonic()
        if now - last[0] >= STOP_POLL_S:
            last[0], last[1] = now, event.is_set()
        return last[1]

    return stop


def track_stack(number: int, settings, stop_event: str | None = None) -> dict:
    """Track one stack (``settings``: its :mod:`napari_sam2.settings` value); a record for the report."""
    from distributed import get_worker

    from ..core.errors import Sam2InputError
    from ..jobs import ExitStatus, run_job

    record = {"row": number, "worker": get_worker().name, "frames_done": 0, "frames": "", "error": ""}
    started = time.monotonic()
    stop = _stopper(stop_event)
    if stop is not None and stop():  # queued on this worker when the batch was stopped
        return {**record, "status": "not started", "kind": "", "error": "the batch was stopped first", "wall_s": 0}
    quiet = io.StringIO()  # the job's own summary line; the client reports instead
    try:
        with contextlib.redirect_stderr(quiet):
            outcome = run_job(settings, loader=_loader(), stop=stop)
    except Sam2InputError as exc:  # the user's mistake: failing again would not help
        return {**record, "status": "failed", "kind": "user", "error": str(exc), "wall_s": _since(started)}
    statuses = {ExitStatus.DONE: "done", ExitStatus.INTERRUPTED: "interrupted"}
    status = statuses.get(outcome.code, "failed")
    return {
        **record,
        "status": status,
        "kind": "",
        "error": _error(status, outcome),
        "frames_done": outcome.frames_done,
        "frames": outcome.frames,
        "review_items": "" if outcome.review_items is None else outcome.review_items,
        "wall_s": _since(started),
    }


def _error(status: str, outcome) -> str:
    if status == "done":
        return ""
    if status == "interrupted":
        return f"stopped after {outcome.frames_done} of {outcome.frames} frames (kept); run the batch again to redo it"
    return outcome.status


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
