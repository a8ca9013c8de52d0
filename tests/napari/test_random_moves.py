"""Random sequences of the moves users make, through the real widget, checking after every
step that nothing is lost (plugin issue: "random-sequence tests").

A seeded random walk drives the dock widget on a viewer with images of different shapes and
dimensions, each move drawn with a weight like how often people make it: choose an image or
an axis, click and Shift-click on the canvas, draw a box, add, select and delete objects, run
each direction, cancel mid-run, press Ctrl-Z and Ctrl-Shift-Z, delete or rename layers in the
layer list, change the device or the model, close and reopen the dock, save and export. The
model loads lazily on the first click after each (re)opening. After every step:

* nothing said is an "Unexpected error", and nothing was logged as a bug;
* no layer that left the viewer was written into afterwards;
* labels change only where the step may change them: nowhere for a choice, a rename, a save;
  one frame, and only that object's pixels or pixels it wins, for a click; one object's
  pixels for a deletion; only the bound layer for a run;
* what the widget shows is the state: the chosen image, axis and labels, the objects;
* the prompts on screen are the prompts the session has (once it has any).

The short run is part of the suite; the long one (200 steps) is marked slow. A failure
prints the moves that led to it, and the seed repeats them.
"""

from __future__ import annotations

import logging
import random
import time

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from tests.helpers import moving_blob_stack  # noqa: E402
from tests.napari.conftest import canvas_click, choose, press_key  # noqa: E402

IMAGES = {
    "cells": lambda: moving_blob_stack(6, seed=1),
    "cells again": lambda: moving_blob_stack(6, seed=2, speed=-2),  # the same shape, another movie
    "one image": lambda: moving_blob_stack(1, seed=3)[0],
    "tzyx": lambda: np.stack([moving_blob_stack(4, (60, 80), seed=4)] * 2, axis=1),
}


def _wait(condition, timeout: float = 120.0) -> None:
    from qtpy.QtWidgets import QApplication

    app, end = QApplication.instance(), time.monotonic() + timeout
    app.processEvents()  # what napari does next (a layer's removal is finished on the next turn)
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the tracker did not become idle")
        app.processEvents()
        time.sleep(0.005)


class _Bugs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record) -> None:
        self.records.append(record.getMessage())


