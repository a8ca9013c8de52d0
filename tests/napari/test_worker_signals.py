"""The order in which the tracker reports a run, and the thread the session lives on."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("napari")

from napari_sam2.core.session import TrackingSession  # noqa: E402
from tests.helpers import moving_blob_stack  # noqa: E402


def test_a_run_reports_its_plan_then_each_frame_then_its_end_then_flags(make_tracker, qtbot):
    _, controller, wait = make_tracker(moving_blob_stack(5), name="cells")
    controller.add_click([0, 40, 35])
    wait()
    heard = []
    controller.events.run_note.connect(lambda text: heard.append(("note", text)))
    controller.events.progress.connect(lambda p: heard.append(("progress", p.done, p.state)))
    with qtbot.waitSignal(controller.events.flags, timeout=60_000):
        controller.propagate("forward")
    wait()
    controller.events.flags.connect(lambda flags: heard.append(("flags",)))
    assert heard[0] == ("note", "Tracking object 1.")
    assert heard[1] == ("progress", 0, "running")
    assert [h[1] for h in heard[2:-1]] == [1, 2, 3, 4, 5] and {h[2] for h in heard[2:-1]} == {"running"}
    assert heard[-1] == ("progress", 5, "done")


def test_the_session_is_only_touched_on_the_worker_thread(make_tracker, monkeypatch):
    touched = []
    for name in ("set_prompts", "clear_prompts", "add_mask", "propagate", "encode", "remove_object", "prompts"):
        original = getattr(TrackingSession, name)

        def recording(self, *args, _original=original, _name=name, **kwargs):
            touched.append((_name, threading.current_thread() is threading.main_thread()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TrackingSession, name, recording)
    _, controller, wait = make_tracker(moving_blob_stack(4), name="cells")
    controller.add_click([0, 40, 35])
    controller.add_object()
    controller.add_click([1, 20, 100])
    wait()
    controller.propagate("both")
    wait()
    controller.labels_layer.data[2, 10:20, 10:20] = 7
    controller.select_object(7)
    controller.objects.ensure([7])
    controller.go_to_frame(2)
    controller.use_painted_slice()
    controller.delete_object(2)
    wait()
    names = {name for name, _ in touched}
    assert {"set_prompts", "propagate", "add_mask", "remove_object", "encode"} <= names
    assert not [name for name, on_main in touched if on_main]


def test_the_owner_refuses_the_main_thread_in_debug_mode(make_tracker):
    _, controller, _ = make_tracker(moving_blob_stack(4), name="cells")
    source = controller.binding.source()
    with pytest.raises(AssertionError, match="worker's alone"):
        list(controller.owner.preview_task(source, controller.settings, (1, 0), None))
