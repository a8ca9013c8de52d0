"""Image, model and objects panels of the tracker widget."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from ..core.diskcache import default_root
from ..core.models import DEFAULT_MODEL, REGISTRY, cached_models
from ..plugin import TrackerApi, axis_name, frame_axes, image_layers, is_single_image, labels_layers, layer_data
from ._common import button, guard

NEW_LABELS = "new labels layer"
LEGEND = (
    "<b>Click</b> on the image: positive point for the selected object<br>"
    "<b>Shift+click</b>: negative point (remove this area)<br>"
    "Draw a rectangle in <i>SAM 2 boxes</i>: box prompt<br>"
    "Drag: pan. Each prompt previews its frame at once."
)


class ImagePanel(QGroupBox):
    """Which image, which axis, which labels layer, and an optional region of interest."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__("Image")
        self.viewer, self.controller = viewer, controller
        self.image_combo, self.axis_combo, self.labels_combo = QComboBox(), QComboBox(), QComboBox()
        self.region_label = QLabel("whole frame")
        self.image_combo.currentIndexChanged.connect(self._on_image_chosen)
        self.axis_combo.currentIndexChanged.connect(self._on_axis_chosen)
        self.labels_combo.activated.connect(self._on_labels_chosen)
        region = QHBoxLayout()
        region.addWidget(button("Draw region", self._on_draw_region, "Draw a rectangle to track inside"))
        region.addWidget(button("Use region", self._on_use_region, "Small cells get more of the model's resolution"))
        region.addWidget(button("Whole frame", self._on_clear_region))
        form = QFormLayout()
        form.addRow("layer", self.image_combo)
        form.addRow("propagate along", self.axis_combo)
        form.addRow("write into", self.labels_combo)
        form.addRow("region", self.region_label)
        form.addRow(region)
        self.setLayout(form)

    def image_layers(self):
        return image_layers(self.viewer)

    def refresh(self) -> None:
        current = self.image_combo.currentText()
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems([layer.name for layer in self.image_layers()])
        self.image_combo.blockSignals(False)
        index = self.image_combo.findText(current)
        self.image_combo.setCurrentIndex(max(index, 0))
        if self.image_combo.count() and (self.controller.image_layer is None or index < 0):
            self._on_image_chosen()
        self._refresh_labels_choice()

    def _refresh_labels_choice(self) -> None:
        self.labels_combo.clear()
        self.labels_combo.addItem(NEW_LABELS)
        names = [layer.name for layer in labels_layers(self.viewer)]
        self.labels_combo.addItems(names)
        if self.controller.labels_layer is not None:
            self.labels_combo.setCurrentIndex(max(self.labels_combo.findText(self.controller.labels_layer.name), 0))

    def _on_image_chosen(self, *_) -> None:
        layer = {layer.name: layer for layer in self.image_layers()}.get(self.image_combo.currentText())
        if layer is None:
            return
        guard(lambda: self.controller.set_image_layer(layer))
        self.axis_combo.blockSignals(True)
        self.axis_combo.clear()
        if is_single_image(layer):
            self.axis_combo.addItem("single image (one frame)", None)
        for axis in frame_axes(layer, self.viewer) if not is_single_image(layer) else ():
            frames = layer_data(layer).shape[axis]
            self.axis_combo.addItem(f"{axis_name(layer, self.viewer, axis)}, {frames} frames", axis)
        self.axis_combo.setCurrentIndex(max(self.axis_combo.findData(self.controller.frame_axis), 0))
        self.axis_combo.blockSignals(False)
        self._refresh_labels_choice()

    def _on_axis_chosen(self, *_) -> None:
        axis = self.axis_combo.currentData()
        if axis is not None and self.controller.image_layer is not None:
            guard(lambda: self.controller.set_image_layer(self.controller.image_layer, frame_axis=axis))

    def _on_labels_chosen(self, *_) -> None:
        name = self.labels_combo.currentText()
        if name != NEW_LABELS:
            guard(lambda: self.controller.use_labels_layer(self.viewer.layers[name]))

    def _on_draw_region(self) -> None:
        guard(self.controller.add_region_layer)

    def _on_use_region(self) -> None:
        guard(self.controller.use_region)
        roi = self.controller.roi
        self.region_label.setText(
            "whole frame" if roi is None else f"rows {roi[0]}–{roi[2]}, columns {roi[1]}–{roi[3]}"
        )

    def _on_clear_region(self) -> None:
        guard(self.controller.clear_region)
        self.region_label.setText("whole frame")


