"""The "All cells" panel: seeds, a preview, one run for the whole population, CTC and GEFF."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox

from ..plugin import EVERYTHING, THRESHOLD, TrackerApi, labels_layers
from ._common import button, guard

OURS = ("SAM 2 labels", "SAM 2 seeds")


class PopulationPanel(QGroupBox):
    """Find every cell on this frame, look at them, then track them all forward."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__("All cells")
        self.viewer, self.controller = viewer, controller
        self.seeder = QComboBox()
        self.seeder.setToolTip("Where the cells on this frame come from")
        self.redetect, self.divisions = QSpinBox(), QCheckBox("split dividing cells")
        self.redetect.setRange(0, 1000)
        self.redetect.setToolTip("Look for new cells every K frames (0: never)")
        self.divisions.setChecked(True)
        self.found = QLabel("no seeds yet")
        self.preview_button = button("Preview seeds", self._on_preview, "Find the cells on this frame and show them")
        self.track_button = button("Track all cells", self._on_track, "Track every seed forward from its frame")
        exports = QHBoxLayout()
        exports.addWidget(button("Export CTC…", self._on_ctc, "Cell Tracking Challenge result folder"))
        exports.addWidget(button("Export GEFF…", self._on_geff, "Lineage graph (graph exchange file format)"))
        runs = QHBoxLayout()
        runs.addWidget(self.preview_button)
        runs.addWidget(self.track_button)
        form = QFormLayout()
        form.addRow("seeds from", self.seeder)
        form.addRow("new cells every", self.redetect)
        form.addRow(self.divisions)
        form.addRow(runs)
        form.addRow(self.found)
        form.addRow(exports)
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
                redetect_every=self.redetect.value(), divisions=self.divisions.isChecked()
            )
        )

    def _on_ctc(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "CTC result folder", "01_RES", "Folder (*)")
        if path:
            guard(lambda: self.controller.export_ctc(Path(path)))

    def _on_geff(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "GEFF lineage", "cells.geff", "GEFF (*.geff)")
        if path:
            guard(lambda: self.controller.export_geff(Path(path)))
