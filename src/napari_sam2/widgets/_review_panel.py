"""The "Review" tab: the tracker's likely mistakes, most suspicious first, one at a time.

*Find likely mistakes* reviews the labels; **N** and **P** (or *Next* and *Previous*) go
from one open item to the next: the viewer jumps to the frame, centres on the cell and
selects it, and the reason is shown. The user fixes it with what exists (a click, Divide…,
Join…, a paint stroke) and the queue follows the labels: half a second after they change,
the frames that changed are measured again. *Accept* marks an item as fine.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ..plugin import TrackerApi
from ._common import button, guard
from ._panels import wrapped

KEYS = {"n": 1, "p": -1}
HINT = "Find the places where tracking most likely went wrong, then press N / P to walk through them."


class ReviewPanel(QWidget):
    """The review queue of the current labels (see the module docstring)."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__()
        self.viewer, self.controller = viewer, controller
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(500)
        self._timer.timeout.connect(lambda: guard(controller.review.refresh))
        self.find_button = button("Find likely mistakes", self._on_find, "Rank the places where tracking likely failed")
        self.summary = wrapped(HINT)
        self.list = QListWidget()
        self.list.setMaximumHeight(120)
        self.list.itemActivated.connect(self._on_activated)
        self.list.itemClicked.connect(self._on_activated)
        self.reason = wrapped("")
        self.previous_button = button("Previous (P)", lambda: self._on_step(-1), "The previous open item")
        self.next_button = button("Next (N)", lambda: self._on_step(1), "The next open item")
        self.accept_button = button("Accept", self._on_accept, "This one is fine: take it off the queue")
        self.reopen_button = button("Reopen", self._on_reopen, "Put the chosen accepted item back in the queue")
        row = QHBoxLayout()
        for widget in (self.previous_button, self.next_button, self.accept_button, self.reopen_button):
            row.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.find_button, self.summary, self.list):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.reason)
        self.links = Links(viewer)
        self.links.bind_keys({key: self._key_handler(d) for key, d in KEYS.items()})
        self.show_view(controller.review.view)

    # -- the controller's events -------------------------------------------------------------------
    def show_view(self, view) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for item in view.items:
            done = item.key in view.reviewed
            row = QListWidgetItem(f"{'✓ ' if done else ''}frame {item.frame} · cell {item.cell} · {_kind(item.kind)}")
            row.setToolTip(item.reason)
            row.setData(Qt.UserRole, item)
            if done:
                row.setForeground(Qt.gray)
            self.list.addItem(row)
            if item == view.current:
                self.list.setCurrentItem(row)
        self.list.blockSignals(False)
        if not view.computed:
            self.summary.setText(HINT)
        elif not view.items:
            self.summary.setText("No likely mistakes found. Corrections are reviewed again as you make them.")
        else:
            accepted = len(view.items) - len(view.open_items)
            self.summary.setText(f"{len(view.open_items)} to look at, {accepted} accepted (of {len(view.items)}).")
        self.reason.setText(view.current.reason if view.current is not None else "")
        for widget in (self.previous_button, self.next_button, self.accept_button):
            widget.setEnabled(bool(view.open_items))

    def watch_labels(self, *_) -> None:
        """Follow the edits of the labels the tracker now writes into."""
        controller = self.controller
        self.links.bind_layers([controller.labels_layer, controller.points_layer, controller.shapes_layer])
        if self.links.watch(controller.labels_layer, self._soon):
            self._soon()

    def _soon(self, *_) -> None:
        if self.controller.review.view.computed:
            self._timer.start()

    def stop(self) -> None:
        """The dock is closing: no refresh after it."""
        self._timer.stop()
        self.links.close()

    # -- the user's moves ---------------------------------------------------------------------------
    def _on_find(self) -> None:
        guard(self.controller.review.find)
        guard(lambda: self.controller.review.step(1))

    def _on_step(self, direction: int) -> None:
        if not self.controller.review.view.computed:
            self._on_find()
            return
        guard(lambda: self.controller.review.step(direction))

    def _on_activated(self, row) -> None:
        guard(lambda: self.controller.review.go_to(row.data(Qt.UserRole)))

    def _on_accept(self) -> None:
        guard(self.controller.review.accept)

    def _on_reopen(self) -> None:
        row = self.list.currentItem()
        if row is not None:
            guard(lambda: self.controller.review.reopen(row.data(Qt.UserRole)))

    def _key_handler(self, direction: int):
        def on_key(_viewer) -> None:
            self._on_step(direction)

        return on_key


def _kind(kind: str) -> str:
    return kind.replace("_", " ")


class Links:
    """The panel's ties to napari (its keys, the labels' events), plain Python so that they can
    be undone after Qt has deleted the panel (napari quitting)."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.handlers: dict = {}
        self.keys_before: list[tuple[object, str, object]] = []  # (viewer or layer, key, its binding)
        self.keyed_layers: list = []
        self.watched, self.slot = None, None

    def bind_keys(self, handlers: dict) -> None:
        self.handlers = handlers
        self._bind(self.viewer)

    def bind_layers(self, layers) -> None:
        """N and P also on the tracker's own layers, whose modes (Points: add, Labels: paint)
        would take the letter first while one of them is the active layer."""
        self._unbind(lambda owner: owner is not self.viewer)
        self.keyed_layers = [layer for layer in layers if layer is not None]
        for layer in self.keyed_layers:
            self._bind(layer)

    def _bind(self, owner) -> None:
        for key, handler in self.handlers.items():
            self.keys_before.append((owner, key, owner.bind_key(key, handler, overwrite=True)))

    def _unbind(self, which) -> None:
        keep = []
        for owner, key, before in reversed(self.keys_before):
            if which(owner):
                owner.bind_key(key, before, overwrite=True)
            else:
                keep.append((owner, key, before))
        self.keys_before = keep[::-1]

    def watch(self, labels, slot) -> bool:
        """Call ``slot`` when ``labels`` are painted or refreshed; False if already so."""
        if labels is self.watched:
            return False
        self.unwatch()
        if labels is not None:
            labels.events.paint.connect(slot)
            labels.events.set_data.connect(slot)
            self.watched, self.slot = labels, slot
        return True

    def unwatch(self) -> None:
        if self.watched is not None:
            self.watched.events.paint.disconnect(self.slot)
            self.watched.events.set_data.disconnect(self.slot)
        self.watched, self.slot = None, None

    def close(self) -> None:
        """Undo every tie: N and P do again what they did before the panel. Safe twice."""
        self.unwatch()
        self._unbind(lambda owner: True)
        self.keyed_layers = []
