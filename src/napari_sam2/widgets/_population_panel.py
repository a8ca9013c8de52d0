"""The "All cells" panel: seeds, a preview, one run for the whole population, corrections of
its lineage, CTC and GEFF."""

from __future__ import annotations

import re
from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from ..core.errors import Sam2InputError
from ..plugin import EVERYTHING, THRESHOLD, TrackerApi, labels_layers
from ._common import button, guard

OURS = ("SAM 2 labels", "SAM 2 seeds")


def parse_frames(text: str) -> tuple[int, ...]:
    """``"12, 30 41"`` -> ``(12, 30, 41)``; anything else is refused in one line."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        raise Sam2InputError(f"'{text}' is not a list of frame numbers (for example: 12, 30).")
    return tuple(sorted({int(p) for p in parts}))


class PopulationPanel(QGroupBox):
    """Find every cell on this frame, look at them, track them all forward, correct the lineage."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__("All cells")
        self.viewer, self.controller = viewer, controller
        self.seeder = QComboBox()
        self.seeder.setToolTip("Where the cells on this frame come from; new cells are found the same way")
        self.redetect, self.divisions = QSpinBox(), QCheckBox("split dividing cells")
        self.redetect.setRange(0, 1000)
        self.redetect.setToolTip("Look for new cells every K frames (0: never)")
        self.redetect_frames = QLineEdit()
        self.redetect_frames.setPlaceholderText("for example: 12, 30")
        self.redetect_frames.setToolTip("Also look for new cells on these frames")
        self.divisions.setChecked(True)
        self.found = QLabel("no seeds yet")
        self.preview_button = button("Preview seeds", self._on_preview, "Find the cells on this frame and show them")
        self.track_button = button("Track all cells", self._on_track, "Track every seed forward from its frame")
        self.pick = QLabel("")
        self.pick.setWordWrap(True)
        self.divide_button = button(
            "Divide…", self._on_divide, "The selected cell divides on this frame: then click each daughter once"
        )
        self.undo_division_button = button(
            "Undo division",
            lambda: guard(controller.undo_division),
            "The selected cell's division did not happen: the daughters become the mother again",
        )
        self.join_button = button(
            "Join…", self._on_join, "The selected cell continues as another: then click that cell on a later frame"
        )
        self.cancel_pick_button = button("Cancel", lambda: guard(controller.cancel_pick), "Stop waiting for clicks")
        self.cancel_pick_button.setEnabled(False)
        form = QFormLayout()
        form.addRow("seeds from", self.seeder)
        form.addRow("new cells every", self.redetect)
        form.addRow("and on frames", self.redetect_frames)
        form.addRow(self.divisions)
        form.addRow(_row(self.preview_button, self.track_button))
        form.addRow(self.found)
        form.addRow(_row(self.divide_button, self.undo_division_button, self.join_button, self.cancel_pick_button))
        form.addRow(self.pick)
        form.addRow(
            _row(
                button("Export CTC…", self._on_ctc, "Cell Tracking Challenge result folder"),
                button("Export GEFF…", self._on_geff, "Lineage graph (graph exchange file format)"),
            )
        )
        self.setLayout(form)
        self.refresh()

    def refresh(self) -> None:
        current = self.seeder.currentText()
        self.seeder.blockSignals(True)
        self.seeder.clear()
        self.seeder.addItems([THRESHOLD, EVERYTHING])
        self.seeder.addItems([layer.name for layer in labels_layers(self.viewer) if not layer.name.startswith(OURS)])
        self.seeder.setCurrentIndex(max(self.seeder.findText(current), 0))
        self.seeder.blockSignals(False)

    def _on_preview(self) -> None:
        if self.seeder.currentText() == EVERYTHING:
            self.found.setText("SAM 2 is segmenting this frame …")
        guard(lambda: self.controller.preview_seeds(self.seeder.currentText()))

    def show_seeds(self, n: int) -> None:
        self.found.setText(f"{n} seeds on this frame: Track all cells follows them")

    def _on_track(self) -> None:
        guard(
            lambda: self.controller.track_all(
                redetect_every=self.redetect.value(),
                redetect_frames=parse_frames(self.redetect_frames.text()),
                divisions=self.divisions.isChecked(),
            )
        )

    def _on_divide(self) -> None:
        guard(self.controller.begin_division)

    def _on_join(self) -> None:
        guard(self.controller.begin_join)

    def show_pick(self, text: str) -> None:
        """What the next click on the canvas does ("" once the correction is done or cancelled)."""
        self.pick.setText(text)
        self.cancel_pick_button.setEnabled(bool(text))

    def _on_ctc(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "CTC result folder", "01_RES", "Folder (*)")
        if path:
            guard(lambda: self.controller.export_ctc(Path(path)))

    def _on_geff(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "GEFF lineage", "cells.geff", "GEFF (*.geff)")
        if path:
            guard(lambda: self.controller.export_geff(Path(path)))


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
