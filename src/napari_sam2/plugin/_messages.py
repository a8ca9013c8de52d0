"""What the worker thread tells the main thread: one dataclass per kind of result.

A task yields these; :class:`~napari_sam2.plugin._serial_worker.SerialWorker` hands each
to ``message.deliver(handler)`` on the main thread, which calls the one handler method for
that class. So "go to definition" leads from a task's ``yield`` to the code that handles it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..core.pipeline import RunRecord
    from ..core.session import FrameResult


class MessageHandler(Protocol):
    def on_status(self, message: Status) -> None: ...
    def on_model_loaded(self, message: ModelLoaded) -> None: ...
    def on_session_opened(self, message: SessionOpened) -> None: ...
    def on_encoded(self, message: Encoded) -> None: ...
    def on_previewed(self, message: Previewed) -> None: ...
    def on_run_planned(self, message: RunPlanned) -> None: ...
    def on_frame_tracked(self, message: FrameTracked) -> None: ...
    def on_task_failed(self, message: TaskFailed) -> None: ...
    def on_lineage(self, message: LineageUpdated) -> None: ...
    def on_seeds(self, message: SeedsFound) -> None: ...
    def on_task_started(self, message: TaskStarted) -> None: ...
    def on_task_ended(self, message: TaskEnded) -> None: ...


@dataclass(frozen=True)
class Status:
    text: str

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_status(self)


@dataclass(frozen=True)
class ModelLoaded:
    loaded: Any  # core.models.LoadedModel

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_model_loaded(self)


@dataclass(frozen=True)
class SessionOpened:
    """A new session started: earlier tracking state is gone."""

    record: RunRecord

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_session_opened(self)


@dataclass(frozen=True)
class Encoded:
    done: int
    total: int

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_encoded(self)


@dataclass(frozen=True)
class Previewed:
    """The session took the prompts of ``key`` = (object, frame); ``result`` is None when
    none are left there (the object's pixels on that frame are cleared)."""

    key: tuple[int, int]
    prompts: tuple | None  # PromptGroup.key() of what was given; None for a mask prompt
    result: FrameResult | None
    held: dict[int, int]

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_previewed(self)


@dataclass(frozen=True)
class RunPlanned:
    """What a propagation will do, said before its first frame."""

    objects: list[int]  # tracked in this run
    up_to_date: list[int]  # left alone: already tracked on these frames, prompts unchanged
    changed: list[int]  # among ``objects``: tracked before, and their prompts changed since
    frames: int  # distinct frames this run writes
    resumed: int  # frames skipped because this run's objects already have them
    again: bool = False  # every object was up to date; the user asked to track them again
    note: str = ""  # what the run does, when the plan above does not say it (a correction)

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_run_planned(self)


@dataclass(frozen=True)
class FrameTracked:
    result: FrameResult
    held: dict[int, int]

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_frame_tracked(self)


@dataclass(frozen=True)
class LineageUpdated:
    """A population run's lineage after a frame: tracks as ``Lineage.as_dict()`` rows."""

    tracks: list[dict]

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_lineage(self)


@dataclass(frozen=True)
class SeedsFound:
    """SAM 2 segmented everything on ``frame``: full-frame masks by id."""

    frame: int
    seeds: dict

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_seeds(self)


@dataclass(frozen=True)
class TaskFailed:
    """A task raised: ``error`` is the exception; ``kind`` the task's kind."""

    error: BaseException
    kind: str
    context: dict = field(default_factory=dict)

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_task_failed(self)


@dataclass(frozen=True)
class TaskStarted:
    """Sent by the worker pool itself, in order with the task's messages."""

    task: Any  # _serial_worker.Task

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_task_started(self)


@dataclass(frozen=True)
class TaskEnded:
    task: Any  # _serial_worker.Task

    def deliver(self, handler: MessageHandler) -> None:
        handler.on_task_ended(self)


class Inbox:
    """Hands messages to ``handler`` one at a time, in order.

    A handler can turn Qt's event loop (napari's progress bar does); a message arriving
    then waits its turn instead of running inside that handler, so a run's end is never
    overtaken by its last frame.
    """

    def __init__(self, handler: MessageHandler) -> None:
        self._handler = handler
        self._queue: deque = deque()
        self._busy = self._closed = False

    def put(self, message) -> None:
        if self._closed:
            return
        self._queue.append(message)
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue and not self._closed:
                self._queue.popleft().deliver(self._handler)
        finally:
            self._busy = False

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
