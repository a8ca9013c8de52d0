"""Run model tasks one at a time, in order, on napari thread workers.

A task is a function returning a generator of ``(kind, value)`` items, delivered on the
main thread through ``on_item``. Every exception in a task is delivered as an
``("error", exc)`` item: superqt silently drops ``RuntimeError`` (torch's usual type)
without emitting ``finished``, which would leave a run open for ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..core.models import set_torch_threads

__all__ = ["SerialWorker", "set_torch_threads"]


class SerialWorker:
    def __init__(
        self,
        on_item: Callable[[tuple[str, Any]], None],
        on_start: Callable[[str], None],
        on_end: Callable[[str], None],
    ) -> None:
        self._on_item, self._on_start, self._on_end = on_item, on_start, on_end
        self._queue: deque[tuple[str, Callable[[], Iterator]]] = deque()
        self._worker = None
        self.kind: str | None = None

    @property
    def idle(self) -> bool:
        return self._worker is None and not self._queue

    @property
    def pending(self) -> bool:
        """Tasks are waiting (read by a running task that should give way)."""
        return bool(self._queue)

    def submit(self, kind: str, task: Callable[[], Iterator]) -> None:
        self._queue.append((kind, task))
        if self._worker is None:
            self._start_next()

    def cancel(self) -> None:
        """Drop queued tasks and stop the running one between two items."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.quit()

    def _start_next(self) -> None:
        from napari.qt.threading import create_worker

        if not self._queue:
            self._worker, self.kind = None, None
            return
        self.kind, task = self._queue.popleft()
        self._on_start(self.kind)

        def run():  # a generator function, so napari makes a GeneratorWorker
            set_torch_threads()
            try:
                yield from task()
            except Exception as exc:  # noqa: BLE001 - delivered to the main thread as an item
                yield ("error", exc)

        worker = create_worker(run, _start_thread=False)
        worker.yielded.connect(self._on_item)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def _on_finished(self) -> None:
        kind, self._worker = self.kind, None
        self._on_end(kind)  # may submit a task, which then starts at once
        if self._worker is None:
            self._start_next()
