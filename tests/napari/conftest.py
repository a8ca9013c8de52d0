"""One way to set up the tracker on a bare ViewerModel with the shared random-weight model."""

from __future__ import annotations

import pytest


@pytest.fixture()
def make_tracker(qtbot, reduced_model, reduced_model_dir):
    """``make_tracker(data, frame_axis=None, **image_kwargs) -> (viewer, controller, wait)``.

    ``wait()`` blocks until the controller's worker queue is empty. Controllers are closed
    at teardown.
    """
    from napari.components import ViewerModel

    from napari_sam2.plugin._controller import TrackerController

    made = []

    def make(data, *, frame_axis=None, current_step=None, **image_kwargs):
        viewer = ViewerModel()
        image = viewer.add_image(data, **image_kwargs)
        if current_step is not None:
            viewer.dims.set_current_step(*current_step)
        controller = TrackerController(viewer)
        controller.set_model(str(reduced_model_dir), "cpu")
        controller.use_loaded_model(reduced_model)
        qtbot.waitUntil(lambda: controller.loaded is not None, timeout=60_000)
        controller.set_image_layer(image, frame_axis=frame_axis)
        made.append(controller)

        def wait():
            qtbot.waitUntil(lambda: controller.idle, timeout=60_000)

        return viewer, controller, wait

    yield make
    for controller in made:
        controller.close()


def choose(combo, text: str) -> None:
    """Pick ``text`` in a combo box as a user does: the item becomes current, then ``activated``."""
    index = combo.findText(text)
    if index < 0:
        index = next(i for i in range(combo.count()) if combo.itemText(i).endswith(text))
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def canvas_click(layer, position, modifiers=()) -> None:
    """Press and release at ``position`` (world coordinates) through napari's own mouse
    callback path, as a click on the canvas reaches the active layer."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks
    from vispy.util.event import Event

    for kind, dispatch in (("mouse_press", mouse_press_callbacks), ("mouse_release", mouse_release_callbacks)):
        event = Event(
            type=kind,
            position=position,
            modifiers=list(modifiers),
            button=1,
            is_dragging=False,
            view_direction=None,
            dims_displayed=list(range(len(position)))[-2:],
            pos=(0, 0),
            delta=(0, 0),
        )
        dispatch(layer, ReadOnlyWrapper(event, exceptions=("handled",)))


def press_key(layer, key: str) -> None:
    """A key press on the active layer, through the layer's own key bindings (Ctrl-Z ...)."""
    bindings = {str(k): action for k, action in layer.keymap.items()}
    bindings[key](layer)
