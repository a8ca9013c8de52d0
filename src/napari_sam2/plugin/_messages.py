"""What the worker thread tells the main thread: one dataclass per kind of result.

A task yields these; :class:`~napari_sam2.plugin._serial_worker.SerialWorker` hands each
to an :class:`Inbox` on the main thread, which calls the handler its table names for that
class (:meth:`~napari_sam2.plugin._replies.WorkerReplies.table`): "go to definition" leads
from a message class to the one method that handles it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.provenance import RunRecord
    from ..core.session import FrameResult


@dataclass(frozen=True)
class Status:
    text: str


@dataclass(frozen=True)
class ModelLoaded:
    loaded: Any  # core.models.LoadedModel


@dataclass(frozen=True)
class SessionOpened:
    """A new session started: earlier tracking state is gone. ``settings``: what it sees, as
    ``track`` options (a segment of the session history)."""

    record: RunRecord
    settings: dict


@dataclass(frozen=True)
class Encoded:
    done: int
    total: int


@dataclass(frozen=True)
class Previewed:
    """The session took the prompts of ``key`` = (object, frame); ``result`` is None when
    none are left there (the object's pixels on that frame are cleared)."""

    key: tuple[int, int]
    prompts: tuple | None  # PromptGroup.key() of what was given; None for a mask prompt
    result: FrameResult | None
    held: dict[int, int]
    mask: Any = None  # the mask prompt (ROI coordinates), for a mask prompt


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


@dataclass(frozen=True)
class PassStarted:
    """A pass of a run begins: what ``session.propagate`` was asked (the history replays it)."""

    direction: str
    start: int
    frame_range: tuple[int, int] | None


@dataclass(frozen=True)
class PromptsTaken:
    """Before a run, the session took prompts it did not have (a new session, or a reopened
    tracker): recorded, not written (the run writes that frame)."""

    key: tuple[int, int]
    prompts: tuple


@dataclass(frozen=True)
class TakenUp:
    """The session took up an object it had not seen from the labels (a result reopened from
    disk): its mask on ``frame`` is what the first click refines, and ``anchor`` (its last
    good frame, or None) is remembered as a mask prompt."""

    obj: int
    frame: int
    anchor: int | None


@dataclass(frozen=True)
class Removed:
    """The session forgot an object."""

    obj: int


@dataclass(frozen=True)
class FrameTracked:
    result: FrameResult
    held: dict[int, int]


@dataclass(frozen=True)
class LineageUpdated:
    """A population run's lineage after a frame: tracks as ``Lineage.as_dict()`` rows."""

    tracks: list[dict]


@dataclass(frozen=True)
class SeedsFound:
    """SAM 2 segmented everything on ``frame``: full-frame masks by id. ``request``: which
    preview asked (a later one supersedes it)."""

    frame: int
    seeds: dict
    request: int = 0


@dataclass(frozen=True)
class TaskFailed:
    """A task raised: ``error`` is the exception; ``kind`` the task's kind."""

    error: BaseException
    kind: str
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TaskStarted:
    """Sent by the worker pool itself, in order with the task's messages."""

    task: Any  # _serial_worker.Task


@dataclass(frozen=True)
class TaskEnded:
    task: Any  # _serial_worker.Task


class Inbox:
    """Hands messages one at a time, in order, to the handler its table names for their class.

    A handler can turn Qt's event loop (napari's progress bar does); a message arriving
    then waits its turn instead of running inside that handler, so a run's end is never
    overtaken by its last frame.
    """

    def __init__(self, table: dict[type, Callable[[Any], None]]) -> None:
        self._table = table
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
                message = self._queue.popleft()
                self._table[type(message)](message)
        finally:
            self._busy = False

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