class TrackerMoves:
    """The moves (methods named in :data:`MOVES`) and the checks after each."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        from napari_sam2.plugin import _notify

        self.said: list[str] = []
        self._show = _notify._show
        _notify._show = lambda message, error=False: self.said.append(message)
        self.bugs = _Bugs()
        logging.getLogger("napari_sam2").addHandler(self.bugs)
        self.viewer = ViewerModel()
        for name, make in IMAGES.items():
            self.viewer.add_image(make(), name=name)
        self.gone: list[tuple] = []  # (layer, its data when it left the viewer)
        self.widget = None
        self._open()

    # -- helpers ---------------------------------------------------------------------------------
    def _open(self) -> None:
        from napari_sam2.widgets import TrackerWidget

        self.widget = TrackerWidget(self.viewer)
        self.widget.model_panel.choose_model(self.model_dir)
        choose(self.widget.model_panel.device_combo, "cpu")

    @property
    def controller(self):
        return self.widget.controller

    def _idle(self) -> None:
        _wait(lambda: self.controller.idle)

    def _labels_layers(self) -> list:
        from napari.layers import Labels

        return [layer for layer in self.viewer.layers if isinstance(layer, Labels)]

    def _snapshot(self) -> dict:
        return {id(layer): (layer, np.array(layer.data)) for layer in self._labels_layers()}

    def _changed(self, before: dict) -> dict:
        return {
            key: (layer, old) for key, (layer, old) in before.items()
            if layer in self.viewer.layers and not np.array_equal(layer.data, old)
        }  # fmt: skip

    def _position(self, y: float, x: float) -> tuple:
        """World coordinates of (y, x) on the frame and slices shown now."""
        point = list(self.viewer.dims.point)
        point[-2:] = [y, x]
        return tuple(point)

    # -- rules ----------------------------------------------------------------------------------
    def choose_image(self, name) -> None:
        if name not in self.viewer.layers:
            return
        before = self._snapshot()
        choose(self.widget.image_panel.image_combo, name)
        self._idle()
        assert not self._changed(before), "choosing an image changed labels"

    def choose_axis(self, index) -> None:
        combo = self.widget.image_panel.axis_combo
        if combo.count():
            before = self._snapshot()
            combo.setCurrentIndex(index % combo.count())
            combo.activated.emit(index % combo.count())
            assert not self._changed(before)

    def click(self, frame, y, x, positive) -> None:
        controller = self.controller
        if controller.points_layer is None or controller.frame_count() == 0:
            return
        if controller.frame_axis is not None:
            axis = self.viewer.dims.ndim - controller.image_layer.ndim + controller.frame_axis
            self.viewer.dims.set_current_step(axis, frame % controller.frame_count())
        before, obj = self._snapshot(), controller.objects.selected
        canvas_click(controller.points_layer, self._position(y, x), () if positive else ("Shift",))
        self._idle()
        for layer, old in self._changed(before).values():
            assert layer is controller.labels_layer, "a click wrote into another labels layer"
            diff = np.asarray(layer.data) != old
            frames = {i for i in np.ndindex(*old.shape[:-2]) if diff[i].any()} if old.ndim > 2 else {()}
            assert len(frames) <= 1, f"a click changed frames {frames}"
            now = np.asarray(layer.data)[diff]
            was = old[diff]
            clicked = controller.objects.selected if obj is None else obj
            assert ((now == clicked) | (was == clicked)).all(), "a click changed another object's pixels"

    def draw_box(self, y: float, x: float) -> None:
        """A rectangle in the boxes layer, on the frame shown, for the selected object."""
        controller = self.controller
        shapes = controller.shapes_layer
        if shapes is None or controller.objects.selected is None:
            return
        before = self._snapshot()
        here = np.array(self._position(y, x))[-shapes.ndim :]
        corners = np.array([here, here, here, here], float)
        corners[1:3, -1] += 12
        corners[2:, -2] += 10
        shapes.add_rectangles(corners)
        self._idle()
        for layer, _ in self._changed(before).values():
            assert layer is controller.labels_layer, "a box wrote into another labels layer"

    def add_object(self) -> None:
        before = self._snapshot()
        self.widget.objects_panel.add_button.click()
        assert not self._changed(before)

    def select_object(self, k) -> None:
        panel = self.widget.objects_panel.list
        if panel.count():
            panel.setCurrentRow(k % panel.count())

    def delete_object(self, k) -> None:
        panel = self.widget.objects_panel.list
        if not panel.count():
            return
        panel.setCurrentRow(k % panel.count())
        obj, before = self.controller.objects.selected, self._snapshot()
        self.widget.objects_panel._on_delete()
        self._idle()
        for layer, old in self._changed(before).values():
            diff = np.asarray(layer.data) != old
            assert (old[diff] == obj).all() and (np.asarray(layer.data)[diff] == 0).all()

    def propagate(self, direction) -> None:
        before = self._snapshot()
        run = self.widget.run_panel
        (run.from_here_button if direction == "from here" else run.direction_buttons[direction]).click()
        self._idle()
        for layer, _ in self._changed(before).values():
            assert layer is self.controller.labels_layer, "a run wrote into another labels layer"

    def cancel_mid_run(self) -> None:
        controller = self.controller
        hook = lambda p: p.state == "running" and p.done >= 1 and controller.cancel()  # noqa: E731
        controller.events.progress.connect(hook)
        self.widget.run_panel.direction_buttons["forward"].click()
        self._idle()
        controller.events.progress.disconnect(hook)

    def undo_key(self, redo) -> None:
        points = self.controller.points_layer
        if points is not None:
            press_key(points, "Ctrl+Shift+Z" if redo else "Ctrl+Z")
            self._idle()

    def delete_layer(self, kind, mid_run) -> None:
        controller = self.controller
        layer = getattr(controller, "image_layer" if kind == "image" else f"{kind}_layer")
        if layer is None:
            return

        def remove(*_):
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
                self.gone.append((layer, np.array(layer.data) if kind == "labels" else None))

        if mid_run:
            hook = lambda p: p.state == "running" and p.done >= 1 and remove()  # noqa: E731
            controller.events.progress.connect(hook)
            self.widget.run_panel.direction_buttons["forward"].click()
            self._idle()
            controller.events.progress.disconnect(hook)
        remove()
        self._idle()

    def add_image(self, name) -> None:
        """An image opened (again) while tracking: File › Open or a sample."""
        if name not in self.viewer.layers:
            before = self._snapshot()
            self.viewer.add_image(IMAGES[name](), name=name)
            self._idle()
            assert not self._changed(before)

    def rename_layer(self, kind) -> None:
        layer = getattr(self.controller, f"{kind}_layer")
        if layer is not None:
            layer.name = layer.name + " renamed"

    def change_model_or_device(self, device, other_name) -> None:
        before = self._snapshot()
        choose(self.widget.model_panel.device_combo, device)
        if other_name:  # the same weights, typed another way: another model to the tracker
            spec = self.controller.settings.model
            self.widget.model_panel.choose_model(spec[:-1] if spec.endswith("/") else spec + "/")
        assert not self._changed(before)

    def close_and_reopen(self) -> None:
        self.widget.close_tracker()
        self.widget.deleteLater()
        self._open()

    def save_and_export(self) -> None:
        import tempfile
        from pathlib import Path

        from napari_sam2.plugin import guard

        with tempfile.TemporaryDirectory() as folder:  # as the buttons do: a refusal is one line
            guard(lambda: self.controller.save_labels(Path(folder) / "labels.tif"))
            guard(lambda: self.controller.export_prompts(Path(folder) / "prompts.csv"))

    # -- invariants ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Everything that must hold after any move."""
        self.nothing_went_wrong()
        self.nothing_written_into_a_layer_that_left()
        self.the_widget_shows_the_state()
        self.prompts_on_screen_are_the_sessions()

    def nothing_went_wrong(self) -> None:
        assert not [m for m in self.said if "Unexpected error" in m], self.said
        assert not self.bugs.records, self.bugs.records

    def nothing_written_into_a_layer_that_left(self) -> None:
        for layer, data in self.gone:
            if data is not None:
                assert np.array_equal(layer.data, data), f"{layer.name} was written after it left"

    def the_widget_shows_the_state(self) -> None:
        controller, panel = self.controller, self.widget.image_panel
        if controller.image_layer is not None:
            assert panel.image_combo.currentText() == controller.image_layer.name
            assert panel.axis_combo.currentData() == controller.frame_axis
        if controller.labels_layer is not None:
            assert panel.labels_combo.currentText() == controller.labels_layer.name
        shown = [self.widget.objects_panel.list.item(i).text() for i in range(self.widget.objects_panel.list.count())]
        assert [s.split("  (")[0] for s in shown] == [n for _, n in controller.objects.items()]

    def prompts_on_screen_are_the_sessions(self) -> None:
        controller = self.controller
        if not controller.idle or controller.points_layer is None:
            return
        groups = controller.binding.prompt_groups()
        assert controller.prompts.changed(groups) == [], "prompts on screen that the tracker has not taken"
        session = controller.owner.peek_session()
        if session is None:
            return
        have = {(o, f): p.key() for o, frames in session.prompts().items() for f, p in frames.items() if p.mask is None}
        for key, prompts in have.items():
            assert groups.get(key) is not None and groups[key].key() == prompts, f"the session's {key} is not on screen"

    def teardown(self) -> None:
        from napari_sam2.plugin import _notify

        self.widget.close_tracker()
        _notify._show = self._show
        logging.getLogger("napari_sam2").removeHandler(self.bugs)


