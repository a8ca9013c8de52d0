"""Run model tasks one at a time, in order, on napari thread workers.

A task is a function returning a generator of messages (:mod:`._messages`), each delivered
on the main thread to ``deliver``. Every exception in a task is delivered as a
:class:`~._messages.TaskFailed`: superqt silently drops ``RuntimeError`` (torch's usual
type) without emitting ``finished``, which would leave a run open for ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..core.models import set_torch_threads
from ._messages import TaskFailed


@dataclass
class Task:
    """``kind`` is load, preview, propagate, encode or edit; ``context`` comes back with a failure."""

    kind: str
    run: Callable[[], Iterator]
    context: dict = field(default_factory=dict)


class SerialWorker:
    def __init__(self, deliver: Callable, on_start: Callable[[Task], None], on_end: Callable[[Task], None]) -> None:
        self._deliver, self._on_start, self._on_end = deliver, on_start, on_end
        self._queue: deque[Task] = deque()
        self._worker = None
        self.current: Task | None = None

    @property
    def kind(self) -> str | None:
        return None if self.current is None else self.current.kind

    @property
    def idle(self) -> bool:
        return self._worker is None and not self._queue

    @property
    def tasks_waiting(self) -> bool:
        """Tasks are queued (read by a running task that should give way)."""
        return bool(self._queue)

    def submit(self, task: Task) -> None:
        self._queue.append(task)
        if self._worker is None:
            self._start_next()

    def cancel(self) -> None:
        """Drop queued tasks and stop the running one between two messages."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.quit()

    def stop(self, wait_ms: int = 5000) -> None:
        """Cancel, and wait (up to ``wait_ms``) for the running task to reach its next yield:
        a worker still running when napari deletes its Qt objects would fail in its thread."""
        self.cancel()
        worker = self._worker
        if worker is not None:
            from qtpy.QtCore import QThreadPool

            QThreadPool.globalInstance().waitForDone(wait_ms)

    def _start_next(self) -> None:
        from napari.qt.threading import create_worker

        if not self._queue:
            self._worker, self.current = None, None
            return
        task = self.current = self._queue.popleft()
        self._on_start(task)

        def run():  # a generator function, so napari makes a GeneratorWorker
            set_torch_threads()
            try:
                yield from task.run()
            except Exception as exc:  # noqa: BLE001 - delivered to the main thread as a message
                yield TaskFailed(exc, task.kind, task.context)

        worker = create_worker(run, _start_thread=False)
        worker.yielded.connect(self._deliver)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def _on_finished(self) -> None:
        task, self._worker, self.current = self.current, None, None  # its end is handled as ended
        self._on_end(task)  # may submit a task, which then starts at once
        if self._worker is None:
            self._start_next()
