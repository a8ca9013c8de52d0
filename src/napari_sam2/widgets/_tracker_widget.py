"""The "SAM 2 tracker" dock widget: a thin Qt view over :class:`TrackerController`."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import Sam2InputError
from ..core.models import DEFAULT_MODEL, REGISTRY, cached_models
from ..napari._actions import export_prompts, load_prompts, save_labels
from ..napari._controller import TrackerController, notify, plain_error
from ..napari._layer_source import frame_axes

LEGEND = (
    "<b>Click</b> on the image: positive point for the selected object<br>"
    "<b>Shift+click</b>: negative point (remove this area)<br>"
    "Draw a rectangle in <i>SAM 2 boxes</i>: box prompt<br>"
    "Drag: pan. Each prompt previews its frame at once."
)


def _button(text: str, slot, tip: str = "") -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    button.setToolTip(tip)
    return button


class TrackerWidget(QWidget):
    """Click, preview, propagate through z or t, correct, undo, save."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.controller = TrackerController(napari_viewer)
        self.controller.listeners["status"].append(self._on_status)
        self.controller.listeners["objects"].append(self._on_objects_changed)
        self.controller.listeners["progress"].append(self._on_progress)
        self.controller.listeners["flags"].append(self._on_flags)
        layout = QVBoxLayout(self)
        for group in (self._input_group(), self._model_group(), self._objects_group(), self._run_group()):
            layout.addWidget(group)
        layout.addWidget(self._files_row())
        layout.addStretch(1)
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self._on_layers_changed()

    # -- building -------------------------------------------------------------------------
    def _input_group(self) -> QGroupBox:
        box, form = QGroupBox("Image"), QFormLayout()
        self.image_combo, self.axis_combo = QComboBox(), QComboBox()
        self.image_combo.currentIndexChanged.connect(self._on_image_chosen)
        self.axis_combo.currentIndexChanged.connect(self._on_axis_chosen)
        form.addRow("layer", self.image_combo)
        form.addRow("propagate along", self.axis_combo)
        box.setLayout(form)
        return box

    def _model_group(self) -> QGroupBox:
        box, form = QGroupBox("Model"), QFormLayout()
        self.model_combo, self.device_combo = QComboBox(), QComboBox()
        self.model_combo.setEditable(True)  # a hub id or a local directory can be typed in
        cached = cached_models()
        for info in REGISTRY.values():
            state = "cached" if info.hub_id in cached else f"download {info.download_mb} MB"
            self.model_combo.addItem(f"{info.name}  ({state})", info.name)
        self.model_combo.addItem("random:sam2.1-tiny  (untrained, offline trial)", "random:sam2.1-tiny")
        self.model_combo.setCurrentIndex(self.model_combo.findData(DEFAULT_MODEL))
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.model_status = QLabel("not loaded")
        self.model_status.setWordWrap(True)
        form.addRow("model", self.model_combo)
        form.addRow("device", self.device_combo)
        form.addRow(_button("Load model", self._on_load_model, "Load now; otherwise it loads on the first click"))
        form.addRow(self.model_status)
        box.setLayout(form)
        return box

    def _objects_group(self) -> QGroupBox:
        box, layout = QGroupBox("Objects"), QVBoxLayout()
        self.object_list = QListWidget()
        self.object_list.setMaximumHeight(120)
        self.object_list.currentItemChanged.connect(self._on_object_selected)
        self.object_list.itemChanged.connect(self._on_object_renamed)
        row = QHBoxLayout()
        row.addWidget(_button("Add", self._on_add_object, "A new object with an unused label id"))
        row.addWidget(_button("Delete", self._on_delete_object, "Remove the object, its prompts and its labels"))
        row.addWidget(
            _button("Use painted slice", self._on_use_painted, "This frame's painted pixels as a mask prompt")
        )
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        layout.addWidget(self.object_list)
        layout.addLayout(row)
        layout.addWidget(legend)
        box.setLayout(layout)
        return box

    def _run_group(self) -> QGroupBox:
        box, layout = QGroupBox("Propagate"), QVBoxLayout()
        row = QHBoxLayout()
        for text, direction in (("Forward", "forward"), ("Backward", "backward"), ("Both", "both")):
            row.addWidget(_button(text, lambda _=False, d=direction: self._on_propagate(d)))
        row.addWidget(_button("From here", self._on_propagate_from_here, "Forward from the current frame"))
        self.progress, self.progress_label = QProgressBar(), QLabel("")
        controls = QHBoxLayout()
        controls.addWidget(_button("Cancel", self._on_cancel, "Stop after the current frame; finished frames stay"))
        controls.addWidget(_button("Undo last run", self._on_undo, "Same as Ctrl-Z on the labels layer"))
        self.flag_list = QListWidget()
        self.flag_list.setMaximumHeight(90)
        self.flag_list.itemClicked.connect(self._on_flag_clicked)
        for item in (row, self.progress, self.progress_label, controls):
            layout.addLayout(item) if isinstance(item, QHBoxLayout) else layout.addWidget(item)
        layout.addWidget(QLabel("Frames to check (click to jump):"))
        layout.addWidget(self.flag_list)
        box.setLayout(layout)
        return box

    def _files_row(self) -> QWidget:
        widget, row = QWidget(), QHBoxLayout()
        row.addWidget(_button("Save labels…", self._on_save, "Label TIFF + provenance JSON"))
        row.addWidget(_button("Export prompts…", self._on_export, "CSV for napari-sam2 track"))
        row.addWidget(_button("Load prompts…", self._on_load_prompts))
        widget.setLayout(row)
        return widget

    # -- slots ------------------------------------------------------------------------------
    def _guard(self, action) -> None:
        try:
            action()
        except Sam2InputError as exc:
            notify(str(exc), error=True)
        except Exception as exc:  # never a frozen widget; log the bug
            notify(plain_error(exc), error=True)
            raise

    def _image_layers(self):
        return [layer for layer in self.viewer.layers if layer._type_string == "image" and layer.ndim >= 3]

    def _on_layers_changed(self, event=None) -> None:
        current = self.image_combo.currentText()
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems([layer.name for layer in self._image_layers()])
        self.image_combo.blockSignals(False)
        index = self.image_combo.findText(current)
        self.image_combo.setCurrentIndex(max(index, 0))
        if self.image_combo.count() and (self.controller.image_layer is None or index < 0):
            self._on_image_chosen()

    def _on_image_chosen(self, *_) -> None:
        layers = {layer.name: layer for layer in self._image_layers()}
        layer = layers.get(self.image_combo.currentText())
        if layer is None:
            return
        self._guard(lambda: self.controller.set_image_layer(layer))
        self._install_click_handler()
        self.axis_combo.blockSignals(True)
        self.axis_combo.clear()
        for axis in frame_axes(layer, self.viewer):
            name = str(self.viewer.dims.axis_labels[axis + self.viewer.dims.ndim - layer.ndim])
            label = f"axis {axis}" if name.lstrip("-").isdigit() else f"axis {axis} ({name})"
            self.axis_combo.addItem(
                f"{label}, {layer.data.shape[axis] if not layer.multiscale else layer.data[0].shape[axis]} frames", axis
            )
        self.axis_combo.setCurrentIndex(max(self.axis_combo.findData(self.controller.frame_axis), 0))
        self.axis_combo.blockSignals(False)

    def _on_axis_chosen(self, *_) -> None:
        axis = self.axis_combo.currentData()
        if axis is not None and self.controller.image_layer is not None:
            self._guard(lambda: self.controller.set_image_layer(self.controller.image_layer, frame_axis=axis))

    def _install_click_handler(self) -> None:
        points = self.controller.points_layer
        if points is not None and self._on_click not in points.mouse_drag_callbacks:
            points.mouse_drag_callbacks.append(self._on_click)
            points.mode = "pan_zoom"

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
            self._guard(lambda: self.controller.add_click(coords, positive="Shift" not in event.modifiers))

    def _on_load_model(self) -> None:
        spec = self.model_combo.currentData() or self.model_combo.currentText().strip()
        if self.model_combo.currentText() != self.model_combo.itemText(self.model_combo.currentIndex()):
            spec = self.model_combo.currentText().strip()  # typed in: a hub id or a directory
        self.controller.set_model(spec, self.device_combo.currentText())
        self._guard(self.controller.load_model)

    def _on_status(self, text: str) -> None:
        self.model_status.setText(text)

    def _on_add_object(self) -> None:
        self._guard(self.controller.add_object)

    def _on_delete_object(self) -> None:
        item = self.object_list.currentItem()
        if item is not None:
            self._guard(lambda: self.controller.delete_object(item.data(Qt.UserRole)))

    def _on_use_painted(self) -> None:
        self._guard(self.controller.use_painted_slice)

    def _on_objects_changed(self) -> None:
        self.object_list.blockSignals(True)
        self.object_list.clear()
        for obj, name in sorted(self.controller.objects.items()):
            item = QListWidgetItem(f"{name}")
            pixmap = QPixmap(14, 14)
            pixmap.fill(QColor(*(int(255 * c) for c in self.controller.colour(obj))))
            item.setIcon(QIcon(pixmap))
            item.setData(Qt.UserRole, obj)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setToolTip(f"label id {obj}")
            self.object_list.addItem(item)
            if obj == self.controller.selected_object:
                self.object_list.setCurrentItem(item)
        self.object_list.blockSignals(False)

    def _on_object_selected(self, item, _previous=None) -> None:
        if item is not None:
            self.controller.select_object(item.data(Qt.UserRole))

    def _on_object_renamed(self, item) -> None:
        self.controller.objects[item.data(Qt.UserRole)] = item.text()

    def _on_propagate(self, direction: str) -> None:
        self._guard(lambda: self.controller.propagate(direction))

    def _on_propagate_from_here(self) -> None:
        self._guard(lambda: self.controller.propagate("forward", from_current=True))

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"frame {done}/{total}" + (f", about {eta:.0f} s left" if done < total else ""))

    def _on_cancel(self) -> None:
        self.controller.cancel()

    def _on_undo(self) -> None:
        self.controller.undo_last_run()

    def _on_flags(self, flags) -> None:
        self.flag_list.clear()
        for flag in flags:
            item = QListWidgetItem(f"frame {flag.frame}: {self.controller.objects.get(flag.object_id)} {flag.reason}")
            item.setData(Qt.UserRole, flag.frame)
            self.flag_list.addItem(item)

    def _on_flag_clicked(self, item) -> None:
        self.viewer.dims.set_current_step(self.controller.frame_axis, item.data(Qt.UserRole))

    def _on_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save labels", "labels.tif", "TIFF (*.tif *.tiff)")
        if path:
            self._guard(lambda: save_labels(self.controller, Path(path)))

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export prompts", "prompts.csv", "CSV (*.csv)")
        if path:
            self._guard(lambda: export_prompts(self.controller, Path(path)))

    def _on_load_prompts(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load prompts", "", "CSV (*.csv)")
        if path:
            self._guard(lambda: load_prompts(self.controller, Path(path)))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.close_tracker()
        super().closeEvent(event)

    def close_tracker(self) -> None:
        """Remove callbacks and stop workers (also called when the dock closes)."""
        points = self.controller.points_layer
        if points is not None and self._on_click in points.mouse_drag_callbacks:
            points.mouse_drag_callbacks.remove(self._on_click)
        self.viewer.layers.events.inserted.disconnect(self._on_layers_changed)
        self.viewer.layers.events.removed.disconnect(self._on_layers_changed)
        self.controller.close()
