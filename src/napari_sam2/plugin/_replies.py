"""The main thread's handlers of the worker's messages: one method per message class.

:class:`~._messages.Inbox` hands each message to ``message.deliver(replies)``, which calls
the method for its class here; so "go to definition" leads from a task's ``yield`` to the
code that handles it. The handlers write results through the tracker's parts (labels,
prompts, objects, population) and tell the widgets through its events.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..core.errors import Sam2Error
from ._messages import (
    Encoded,
    FrameTracked,
    LineageUpdated,
    ModelLoaded,
    Previewed,
    RunPlanned,
    SeedsFound,
    SessionOpened,
    Status,
    TaskEnded,
    TaskFailed,
    TaskStarted,
)
from ._notify import notify, plain_error
from ._population import EVERYTHING
from ._run_writer import describe_plan

if TYPE_CHECKING:
    from ._controller import TrackerController


class WorkerReplies:
    """Implements :class:`~._messages.MessageHandler` for one tracker."""

    def __init__(self, tracker: TrackerController) -> None:
        self.tracker = tracker
        self.run_failed = False

    def on_task_started(self, message: TaskStarted) -> None:
        if message.task.kind == "propagate":
            self.run_failed = False
            self.tracker.writer.begin()

    def on_task_ended(self, message: TaskEnded) -> None:
        task = message.task
        if task.kind == "propagate":
            progress = self.tracker.writer.end("failed" if self.run_failed else "done")
            if self.tracker.population.running:
                self.tracker.population.finished(self.tracker.writer.last_item)
            if progress is not None:
                self.tracker.events.progress.emit(progress)
            self.tracker.events.flags.emit(self.tracker.writer.flags)
        if task.kind != "encode" and self.tracker.idle:
            self.tracker.schedule_encode_ahead()

    def on_status(self, message: Status) -> None:
        self.tracker.events.status.emit(message.text)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.tracker.loaded = message.loaded
        self.tracker.events.status.emit(self.tracker.model_status)

    def on_session_opened(self, message: SessionOpened) -> None:
        self.tracker.record = message.record
        self.tracker.writer.forget_tracking()

    def on_encoded(self, message: Encoded) -> None:
        self.tracker.events.status.emit(
            f"{self.tracker.model_status} — {message.done} of {message.total} frames encoded"
        )

    def on_previewed(self, message: Previewed) -> None:
        if message.prompts is None:
            self.tracker.mask_prompts.add(message.key)
        else:
            self.tracker.prompts.taken(message.key, message.prompts)
        self.tracker.writer.previewed(message)

    def on_run_planned(self, message: RunPlanned) -> None:
        self.tracker.events.run_note.emit(describe_plan(message, self.tracker.objects.name))
        self.tracker.events.progress.emit(self.tracker.writer.planned(message))

    def on_frame_tracked(self, message: FrameTracked) -> None:
        progress = self.tracker.writer.frame_tracked(message)
        self.tracker.population.frame_tracked(message.result.frame)
        self.tracker.events.progress.emit(progress)

    def on_seeds(self, message: SeedsFound) -> None:
        self.tracker.events.status.emit(self.tracker.model_status)
        if not message.seeds:
            notify(f"SAM 2 found no cell on frame {message.frame}.", error=True)
            return
        self.tracker.events.seeds.emit(
            self.tracker.population.show(
                message.seeds, message.frame, self.tracker.binding.source(self.tracker.roi).full_frame_shape, EVERYTHING
            )
        )

    def on_lineage(self, message: LineageUpdated) -> None:
        self.tracker.objects.ensure(row["id"] for row in message.tracks)
        self.tracker.population.lineage_updated(message.tracks)
        self.tracker.events.lineage.emit()

    def on_task_failed(self, message: TaskFailed) -> None:
        text = plain_error(message.error)
        notify(text, error=True)
        if not isinstance(message.error, Sam2Error):
            logging.getLogger(__name__).error("napari-sam2 worker failed", exc_info=message.error)
        if self.tracker.loaded is None:
            self.tracker.events.status.emit(f"model not loaded: {text}")
        if message.kind == "propagate":
            self.run_failed = True
        key = message.context.get("key")
        if key is not None:
            self.tracker.prompts.failed(
                key,
                self.tracker.binding.points,
                frame_axis=self.tracker.binding.frame_axis,
                held=self.tracker.binding.held(),
            )
