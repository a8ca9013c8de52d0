"""The "SAM 2 tracker" dock widget: panels over one :class:`TrackerController`.

Clicks reach the controller through a mouse callback on the prompts layer: a press and
release without a drag adds a point (Shift: negative); a drag pans as usual.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..plugin import TrackerController, notify
from ._common import guard
from ._panels import ImagePanel, ModelPanel, ObjectsPanel
from ._population_panel import PopulationPanel
from ._run_panel import FilesRow, RunPanel


class TrackerWidget(QWidget):
    """Click, preview, propagate through z or t, correct, undo, save."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._closed = False
        self.controller = TrackerController(napari_viewer)
        self.image_panel = ImagePanel(napari_viewer, self.controller)
        self.model_panel = ModelPanel(self.controller)
        self.objects_panel = ObjectsPanel(self.controller)
        self.run_panel = RunPanel(napari_viewer, self.controller)
        self.population_panel = PopulationPanel(napari_viewer, self.controller)
        layout = QVBoxLayout(self)
        for widget in (
            self.image_panel,
            self.model_panel,
            self.objects_panel,
            self.run_panel,
            self.population_panel,
            FilesRow(self.controller),
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        self._connections = [
            (self.controller.events.status, self.model_panel.show_status),
            (self.controller.objects.changed, self.objects_panel.refresh),
            (self.controller.events.lineage, self.objects_panel.refresh),
            (self.controller.events.seeds, self.population_panel.show_seeds),
            (self.controller.events.pick, self.population_panel.show_pick),
            (self.controller.events.progress, self.run_panel.show_progress),
            (self.controller.events.run_note, self.run_panel.show_note),
            (self.controller.events.flags, self.run_panel.show_flags),
            (self.controller.events.image, self.run_panel.set_frame_count),
            (self.viewer.layers.events.inserted, self._on_layers_changed),
            (self.viewer.layers.events.removed, self._on_layers_changed),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)
        self._on_layers_changed()
        self.model_panel.apply()

    def _on_layers_changed(self, event=None) -> None:
        if event is not None and event.type == "removed":
            # React once napari has finished removing: a closing viewer removes every layer,
            # and creating layers in between would never let it finish.
            # The timer is this widget's child, so it dies with it: PySide6 deletes a closing
            # viewer's dock widgets before its layers, and the call must not reach them.
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(self._on_layer_removed)
            timer.timeout.connect(timer.deleteLater)
            timer.start(0)
            return
        if self._closed:
            return
        self.image_panel.refresh()
        self.population_panel.refresh()
        points = self.controller.points_layer
        if points is not None and self._on_click not in points.mouse_drag_callbacks:
            points.mouse_drag_callbacks.append(self._on_click)
            points.mode = "pan_zoom"

    def _on_layer_removed(self) -> None:
        if self._closed:
            return
        recreated = self.controller.recover_layers()
        if recreated:
            notify(f"Recreated {', '.join(recreated)} with its prompts: the tracker needs it for clicks.")
        self._on_layers_changed()

    def _on_click(self, layer, event):
        if event.button != 1 or layer.mode != "pan_zoom":
            return
        yield
        dragged = False
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            coords = layer.world_to_data(event.position)
            guard(lambda: self.controller.add_click(coords, positive="Shift" not in event.modifiers))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.close_tracker()
        super().closeEvent(event)

    def event(self, event) -> bool:
        # napari removes a dock widget by reparenting it to None, without closing it.
        if event.type() == QEvent.ParentChange and self.parent() is None:
            self.close_tracker()
        return super().event(event)

    def close_tracker(self) -> None:
        """Remove callbacks and stop workers (the dock is closing). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        points = self.controller.points_layer
        if points is not None and self._on_click in points.mouse_drag_callbacks:
            points.mouse_drag_callbacks.remove(self._on_click)
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self.controller.close()
