"""Controller inputs beyond clicks: boxes, painted masks, contrast, region, labels target, layer kinds."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from napari_sam2.core.errors import Sam2InputError  # noqa: E402
from napari_sam2.plugin import TrackerController, plain_error  # noqa: E402
from tests.helpers import assert_meaningful, moving_blob_stack  # noqa: E402


def test_box_prompt_from_the_shapes_layer(make_tracker):
    _, controller, wait = make_tracker(moving_blob_stack(4))
    controller.add_object()
    controller.shapes_layer.add_rectangles(np.array([[1, 20, 10], [1, 20, 60], [1, 60, 60], [1, 60, 10]]))
    wait()
    assert_meaningful(controller.labels_layer.data[1] == 1)
    assert controller.owner.peek_session().prompts()[1][1].box == (20.0, 10.0, 60.0, 60.0)


def test_painted_slice_becomes_a_mask_prompt(make_tracker):
    viewer, controller, wait = make_tracker(moving_blob_stack(5))
    controller.add_object()
    viewer.dims.set_current_step(0, 2)
    controller.labels_layer.data[2, 25:55, 20:55] = 1
    controller.use_painted_slice()
    wait()
    assert controller.owner.peek_session().prompts()[1][2].mask is not None
    controller.propagate("forward")
    wait()
    assert all((controller.labels_layer.data[f] == 1).any() for f in (3, 4))


def test_painted_slice_needs_paint(make_tracker):
    _, controller, _ = make_tracker(moving_blob_stack(3))
    controller.add_object()
    with pytest.raises(Sam2InputError, match="Paint object 1"):
        controller.use_painted_slice()


def test_the_model_sees_the_layers_contrast_limits(make_tracker):
    stack = moving_blob_stack(4, dtype=np.uint16)
    _, controller, wait = make_tracker(stack, contrast_limits=(8000, 30000))
    controller.add_click([0, 40, 35])
    wait()
    first = controller.owner.peek_session()
    assert first.source.contrast_limits == (8000.0, 30000.0)
    controller.image_layer.contrast_limits = (9000, 20000)
    controller.add_click([0, 42, 36])
    wait()
    assert controller.owner.peek_session() is not first  # new limits, new features
    assert controller.owner.peek_session().source.contrast_limits == (9000.0, 20000.0)


def test_region_of_interest_restricts_tracking(make_tracker):
    _, controller, wait = make_tracker(moving_blob_stack(3, shape=(120, 200)))
    region = controller.add_region_layer()
    assert region.ndim == 2 and region.mode == "add_rectangle"
    region.add_rectangles(np.array([[10, 5], [100, 120]]))
    assert controller.use_region() == (10, 5, 100, 120)
    controller.add_click([0, 50, 50])
    wait()
    labels = controller.labels_layer.data[0]
    assert (labels == 1).any() and not labels[:10].any() and not labels[:, 120:].any()
    controller.clear_region()
    wait()
    assert controller.roi is None


def test_existing_labels_layer_can_be_the_target(make_tracker):
    viewer, controller, wait = make_tracker(moving_blob_stack(3))
    mine = viewer.add_labels(np.zeros((3, 90, 140), np.uint32), name="mine")
    controller.use_labels_layer(mine)
    controller.add_click([0, 40, 35])
    wait()
    assert (mine.data[0] > 0).any()
    with pytest.raises(Sam2InputError, match="shape"):
        controller.use_labels_layer(viewer.add_labels(np.zeros((2, 9, 9), np.uint16)))


def test_rgb_and_dask_layers(make_tracker):
    da = pytest.importorskip("dask.array")
    rgb = np.repeat(moving_blob_stack(3)[..., None], 3, axis=-1)
    _, controller, wait = make_tracker(da.from_array(rgb, chunks=(1, 90, 140, 3)))
    assert controller.image_layer.rgb and controller.labels_layer.data.shape == (3, 90, 140)
    controller.add_click([1, 40, 35])
    wait()
    assert_meaningful(controller.labels_layer.data[1] == 1)


def test_a_click_outside_the_image_is_refused_and_does_not_stay(make_tracker):
    _, controller, wait = make_tracker(moving_blob_stack(3))
    with pytest.raises(Sam2InputError, match="outside the 90x140 image"):
        controller.add_click([0, 40, 500])
    assert len(controller.points_layer.data) == 0  # nothing stray left to block later clicks
    controller.add_click([0, 40, 35])
    wait()
    assert_meaningful(controller.labels_layer.data[0] == controller.objects.selected)


def test_quality_flags_and_plain_messages():
    from napari_sam2.core.quality import quality_flags

    scores = {0: {1: 9.0, 2: 5.0}, 1: {1: 8.5, 2: 1.0}, 2: {1: -2.0, 2: 4.0}}
    flags = [(f.frame, f.object_id, f.reason) for f in quality_flags(scores)]
    assert flags == [(1, 2, "score drop"), (2, 1, "lost")]

    class OutOfMemoryError(RuntimeError):
        pass

    assert "smaller model" in plain_error(OutOfMemoryError("CUDA out of memory"))
    assert plain_error(Sam2InputError("plain words")) == "plain words"


def test_offline_without_the_model_says_what_to_do_in_napari(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    messages = []
    monkeypatch.setattr("napari_sam2.plugin._notify._show", lambda m, error=False: messages.append(m))
    viewer = ViewerModel()
    controller = TrackerController(viewer)
    controller.set_image_layer(viewer.add_image(moving_blob_stack(3)))
    controller.set_model("sam2.1-small", "cpu")
    controller.add_click([0, 40, 35])
    qtbot.waitUntil(lambda: controller.idle, timeout=60_000)
    assert len(messages) == 1
    assert "facebook/sam2.1-hiera-small" in messages[0] and "napari-sam2 download sam2.1-small" in messages[0]
    assert "--model" not in messages[0] and "into the model box" in messages[0]  # not the CLI's option
    assert controller.labels_layer.data.sum() == 0
    controller.close()
