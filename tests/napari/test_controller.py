"""The plugin's controller on a bare ViewerModel, with the real random-weight test model.

Workers are real napari thread workers; tests wait for the queue to drain.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core.errors import Sam2InputError  # noqa: E402
from napari_sam2.core.session import TrackingSession  # noqa: E402
from napari_sam2.plugin._controller import TrackerController  # noqa: E402
from tests.helpers import assert_meaningful, counting_encoder, moving_blob_stack  # noqa: E402


@pytest.fixture()
def setup(make_tracker):
    return make_tracker(moving_blob_stack(8), name="cells")


def test_layers_are_created_with_the_image_geometry(setup):
    viewer, controller, _ = setup
    assert controller.labels_layer.data.shape == (8, 90, 140) and controller.labels_layer.data.dtype == np.uint16
    assert controller.points_layer.ndim == 3 and viewer.layers.selection.active is controller.points_layer


def test_click_previews_at_once_and_propagation_is_one_undo_step(setup):
    viewer, controller, wait = setup
    labels = controller.labels_layer
    obj = controller.add_object()
    assert obj == 1
    controller.add_click([0, 40, 35])
    wait()
    assert_meaningful(labels.data[0] == 1)
    assert not labels.data[1:].any()
    after_preview = labels.data.copy()
    controller.propagate("forward")
    wait()
    for f in range(8):
        assert_meaningful(labels.data[f] == 1)
    ctrl_z = {str(key): action for key, action in controller.points_layer.keymap.items()}["Ctrl+Z"]
    ctrl_z(controller.points_layer)  # Ctrl-Z while the prompts layer is active
    np.testing.assert_array_equal(labels.data, after_preview)
    labels.redo()
    assert (labels.data[7] == 1).any()
    assert controller.writer.flags == [] or all(f.object_id == 1 for f in controller.writer.flags)


def test_history_of_a_run_stays_compact(setup):
    _, controller, wait = setup
    controller.add_click([0, 40, 35])
    wait()
    controller.propagate("forward")
    wait()
    run = controller.labels_layer._undo_history[-1]
    stored = sum(old.nbytes + new.nbytes for _, old, new in run)
    assert len(run) <= 8 and stored <= 8 * 2 * 90 * 140 * 2  # bounding boxes, not index arrays


def test_cancel_keeps_finished_frames_and_undoes_in_one_step(setup):
    _, controller, wait = setup
    controller.add_click([0, 40, 35])
    wait()
    before = controller.labels_layer.data.copy()
    controller.events.progress.connect(lambda p: p.done == 3 and controller.cancel())
    controller.propagate("forward")
    wait()
    written = [f for f in range(8) if (controller.labels_layer.data[f] == 1).any()]
    assert 3 <= len(written) < 8 and written == list(range(len(written)))
    assert controller.labels_layer.editable  # painting unlocked again
    controller.labels_layer.undo()
    np.testing.assert_array_equal(controller.labels_layer.data, before)


def test_an_error_mid_run_keeps_frames_and_undo_works(setup, monkeypatch):
    _, controller, wait = setup
    controller.add_click([0, 40, 35])
    wait()
    before = controller.labels_layer.data.copy()
    original, calls = TrackingSession._track_frame, []

    def failing(self, *args, **kwargs):
        if len(calls) == 4:
            raise RuntimeError("simulated failure")
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrackingSession, "_track_frame", failing)
    messages = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append(m))
    controller.propagate("forward")
    wait()
    assert any("Unexpected error" in m for m in messages)
    assert [f for f in range(8) if (controller.labels_layer.data[f] == 1).any()] == [0, 1, 2, 3]
    controller.labels_layer.undo()
    np.testing.assert_array_equal(controller.labels_layer.data, before)


def test_painted_labels_of_other_objects_survive(setup):
    _, controller, wait = setup
    controller.labels_layer.data[:, 5:25, 100:130] = 9  # painted by hand
    controller.add_object()
    assert controller.objects.selected == 10  # a new id, not used in the layer
    controller.add_click([0, 40, 35])
    wait()
    controller.propagate("forward")
    wait()
    assert (controller.labels_layer.data[:, 5:25, 100:130] == 9).all()
    assert (controller.labels_layer.data == 10).any()


def test_clicks_during_propagation_are_refused(setup, monkeypatch):
    _, controller, wait = setup
    controller.add_click([0, 40, 35])
    wait()
    messages = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append(m))
    refused = []
    controller.events.progress.connect(lambda p: p.done == 1 and refused.append(controller.add_click([3, 40, 40])))
    controller.propagate("forward")
    wait()
    assert refused == [False] and "A run is going on" in messages[0]
    assert len(controller.points_layer.data) == 1


def test_deleting_a_prompt_updates_the_preview(setup):
    _, controller, wait = setup
    controller.add_click([2, 40, 35])
    controller.add_click([2, 80, 130], positive=False)
    wait()
    with_negative = controller.labels_layer.data[2].copy()
    controller.points_layer.selected_data = {1}
    controller.points_layer.remove_selected()
    wait()
    assert (controller.labels_layer.data[2] != with_negative).any()
    controller.points_layer.selected_data = {0}
    controller.points_layer.remove_selected()
    wait()
    assert not (controller.labels_layer.data[2] == 1).any()  # no prompt left: no mask


def test_correction_then_propagate_from_here_keeps_it(setup):
    viewer, controller, wait = setup
    controller.add_click([0, 40, 35])
    wait()
    controller.propagate("forward")
    wait()
    viewer.dims.set_current_step(0, 4)
    controller.add_click([4, 45, 60], positive=False)
    wait()
    corrected = controller.labels_layer.data[4].copy()
    controller.propagate("forward", from_current=True)
    wait()
    np.testing.assert_array_equal(controller.labels_layer.data[4], corrected)


def test_4d_stack_propagates_along_z_at_the_current_t(make_tracker):
    tzyx = np.stack([moving_blob_stack(5, seed=s) for s in range(3)])
    _, controller, wait = make_tracker(tzyx, frame_axis=1, current_step=(0, 2))
    controller.add_click([2, 1, 40, 35])
    wait()
    controller.propagate("forward")
    wait()
    labels = controller.labels_layer.data
    assert labels[2].any() and not labels[0].any() and not labels[1].any()
    assert all((labels[2, z] == 1).any() for z in range(1, 5))


def test_wrong_layers_are_clear_errors(qtbot):
    viewer = ViewerModel()
    controller = TrackerController(viewer)
    with pytest.raises(Sam2InputError, match="Open an image first"):
        controller.set_image_layer(None)
    tiny = viewer.add_image(np.zeros((3, 4, 4)))
    with pytest.raises(Sam2InputError, match="too small"):
        controller.set_image_layer(tiny)
    assert controller.image_layer is None and not any(layer.name.startswith("SAM 2") for layer in viewer.layers)


def test_frames_are_encoded_ahead_after_a_click_and_propagation_reuses_them(setup, reduced_model):
    _, controller, wait = setup
    assert controller.settings.encode_ahead  # on by default
    statuses = []
    controller.events.status.connect(statuses.append)
    controller.add_object()
    controller.add_click([0, 40, 35])
    wait()
    assert len(controller.owner.peek_session().cache) == 8
    assert any(s.startswith(f"{controller.model_status} — ") and s.endswith(" of 8 frames encoded") for s in statuses)
    assert statuses[-1] == f"{controller.model_status} — every frame encoded"
    with counting_encoder(reduced_model) as calls:
        controller.propagate("forward")
        wait()
    assert not calls
    assert_meaningful(controller.labels_layer.data[7] == 1)


def test_encoding_ahead_can_be_switched_off_and_gives_way_to_clicks(setup):
    _, controller, wait = setup
    controller.set_caching(encode_ahead=False)
    controller.clear_region()  # a new session, from an empty cache
    wait()
    controller.add_object()
    controller.add_click([2, 40, 35])
    wait()
    encoded = len(controller.owner.peek_session().cache)
    assert encoded == 1  # the clicked frame, and nothing ahead
    # Encoding ahead stops before its next frame when another task waits (it runs on a
    # worker thread, as the session's owner requires).
    source, messages = controller.binding.source(controller.roi), []
    task = controller.owner.encode_task(source, controller.settings, 2, lambda: True)
    worker = threading.Thread(target=lambda: messages.extend(task))
    worker.start()
    worker.join()
    assert messages == [] and len(controller.owner.peek_session().cache) == encoded
    controller.set_caching(encode_ahead=True)
    wait()
    assert len(controller.owner.peek_session().cache) == 8