class ModelPanel(QGroupBox):
    """Model name (registry, hub id, directory or Meta .pt checkpoint), device, and loading status."""

    def __init__(self, controller: TrackerApi) -> None:
        super().__init__("Model")
        self.controller = controller
        self.model_combo, self.device_combo = QComboBox(), QComboBox()
        self.model_combo.setEditable(True)  # a hub id, a local directory or a .pt file can be typed in
        cached = cached_models()
        for info in REGISTRY.values():
            state = "cached" if info.hub_id in cached else f"download {info.download_mb} MB"
            self.model_combo.addItem(f"{info.name}  ({state})", info.name)
        self.model_combo.addItem("random:sam2.1-tiny  (untrained, offline trial)", "random:sam2.1-tiny")
        self.model_combo.setCurrentIndex(self.model_combo.findData(DEFAULT_MODEL))
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.ahead_box = QCheckBox("encode frames ahead while idle")
        self.ahead_box.setChecked(controller.settings.encode_ahead)
        self.ahead_box.setToolTip("Later clicks and propagation on encoded frames skip the image encoder")
        self.disk_box = QCheckBox("keep encoded frames on disk")
        self.disk_box.setChecked(controller.settings.disk_cache)
        self.disk_box.setToolTip(f"Reopening this stack skips the image encoder. Folder: {default_root()}")
        self.ahead_box.toggled.connect(lambda on: guard(lambda: controller.set_caching(encode_ahead=on)))
        self.disk_box.toggled.connect(lambda on: guard(lambda: controller.set_caching(disk_cache=on)))
        self.status = QLabel("not loaded: loads on the first click, or now")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("model", self.model_combo)
        form.addRow("device", self.device_combo)
        form.addRow(self.ahead_box)
        form.addRow(self.disk_box)
        row = QHBoxLayout()
        row.addWidget(button("Load model", self._on_load, "Download (first time) and load in the background"))
        row.addWidget(
            button(
                "Checkpoint…", self._on_checkpoint, "Use a SAM 2 checkpoint in Meta's format (.pt), e.g. a fine-tune"
            )
        )
        form.addRow(row)
        form.addRow(self.status)
        self.setLayout(form)
        self.model_combo.currentIndexChanged.connect(lambda *_: self.apply())
        self.device_combo.currentIndexChanged.connect(lambda *_: self.apply())

    def spec(self) -> str:
        text = self.model_combo.currentText().strip()
        if text == self.model_combo.itemText(self.model_combo.currentIndex()):
            return self.model_combo.currentData()
        return text  # typed in: a hub id or a directory

    def apply(self) -> None:
        self.controller.set_model(self.spec(), self.device_combo.currentText())

    def choose_model(self, spec: str) -> None:
        """Select a registry entry, or type in a hub id or directory, as a user would."""
        index = self.model_combo.findData(spec)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
        else:
            self.model_combo.setEditText(spec)
        self.apply()

    def _on_load(self) -> None:
        self.apply()
        guard(self.controller.load_model)

    def _on_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SAM 2 checkpoint", "", "Checkpoints (*.pt *.pth *.ckpt)")
        if path:
            self.choose_model(path)

    def show_status(self, text: str) -> None:
        self.status.setText(text)


class ObjectsPanel(QGroupBox):
    """The tracked objects, coloured like their labels: add, select, rename, delete."""

    def __init__(self, controller: TrackerApi) -> None:
        super().__init__("Objects")
        self.controller = controller
        self._renaming = False
        self.list = QListWidget()
        self.list.setMaximumHeight(120)
        self.list.currentItemChanged.connect(self._on_selected)
        self.list.itemChanged.connect(self._on_renamed)
        row = QHBoxLayout()
        self.add_button = button("Add", lambda: guard(controller.add_object), "A new object with an unused label id")
        row.addWidget(self.add_button)
        row.addWidget(button("Delete", self._on_delete, "Remove the object, its prompts and its labels"))
        row.addWidget(
            button(
                "Use painted slice",
                lambda: guard(controller.use_painted_slice),
                "The selected object's painted pixels on this frame as a mask prompt",
            )
        )
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        layout = QVBoxLayout()
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addWidget(legend)
        self.setLayout(layout)

    def refresh(self) -> None:
        if self._renaming:  # no refresh inside the list's own signal
            return
        self.list.blockSignals(True)
        self.list.clear()
        for obj, name in self.controller.objects.items():
            summary = self.controller.track_summary(obj)
            item = QListWidgetItem(f"{name}  ({summary})" if summary else name)
            pixmap = QPixmap(14, 14)
            pixmap.fill(QColor(*(int(255 * c) for c in self.controller.colour(obj))))
            item.setIcon(QIcon(pixmap))
            item.setData(Qt.UserRole, obj)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setToolTip(f"label id {obj}; double-click to rename")
            self.list.addItem(item)
            if obj == self.controller.objects.selected:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _on_selected(self, item, _previous=None) -> None:
        if item is not None:
            self.controller.select_object(item.data(Qt.UserRole))

    def _on_renamed(self, item) -> None:
        self._renaming = True
        try:
            self.controller.rename_object(item.data(Qt.UserRole), item.text().split("  (")[0])  # not the summary
        finally:
            self._renaming = False

    def _on_delete(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            guard(lambda: self.controller.delete_object(item.data(Qt.UserRole)))
