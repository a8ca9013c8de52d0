"""Image, model and objects panels of the tracker widget. Each draws from the tracker's state
and asks the tracker for every change; a change refused (during a run) is drawn back."""

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
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..core.diskcache import default_root
from ..core.models import REGISTRY, cached_models
from ..plugin import TrackerApi, axis_name, frame_axes, image_layers, is_single_image, labels_layers, layer_data
from ._common import button, guard

NEW_LABELS = "new labels layer"
LEGEND = "<b>Click</b>: a point on the selected object · <b>Shift+click</b>: not this · drag: pan"
LEGEND_TIP = (
    "Each prompt previews its frame at once. Draw a rectangle in the 'SAM 2 boxes' layer for a box "
    "prompt; select points and press Delete to remove them."
)


def wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _combo() -> QComboBox:
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo


class ImagePanel(QGroupBox):
    """Which image, which axis, which labels layer, and an optional region of interest."""

    def __init__(self, viewer, controller: TrackerApi) -> None:
        super().__init__("Image")
        self.viewer, self.controller = viewer, controller
        self.image_combo, self.axis_combo, self.labels_combo = _combo(), _combo(), _combo()
        self.region_label = QLabel("whole frame")
        self.region_label.setToolTip("Draw region, then Use region: track inside a rectangle")
        self.image_combo.activated.connect(self._on_image_chosen)
        self.axis_combo.activated.connect(self._on_axis_chosen)
        self.labels_combo.activated.connect(self._on_labels_chosen)
        region = QHBoxLayout()
        region.addWidget(self.region_label, 1)
        region.addWidget(button("Draw", self._on_draw_region, "Draw a rectangle to track inside"))
        region.addWidget(button("Use", self._on_use_region, "Track inside it: small cells get more of the input"))
        region.addWidget(button("Whole", self._on_clear_region, "Track the whole frame"))
        form = QFormLayout()
        form.setVerticalSpacing(3)
        form.addRow("layer", self.image_combo)
        form.addRow("propagate along", self.axis_combo)
        form.addRow("write into", self.labels_combo)
        form.addRow("region", region)
        self.setLayout(form)

    def refresh(self) -> None:
        """Draw the choices from the viewer's layers and the tracker's state; bind the first
        image when the tracker has none."""
        images = image_layers(self.viewer)
        if self.controller.image_layer is None and images and not self.controller.propagating:
            guard(lambda: self.controller.set_image_layer(images[0]))  # after a run, if one goes on
        bound = self.controller.image_layer
        _fill(self.image_combo, [layer.name for layer in images], bound.name if bound is not None else None)
        self._refresh_axes()
        names = [NEW_LABELS] + [layer.name for layer in labels_layers(self.viewer)]
        labels = self.controller.labels_layer
        _fill(self.labels_combo, names, labels.name if labels is not None else NEW_LABELS)

    def _refresh_axes(self) -> None:
        layer, combo = self.controller.image_layer, self.axis_combo
        combo.clear()
        if layer is None:
            return
        if is_single_image(layer):
            combo.addItem("single image (one frame)", None)
            return
        for axis in frame_axes(layer, self.viewer):
            frames = layer_data(layer).shape[axis]
            combo.addItem(f"{axis_name(layer, self.viewer, axis)}, {frames} frames", axis)
        combo.setCurrentIndex(max(combo.findData(self.controller.frame_axis), 0))

    def _on_image_chosen(self, *_) -> None:
        layer = {layer.name: layer for layer in image_layers(self.viewer)}.get(self.image_combo.currentText())
        if layer is not None:
            guard(lambda: self.controller.set_image_layer(layer))
        self.refresh()  # the state as it is now, a refused change included

    def _on_axis_chosen(self, *_) -> None:
        axis = self.axis_combo.currentData()
        if axis is not None and self.controller.image_layer is not None:
            guard(lambda: self.controller.set_image_layer(self.controller.image_layer, frame_axis=axis))
        self.refresh()

    def _on_labels_chosen(self, *_) -> None:
        name = self.labels_combo.currentText()
        if name != NEW_LABELS and name in self.viewer.layers:
            guard(lambda: self.controller.use_labels_layer(self.viewer.layers[name]))
        self.refresh()

    def _on_draw_region(self) -> None:
        guard(self.controller.add_region_layer)

    def _on_use_region(self) -> None:
        guard(self.controller.use_region)

    def _on_clear_region(self) -> None:
        guard(self.controller.clear_region)

    def show_region(self, roi) -> None:
        self.region_label.setText(
            "whole frame" if roi is None else f"rows {roi[0]}–{roi[2]}, columns {roi[1]}–{roi[3]}"
        )


def _fill(combo: QComboBox, names: list[str], current: str | None) -> None:
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    combo.setCurrentIndex(max(combo.findText(current), 0) if current is not None else -1)
    combo.blockSignals(False)


