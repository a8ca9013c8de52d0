"""Files a user picks in the real window: a Meta checkpoint in the model box, bad prompt files."""

from __future__ import annotations

import numpy as np
import pytest

napari = pytest.importorskip("napari")

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)


def _button(widget, text):
    from qtpy.QtWidgets import QPushButton

    (found,) = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    return found


def _dialog_returns(monkeypatch, module, path):
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(f"napari_sam2.widgets.{module}.QFileDialog.getOpenFileName", lambda *a, **k: (str(path), ""))
    assert QFileDialog  # the dialog class the panels use


def _errors(monkeypatch):
    messages = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append((m, error)))
    return messages


@pytest.mark.slow
def test_a_checkpoint_chosen_with_the_button_loads_on_the_first_click_and_tracks(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import torch

    from napari_sam2.core.models import build_random_model, checkpoints
    from tests.helpers import moving_blob_stack
    from tests.napari.conftest import canvas_click as _click

    monkeypatch.setenv("NAPARI_SAM2_CACHE", str(tmp_path / "cache"))
    model, _ = build_random_model("sam2.1-tiny")  # a full-size shape: its configuration is inferred
    state = model.state_dict()
    state["shared_image_embedding.positional_embedding"] = state["prompt_encoder.shared_embedding.positional_embedding"]
    torch.save({"model": checkpoints.to_meta_state_dict(state)}, tmp_path / "finetune.pt")
    del model, state

    viewer = make_napari_viewer()
    viewer.add_image(moving_blob_stack(2, shape=(48, 64)), name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    controller = widget.controller
    _dialog_returns(monkeypatch, "_panels", tmp_path / "finetune.pt")
    _button(widget, "Checkpoint…").click()
    assert controller.settings.model == str(tmp_path / "finetune.pt") and controller.loaded is None
    widget.model_panel.device_combo.setCurrentText("cpu")

    controller.add_object()
    _click(controller.points_layer, (0, 20, 18))
    qtbot.waitUntil(lambda: controller.idle, timeout=180_000)
    assert controller.loaded is not None and controller.loaded.source == "checkpoint"
    assert controller.loaded.describe()["config"] == "sam2.1-tiny"
    assert str(tmp_path / "finetune.pt") in widget.model_panel.status.text()
    assert controller.labels_layer.data[0].any()


def test_load_prompts_with_a_bad_file_is_one_line_and_changes_nothing(
    make_napari_viewer, qtbot, reduced_model, reduced_model_dir, tmp_path, monkeypatch
):
    from tests.helpers import moving_blob_stack

    viewer = make_napari_viewer()
    viewer.add_image(moving_blob_stack(4), name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracker")
    controller = widget.controller
    controller.set_model(str(reduced_model_dir), "cpu")
    controller.use_loaded_model(reduced_model)
    qtbot.waitUntil(lambda: controller.loaded is not None, timeout=60_000)
    good = tmp_path / "good.csv"
    good.write_text("object_id,frame,y,x,positive\n1,0,40,35,1\n")
    _dialog_returns(monkeypatch, "_run_panel", good)
    _button(widget, "Load prompts…").click()
    qtbot.waitUntil(lambda: controller.idle, timeout=60_000)
    before = np.array(controller.points_layer.data)
    assert len(before) == 1

    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\xff\xfe")
    (tmp_path / "columns.csv").write_text("a,b\n1,2\n")
    (tmp_path / "far.csv").write_text("object_id,frame,y,x,positive\n2,99,5,5,1\n")
    (tmp_path / "outside.csv").write_text("object_id,frame,y,x,positive\n2,1,500,5,1\n")
    (tmp_path / "folder.csv").mkdir()
    bad = ["missing.csv", "binary.csv", "columns.csv", "far.csv", "outside.csv", "folder.csv"]
    for name in bad:
        messages = _errors(monkeypatch)
        _dialog_returns(monkeypatch, "_run_panel", tmp_path / name)
        _button(widget, "Load prompts…").click()
        assert len(messages) == 1 and messages[0][1], (name, messages)
        text = messages[0][0]
        assert "\n" not in text and "Traceback" not in text and "Unexpected" not in text, (name, text)
        np.testing.assert_array_equal(controller.points_layer.data, before)
        assert [o for o, _ in controller.objects.items()] == [1], name