#: Each move with its weight (how often people make it) and how its arguments are drawn.
MOVES = {
    "click": (
        8,
        lambda r: dict(frame=r.randrange(6), y=r.uniform(5, 55), x=r.uniform(5, 75), positive=r.random() < 0.7),
    ),
    "propagate": (5, lambda r: dict(direction=r.choice(["forward", "backward", "both", "from here"]))),
    "choose_image": (3, lambda r: dict(name=r.choice(sorted(IMAGES)))),
    "choose_axis": (1, lambda r: dict(index=r.randrange(4))),
    "draw_box": (1, lambda r: dict(y=r.uniform(5, 40), x=r.uniform(5, 60))),
    "add_object": (2, lambda r: {}),
    "select_object": (2, lambda r: dict(k=r.randrange(6))),
    "delete_object": (1, lambda r: dict(k=r.randrange(6))),
    "cancel_mid_run": (2, lambda r: {}),
    "undo_key": (3, lambda r: dict(redo=r.random() < 0.3)),
    "delete_layer": (
        3,
        lambda r: dict(kind=r.choice(["labels", "points", "shapes", "image"]), mid_run=r.random() < 0.5),
    ),
    "add_image": (1, lambda r: dict(name=r.choice(sorted(IMAGES)))),
    "rename_layer": (1, lambda r: dict(kind=r.choice(["labels", "image"]))),
    "change_model_or_device": (1, lambda r: dict(device=r.choice(["cpu", "auto"]), other_name=r.random() < 0.5)),
    "close_and_reopen": (1, lambda r: {}),
    "save_and_export": (1, lambda r: {}),
}


def walk(model_dir, *, seed: int, steps: int) -> list[str]:
    """``steps`` random moves from a clicked cell, checking after each; returns the moves."""
    rng, moves = random.Random(seed), []
    machine = TrackerMoves(str(model_dir))
    names = list(MOVES)
    weights = [MOVES[n][0] for n in names]
    try:
        machine.click(0, 40.0, 35.0, True)
        machine.check()
        for _ in range(steps):
            name = rng.choices(names, weights)[0]
            kwargs = MOVES[name][1](rng)
            moves.append(f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})")
            getattr(machine, name)(**kwargs)
            machine.check()
    except BaseException as exc:
        raise AssertionError(f"after seed {seed}, moves: {' → '.join(moves)}") from exc
    finally:
        machine.teardown()
    return moves


def test_random_moves_lose_nothing_short(qtbot, reduced_model_dir):
    moves = walk(reduced_model_dir, seed=1, steps=30)
    assert {m.split("(")[0] for m in moves} >= {"click", "propagate", "undo_key"}


@pytest.mark.slow
def test_random_moves_lose_nothing_200_steps(qtbot, reduced_model_dir):
    moves = [m for seed in (2, 3, 4, 5) for m in walk(reduced_model_dir, seed=seed, steps=50)]
    assert len(moves) == 200 and {m.split("(")[0] for m in moves} == set(MOVES)
