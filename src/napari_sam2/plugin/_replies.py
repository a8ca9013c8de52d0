"""The main thread's handlers of the worker's messages: one method per message class.

:meth:`WorkerReplies.table` maps each message class to its handler; the
:class:`~._messages.Inbox` calls it. The handlers write results through the tracker's parts
(state, labels writer, prompt sync, population view, history) and tell the widgets through
the state's events. They know the parts they are given, not the controller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..core.errors import Sam2Error
from ._messages import (
    Encoded,
    FrameTracked,
    LineageUpdated,
    ModelLoaded,
    PassStarted,
    Previewed,
    PromptsTaken,
    Removed,
    RunPlanned,
    SeedsFound,
    SessionOpened,
    Status,
    TakenUp,
    TaskEnded,
    TaskFailed,
    TaskStarted,
)
from ._notify import notify, plain_error
from ._run_writer import describe_plan

RUN_KINDS = ("propagate", "population", "division")  # tasks that write a run into the labels


class WorkerReplies:
    """Implements the handlers for one tracker (see the module docstring)."""

    def __init__(self, state, binding, writer, prompts, population, *, after_task: Callable, erased: dict) -> None:
        self.state, self.binding, self.writer = state, binding, writer
        self.prompts, self.population = prompts, population
        self._after_task = after_task
        self._erased = erased  # object -> undo item of its erasure, until the worker forgot it
        self.run_failed = False

    def table(self) -> dict[type, Callable]:
        return {
            Status: self.on_status,
            ModelLoaded: self.on_model_loaded,
            SessionOpened: self.on_session_opened,
            Encoded: self.on_encoded,
            Previewed: self.on_previewed,
            PromptsTaken: self.on_prompts_taken,
            Removed: self.on_removed,
            TakenUp: self.on_taken_up,
            RunPlanned: self.on_run_planned,
            PassStarted: self.on_pass_started,
            FrameTracked: self.on_frame_tracked,
            SeedsFound: self.on_seeds,
            LineageUpdated: self.on_lineage,
            TaskFailed: self.on_task_failed,
            TaskStarted: self.on_task_started,
            TaskEnded: self.on_task_ended,
        }

    @property
    def history(self):
        return self.state.workspace.history

    # -- tasks ------------------------------------------------------------------------------------
    def on_task_started(self, message: TaskStarted) -> None:
        if message.task.kind in RUN_KINDS:
            self.run_failed = False
            image = self.binding.image
            self.state.set_busy(True, image.name if image is not None else "")
            self.writer.begin(contest=message.task.kind == "propagate")

    def on_task_ended(self, message: TaskEnded) -> None:
        kind = message.task.kind
        if kind in RUN_KINDS:
            progress = self.writer.end("failed" if self.run_failed else "done")
            item = self.writer.last_item if progress is None or progress.state != "stopped" else None
            if kind == "propagate":
                self.history.run_ended(item)
            else:
                what = "a population run (Track all cells)" if kind == "population" else "a division marked by hand"
                self.history.elsewhere(what, item)
            if self.population.running:
                self.population.finished(item)
            self.state.set_busy(False)
            if progress is not None:
                self.state.events.progress.emit(progress)
            self.state.events.flags.emit(self.writer.flags)
            self.state.events.status.emit(self.state.model_status)
        self._after_task(message.task)

    def on_task_failed(self, message: TaskFailed) -> None:
        text = plain_error(message.error)
        notify(text, error=True)
        if not isinstance(message.error, Sam2Error):
            logging.getLogger(__name__).error("napari-sam2 worker failed", exc_info=message.error)
        if self.state.loaded is None:
            self.state.events.status.emit(f"model not loaded: {text}")
        if message.kind in RUN_KINDS:
            self.run_failed = True
        key = message.context.get("key")
        if key is not None:
            binding = self.binding
            self.prompts.failed(key, binding.points, binding.shapes, frame_axis=binding.frame_axis, held=binding.held())

    # -- the model and the session ----------------------------------------------------------------
    def on_status(self, message: Status) -> None:
        self.state.events.status.emit(message.text)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.state.loaded = message.loaded
        self.state.events.status.emit(self.state.model_status)

    def on_session_opened(self, message: SessionOpened) -> None:
        self.state.record = message.record
        self.history.segment(message.settings)

    def on_encoded(self, message: Encoded) -> None:
        if message.done >= message.total:
            done = "every frame encoded"
        else:
            done = f"{message.done} of {message.total} frames encoded"
        self.state.events.status.emit(f"{self.state.model_status} — {done}")

    # -- prompts ----------------------------------------------------------------------------------
    def on_previewed(self, message: Previewed) -> None:
        obj, frame = message.key
        if message.prompts is None:
            self.state.workspace.mask_prompts.add(message.key)
        else:
            self.prompts.taken(message.key, message.prompts)
        if self.binding.labels is None:
            return
        item = self.writer.previewed(message)
        if message.prompts is None:
            self.history.mask(obj, frame, message.mask, item)
        else:
            self.history.prompts(obj, frame, message.prompts, item=item)

    def on_prompts_taken(self, message: PromptsTaken) -> None:
        self.prompts.taken(message.key, message.prompts)
        self.history.prompts(*message.key, message.prompts, write=False)

    def on_taken_up(self, message: TakenUp) -> None:
        # The reopened masks came from a file, which no history can repeat.
        self.history.elsewhere("masks of a result opened from a file, which the session went on from")

    def on_removed(self, message: Removed) -> None:
        self.history.remove(message.obj, self._erased.pop(message.obj, None))

    # -- runs -------------------------------------------------------------------------------------
    def on_run_planned(self, message: RunPlanned) -> None:
        self.state.events.run_note.emit(describe_plan(message, self.state.objects.name))
        self.state.events.progress.emit(self.writer.planned(message))
        self.history.run_started(message.objects)

    def on_pass_started(self, message: PassStarted) -> None:
        self.history.pass_started(message.direction, message.start, message.frame_range)

    def on_frame_tracked(self, message: FrameTracked) -> None:
        progress = self.writer.frame_tracked(message)
        if progress is None:
            return  # the run's labels layer is gone: the controller stopped it
        self.history.frame_done()
        self.population.frame_tracked(message.result.frame)
        self.state.events.progress.emit(progress)

    # -- populations ------------------------------------------------------------------------------
    def on_seeds(self, message: SeedsFound) -> None:
        self.state.events.status.emit(self.state.model_status)
        if message.request != self.population.preview_id or self.binding.image is None:
            return  # another preview was asked for since: this answer is stale
        if not message.seeds:
            notify(f"SAM 2 found no cell on frame {message.frame}.", error=True)
            self.state.events.seeds.emit(f"SAM 2 found no cell on frame {message.frame}")
            return
        from ._settings import SAM_SEEDS

        shape = self.binding.source(self.state.roi).full_frame_shape
        found = self.population.show(message.seeds, message.frame, shape, SAM_SEEDS)
        self.state.events.seeds.emit(seeds_text(found, message.frame))

    def on_lineage(self, message: LineageUpdated) -> None:
        self.state.objects.ensure(row["id"] for row in message.tracks)
        self.population.lineage_updated(message.tracks)
        self.state.events.lineage.emit()


def seeds_text(n: int, frame: int) -> str:
    return f"{n} seeds on frame {frame}: Track all cells follows them"
