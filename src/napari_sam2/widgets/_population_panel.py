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
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from ..core.errors import Sam2InputError
from ..plugin import OURS, SAM_SEEDS, THRESHOLD_SEEDS, TrackerApi, labels_layers
from ._common import button, guard
from ._panels import wrapped

SEEDERS = ((THRESHOLD_SEEDS, "threshold (bright nuclei)"), (SAM_SEEDS, "SAM 2 (segment everything)"))


def parse_frames(text: str) -> tuple[int, ...]:
    """``"12, 30 41"`` -> ``(12, 30, 41)``; anything else is refused in one line."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        raise Sam2InputError(f"'{text}' is not a list of frame numbers (for example: 12, 30).")
    return tuple(sorted({int(p) for p in parts}))


class PopulationPanel(QWidget):
    """Find every cell on this frame, look at them, track them all forward, correct the lineage."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__()
        self.viewer, self.controller = viewer, controller
        cells = controller.cells
        self.seeder = QComboBox()
        self.seeder.setToolTip("Where the cells on this frame come from; new cells are found the same way")
        self.redetect, self.divisions = QSpinBox(), QCheckBox("split dividing cells")
        self.redetect.setRange(0, 1000)
        self.redetect.setToolTip("Look for new cells every K frames (0: never)")
        self.redetect_frames = QLineEdit()
        self.redetect_frames.setPlaceholderText("for example: 12, 30")
        self.redetect_frames.setToolTip("Also look for new cells on these frames")
        self.divisions.setChecked(True)
        self.found = wrapped("no seeds yet")
        self.preview_button = button("Preview seeds", self._on_preview, "Find the cells on this frame and show them")
        self.track_button = button("Track all cells", self._on_track, "Track every seed forward from its frame")
        self.pick = wrapped()
        self.divide_button = button(
            "Divide…", self._on_divide, "The selected cell divides on this frame: then click each daughter once"
        )
        self.undo_division_button = button(
            "Undo division",
            lambda: guard(cells.undo_division),
            "The selected cell's division did not happen: the daughters become the mother again",
        )
        self.join_button = button(
            "Join…", self._on_join, "The selected cell continues as another: then click that cell on a later frame"
        )
        self.cancel_pick_button = button("Cancel", lambda: guard(cells.cancel_pick), "Stop waiting for clicks")
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
        """The seeders: threshold, SAM 2, and each Labels layer that is not the tracker's own."""
        current = self.seeder.currentData()
        self.seeder.blockSignals(True)
        self.seeder.clear()
        for seeder, text in SEEDERS:
            self.seeder.addItem(text, seeder)
        for layer in labels_layers(self.viewer):
            if not layer.name.startswith(OURS):
                self.seeder.addItem(f"labels: {layer.name}", layer.name)
        self.seeder.setCurrentIndex(max(self.seeder.findData(current), 0))
        self.seeder.blockSignals(False)

    def _on_preview(self) -> None:
        guard(lambda: self.controller.cells.preview_seeds(self.seeder.currentData()))

    def show_seeds(self, text: str) -> None:
        self.found.setText(text)

    def show_lineage(self) -> None:
        """After a run or a correction: the lineage as it is now, not the seeds of before."""
        lineage = self.controller.state.workspace.lineage
        if len(lineage):
            divided = sum(1 for t in lineage.tracks.values() if t.parent)
            self.found.setText(f"{len(lineage)} tracks in the lineage ({divided} from divisions)")

    def reset(self, *_) -> None:
        """Another image: nothing previewed, nothing waited for."""
        self.found.setText("no seeds yet")
        self.show_pick("")
        self.show_lineage()

    def _on_track(self) -> None:
        guard(
            lambda: self.controller.cells.track_all(
                redetect_every=self.redetect.value(),
                redetect_frames=parse_frames(self.redetect_frames.text()),
                divisions=self.divisions.isChecked(),
            )
        )

    def _on_divide(self) -> None:
        guard(self.controller.cells.begin_division)

    def _on_join(self) -> None:
        guard(self.controller.cells.begin_join)

    def show_pick(self, text: str) -> None:
        """What the next click on the canvas does ("" once the correction is done or cancelled)."""
        self.pick.setText(text)
        self.cancel_pick_button.setEnabled(bool(text))

    def _on_ctc(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "CTC result folder", "01_RES", "Folder (*)")
        if path:
            guard(lambda: self.controller.cells.export_ctc(Path(path)))

    def _on_geff(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "GEFF lineage", "cells.geff", "GEFF (*.geff)")
        if path:
            guard(lambda: self.controller.cells.export_geff(Path(path)))


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