class ModelPanel(QGroupBox):
    """Model name (registry, hub id, directory or Meta .pt checkpoint), device, and loading status."""

    def __init__(self, controller: TrackerApi) -> None:
        super().__init__("Model")
        self.controller = controller
        self.model_combo, self.device_combo = _combo(), QComboBox()
        self.model_combo.setMinimumContentsLength(22)
        self.model_combo.setEditable(True)  # a hub id, a local directory or a .pt file can be typed in
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Enter applies the text, adds no item
        cached = cached_models()
        for info in REGISTRY.values():
            state = "cached" if info.hub_id in cached else f"download {info.download_mb} MB"
            self.model_combo.addItem(f"{info.name}  ({state})", info.name)
        self.model_combo.addItem("random:sam2.1-tiny  (untrained, offline trial)", "random:sam2.1-tiny")
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.ahead_box = QCheckBox("encode frames ahead while idle")
        self.ahead_box.setToolTip("Later clicks and propagation on encoded frames skip the image encoder")
        self.disk_box = QCheckBox("keep encoded frames on disk")
        self.disk_box.setToolTip(f"Reopening this stack skips the image encoder. Folder: {default_root()}")
        self.ahead_box.toggled.connect(lambda on: guard(lambda: controller.set_caching(encode_ahead=on)))
        self.disk_box.toggled.connect(self._on_disk)
        self.status = wrapped("not loaded: loads on the first click, or now")
        form = QFormLayout()
        form.addRow("model", self.model_combo)
        form.addRow("device", self.device_combo)
        form.addRow(self.ahead_box)
        form.addRow(self.disk_box)
        row = QHBoxLayout()
        row.addWidget(button("Load model", self._on_load, "Download (first time) and load in the background"))
        row.addWidget(
            button("Checkpoint…", self._on_checkpoint, "A SAM 2 checkpoint in Meta's format (.pt), e.g. a fine-tune")
        )
        form.addRow(row)
        form.addRow(self.status)
        self.setLayout(form)
        self.show_settings(controller.settings)
        self.model_combo.activated.connect(lambda *_: self.apply())
        self.model_combo.lineEdit().returnPressed.connect(self.apply)
        self.device_combo.activated.connect(lambda *_: self.apply())

    def spec(self) -> str:
        """The model named in the box: a list entry's name, or the text typed in."""
        text = self.model_combo.currentText().strip()
        index = self.model_combo.currentIndex()
        if index >= 0 and text == self.model_combo.itemText(index) and self.model_combo.itemData(index):
            return self.model_combo.itemData(index)
        return text  # typed in: a registry name, a hub id, a directory, a .pt file or random:NAME

    def apply(self) -> bool:
        ok = guard(lambda: self.controller.set_model(self.spec(), self.device_combo.currentText()))
        if not ok:
            self.show_settings(self.controller.settings)
        return ok

    def choose_model(self, spec: str) -> None:
        """Select a registry entry, or type in a hub id or directory, as a user would."""
        index = self.model_combo.findData(spec)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
        else:
            self.model_combo.setEditText(spec)
        self.apply()

    def show_settings(self, settings) -> None:
        """Draw the tracker's settings (after a change, or a refused one)."""
        for box in (self.model_combo, self.device_combo, self.ahead_box, self.disk_box):
            box.blockSignals(True)
        index = self.model_combo.findData(settings.model)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
        else:
            self.model_combo.setEditText(settings.model)
        self.device_combo.setCurrentText(settings.device)
        self.ahead_box.setChecked(settings.encode_ahead)
        self.disk_box.setChecked(settings.disk_cache)
        for box in (self.model_combo, self.device_combo, self.ahead_box, self.disk_box):
            box.blockSignals(False)

    def _on_disk(self, on: bool) -> None:
        if not guard(lambda: self.controller.set_caching(disk_cache=on)):
            self.show_settings(self.controller.settings)

    def _on_load(self) -> None:
        if self.apply():
            guard(self.controller.load_model)

    def _on_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SAM 2 checkpoint", "", "Checkpoints (*.pt *.pth *.ckpt)")
        if path:
            self.choose_model(path)

    def show_status(self, text: str) -> None:
        self.status.setText(text)


class ObjectsPanel(QWidget):
    """The tracked objects, coloured like their labels: add, select, rename, delete."""

    def __init__(self, controller: TrackerApi) -> None:
        super().__init__()
        self.controller = controller
        self._renaming = False
        self.list = QListWidget()
        self.list.setMaximumHeight(84)
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
        layout = QVBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(row)
        legend = wrapped(LEGEND)
        legend.setToolTip(LEGEND_TIP)
        layout.addWidget(legend)
        self.setLayout(layout)

    def refresh(self) -> None:
        if self._renaming:  # no refresh inside the list's own signal
            return
        self.list.blockSignals(True)
        self.list.clear()
        for obj, name in self.controller.objects.items():
            summary = self.controller.cells.track_summary(obj)
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
