"""Propagation panel (directions, frame range, progress, cancel, undo, flags) and file actions."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..plugin import TrackerApi
from ._common import button, guard
from ._panels import wrapped


class RunPanel(QWidget):
    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__()
        self.viewer, self.controller = viewer, controller
        directions = QHBoxLayout()
        self.direction_buttons = {}
        for text, direction in (("Forward", "forward"), ("Backward", "backward"), ("Both", "both")):
            self.direction_buttons[direction] = button(text, lambda d=direction: self._on_propagate(d))
            directions.addWidget(self.direction_buttons[direction])
        self.from_here_button = button(
            "From here",
            lambda: self._on_propagate("forward", from_current=True),
            "Forward from the current frame (after a correction)",
        )
        directions.addWidget(self.from_here_button)
        self.limit, self.first, self.last = QCheckBox("only frames"), QSpinBox(), QSpinBox()
        for spin in (self.first, self.last):
            spin.setRange(0, 0)
        self.follow = QCheckBox("follow")
        self.follow.setToolTip("Show each frame as it is tracked: the frame slider moves with the run")
        self.follow.toggled.connect(controller.set_follow)
        frame_range = QHBoxLayout()
        for widget in (self.limit, self.first, QLabel("to"), self.last, self.follow):
            frame_range.addWidget(widget)
        self.progress, self.note = QProgressBar(), wrapped()
        self.progress.setFormat("")  # the bar shows the progress line (RunProgress.text)
        controls = QHBoxLayout()
        self.cancel_button = button(
            "Cancel", controller.cancel, "Stop after this frame; finished frames stay, and the same button resumes"
        )
        self.cancel_button.setEnabled(False)
        controls.addWidget(self.cancel_button)
        controls.addWidget(button("Undo", controller.undo, "Undo the last step on the labels layer (Ctrl-Z)"))
        self.flags = QListWidget()
        self.flags.setMaximumHeight(64)
        self.flags.setToolTip("Frames where an object was lost or its score fell: click one to go there")
        self.flags.itemClicked.connect(self._on_flag_clicked)
        layout = QVBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(directions)
        layout.addLayout(frame_range)
        layout.addWidget(self.note)
        layout.addWidget(self.progress)
        layout.addLayout(controls)
        layout.addWidget(QLabel("Frames to check (click to jump):"))
        layout.addWidget(self.flags)
        self.setLayout(layout)

    def set_frame_count(self, n: int) -> None:
        """Another image (or none): its frames, and nothing said about the last one's run."""
        for spin in (self.first, self.last):
            spin.setRange(0, max(n - 1, 0))
        self.first.setValue(0)
        self.last.setValue(max(n - 1, 0))
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.note.setText("")
        self.show_flags(self.controller.state.workspace.flags)

    def set_busy(self, busy: bool) -> None:
        """During a run only Cancel works here; the rest would be refused."""
        for widget in (*self.direction_buttons.values(), self.from_here_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _on_propagate(self, direction: str, from_current: bool = False) -> None:
        guard(lambda: self.controller.propagate(direction, from_current=from_current, frame_range=self._range()))

    def _range(self) -> tuple[int, int] | None:
        if not self.limit.isChecked():
            return None
        last = self.controller.frame_count() - 1
        return (min(self.first.value(), last), min(self.last.value(), last))

    def show_progress(self, progress) -> None:
        self.progress.setMaximum(max(progress.total, 1))
        self.progress.setValue(progress.done)
        self.progress.setFormat(progress.text().replace("%", "%%"))

    def show_note(self, text: str) -> None:
        self.note.setText(text)

    def show_flags(self, flags) -> None:
        self.flags.clear()
        for flag in flags:
            name = self.controller.objects.name(flag.object_id)
            item = QListWidgetItem(f"frame {flag.frame}: {name} {flag.reason} (score {flag.score:.1f})")
            item.setData(Qt.UserRole, flag.frame)
            self.flags.addItem(item)

    def _on_flag_clicked(self, item) -> None:
        self.controller.go_to_frame(item.data(Qt.UserRole))


class FilesRow(QWidget):
    """Save labels (TIFF + JSON), export prompts for the CLI, load prompts back."""

    def __init__(self, controller: TrackerApi) -> None:
        super().__init__()
        self.controller = controller
        row = QHBoxLayout()
        row.addWidget(button("Save labels…", self._on_save, "Label TIFF + provenance JSON"))
        row.addWidget(button("Export prompts…", self._on_export, "CSV and session history for napari-sam2 track"))
        row.addWidget(button("Load prompts…", self._on_load))
        row.setContentsMargins(0, 0, 0, 0)
        self.setLayout(row)

    def _on_save(self) -> None:
        tiff, zarr = "TIFF + JSON (*.tif *.tiff)", "Into the OME-Zarr image's labels/ (*.zarr)"
        store = self.controller.image_store()  # an image opened from OME-Zarr: its labels go there
        default, filters = ("labels.tif", f"{tiff};;{zarr}") if store is None else (str(store), f"{zarr};;{tiff}")
        path, _ = QFileDialog.getSaveFileName(self, "Save labels", default, filters)
        if path:
            guard(lambda: self.controller.save_labels(Path(path)))

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export prompts", "prompts.csv", "CSV (*.csv)")
        if path:
            guard(lambda: self.controller.export_prompts(Path(path)))

    def _on_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load prompts", "", "CSV (*.csv)")
        if path:
            guard(lambda: self.controller.load_prompts(Path(path)))
