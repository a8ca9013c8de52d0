"""The "SAM 2 tracker" dock widget: panels over one :class:`TrackerController`.

The panels draw from the tracker's state and follow its events. The dock fits a laptop
screen: the image box on top, then tabs (one object at a time, all cells, the model), the
files row and a status line that wraps; the whole scrolls when the window is smaller still.
Clicks on the canvas reach the tracker through its own mouse callback on the prompts layer.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtWidgets import QFrame, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from ..plugin import TrackerController
from ._panels import ImagePanel, ModelPanel, ObjectsPanel, wrapped
from ._population_panel import PopulationPanel
from ._review_panel import ReviewPanel
from ._run_panel import FilesRow, RunPanel


class TrackerWidget(QScrollArea):
    """Click, preview, propagate through z or t, correct, undo, save."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._closed = False
        self.controller = controller = TrackerController(napari_viewer)
        self.image_panel = ImagePanel(napari_viewer, controller)
        self.model_panel = ModelPanel(controller)
        self.objects_panel = ObjectsPanel(controller)
        self.run_panel = RunPanel(napari_viewer, controller)
        self.population_panel = PopulationPanel(napari_viewer, controller)
        self.review_panel = ReviewPanel(napari_viewer, controller)
        self.status = wrapped("")
        self.tabs = QTabWidget()
        self.tabs.addTab(_stacked(self.objects_panel, self.run_panel), "Objects")
        self.tabs.addTab(_stacked(self.population_panel), "All cells")
        self.tabs.addTab(_stacked(self.review_panel), "Review")
        self.tabs.addTab(_stacked(self.model_panel), "Model")
        body = _stacked(self.image_panel, self.tabs, FilesRow(controller), self.status)
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(340)
        events = controller.events
        self._connections = [
            (events.status, self.model_panel.show_status),
            (events.status, self._show_status),
            (events.settings, self.model_panel.show_settings),
            (controller.objects.changed, self.objects_panel.refresh),
            (events.lineage, self.objects_panel.refresh),
            (events.lineage, self.population_panel.show_lineage),
            (events.seeds, self.population_panel.show_seeds),
            (events.pick, self.population_panel.show_pick),
            (events.progress, self.run_panel.show_progress),
            (events.run_note, self.run_panel.show_note),
            (events.flags, self.run_panel.show_flags),
            (events.busy, self.run_panel.set_busy),
            (events.busy, self._redraw),  # after a run, what waited for it (an image to bind)
            (events.image, self.run_panel.set_frame_count),
            (events.image, self._redraw),
            (events.image, self.population_panel.reset),
            (events.region, self.image_panel.show_region),
            (events.done, self._show_status),
            (events.review, self.review_panel.show_view),
            (events.image, self.review_panel.watch_labels),
            (events.busy, self.review_panel.watch_labels),
            (napari_viewer.layers.events.inserted, self._on_layers_changed),
            (napari_viewer.layers.events.removed, self._on_layers_changed),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)
        self._named = []  # layers whose renaming redraws the choices
        # Qt may delete this widget without closing it (napari quitting): stop the tracker
        # then too, with no reference to the widget (its labels are gone by then).
        self.destroyed.connect(
            _closer(controller, self._connections, self._named, self._redraw, self.review_panel.links)
        )
        self._redraw()
        self.model_panel.apply()

    def _show_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_layers_changed(self, event=None) -> None:
        if self._closed:
            return
        if event is not None and event.type == "removed":
            self.controller.layers_removed()  # stop using it at once
            # Recreate once napari has finished removing: a closing viewer removes every layer,
            # and creating layers in between would never let it finish. The timer is this
            # widget's child, so it dies with it.
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(self._on_layer_removed)
            timer.timeout.connect(timer.deleteLater)
            timer.start(0)
            return
        self._redraw()

    def _redraw(self, *_) -> None:
        """The choices as the viewer's layers and the tracker's state are now."""
        if self._closed:
            return
        self._watch_names()
        self.image_panel.refresh()
        self.population_panel.refresh()

    def _on_layer_removed(self) -> None:
        if self._closed:
            return
        self.controller.layers_changed()
        self._redraw()

    def _watch_names(self) -> None:
        """A layer renamed in the layer list: the choices show its new name."""
        for layer in self.viewer.layers:
            if layer not in self._named:
                layer.events.name.connect(self._redraw)
                self._named.append(layer)

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
        self.review_panel.stop()
        _closer(self.controller, self._connections, self._named, self._redraw, self.review_panel.links)()


def _stacked(*widgets) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 2)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return box


def _closer(controller, connections, named, on_name, links):
    """Disconnect everything and close the tracker; safe to call twice."""

    def close(*_):
        links.close()
        if controller.closed:
            return
        for signal, slot in connections:
            signal.disconnect(slot)
        for layer in named:
            layer.events.name.disconnect(on_name)
        controller.close()

    return close
