"""The napari side of napari-sam2: everything between napari's layers and the core.

* ``_state.TrackerState`` is the one evented model of what the tracker works on; each
  image's work is a ``Workspace`` kept in its Labels layer. Widgets observe it.
* ``_controller.TrackerController`` owns the state and wires the parts below; widgets use it
  through :class:`TrackerApi` (``_api``); ``_population_actions`` is its "All cells" part.
* ``_session_owner`` holds the model and session on the worker thread only;
  ``_serial_worker`` runs its tasks in order; ``_messages`` are what the tasks send back and
  ``_replies`` handles them on the main thread.
* ``_layers`` binds the image, labels and prompt layers (and the click callback);
  ``_layer_source`` reads what the model sees from a layer; ``_prompt_sync`` keeps the
  session's prompts in step with the layers; ``_objects`` is the object registry.
* ``_run_writer`` writes results into labels (one undo step per run, progress, flags);
  ``_history`` records each step for ``napari-sam2 track`` to replay.
* ``_population`` shows seeds, the lineage and the Tracks layer; ``_lineage_edits`` applies
  the user's corrections of the lineage.
* ``_actions`` saves labels and exports or loads prompts; ``_npe2`` is the npe2 reader and
  writer; ``_samples`` the sample data.

Nothing here is imported by :mod:`napari_sam2.core`; Qt widgets live in
:mod:`napari_sam2.widgets`.

Importing this package keeps ``triton`` out of the napari process (see
:func:`keep_triton_out`): loading it after napari has made its OpenGL context crashes the
process under Mesa's llvmpipe (Xvfb, VNC, remote desktops), and the first click imports
transformers, which imports torch._dynamo, which imports triton.
"""

from __future__ import annotations

import os
import sys


def keep_triton_out() -> bool:
    """Make ``import triton`` fail in this process, unless it is already loaded.

    triton links its own LLVM, whose symbols clash with Mesa's llvmpipe once an OpenGL
    context exists: a segfault, not an exception. torch runs eagerly without triton on the
    CPU and on CUDA; only ``torch.compile`` on a GPU needs it, and the plugin does not
    compile. ``NAPARI_SAM2_ALLOW_TRITON=1`` turns this off. Returns whether it is blocked.
    """
    if os.environ.get("NAPARI_SAM2_ALLOW_TRITON") == "1" or "triton" in sys.modules:
        return False
    sys.modules["triton"] = None  # type: ignore[assignment]  # import triton -> ImportError
    return True


keep_triton_out()

from ._api import CellsApi, TrackerApi  # noqa: E402
from ._controller import TrackerController  # noqa: E402
from ._layer_source import (  # noqa: E402
    axis_name,
    frame_axes,
    image_layers,
    is_single_image,
    labels_layers,
    layer_data,
)
from ._names import OURS  # noqa: E402
from ._notify import guard, notify, plain_error  # noqa: E402
from ._run_writer import RunProgress  # noqa: E402
from ._settings import SAM_SEEDS, THRESHOLD_SEEDS  # noqa: E402
from ._state import TrackerEvents, TrackerState  # noqa: E402

__all__ = [
    "OURS",
    "SAM_SEEDS",
    "THRESHOLD_SEEDS",
    "CellsApi",
    "RunProgress",
    "TrackerApi",
    "TrackerController",
    "TrackerEvents",
    "TrackerState",
    "axis_name",
    "frame_axes",
    "guard",
    "image_layers",
    "is_single_image",
    "keep_triton_out",
    "labels_layers",
    "layer_data",
    "notify",
    "plain_error",
]
