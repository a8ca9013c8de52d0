"""Shared fixtures: one random-weight test model, saved and loaded the way users' models are.

The model has the reduced SAM 2.1-tiny shape (256-pixel input) and the boosted
object-score bias and mask hypernetworks of ``build_random_model``, so its masks cover part
of the frame and change with the image and the prompt. Every tracking test calls
:func:`assert_meaningful` on the masks it compares, so that two constant "object absent"
masks can never make a test pass.
"""

from __future__ import annotations

import os

import pytest

#: Without a display, Qt's default platform aborts the whole process when a widget test
#: creates its QApplication ("could not connect to display"). Widgets and bare ViewerModels
#: draw off-screen instead; tests marked ``gui`` need OpenGL and are skipped (below).
HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
if not HAS_DISPLAY:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
#: precision=auto picks bf16 on CPUs with native bf16 (AMX/AVX512-BF16): the suite's masks
#: must not depend on the machine it runs on, so it runs in fp32 unless told otherwise (the
#: bf16 path has its own tests, which set this themselves). Subprocesses inherit it.
os.environ.setdefault("NAPARI_SAM2_CPU_BF16", "0")
NO_DISPLAY = (
    "no display: real-window tests need OpenGL; run under Xvfb (bash scripts/test.sh installs it as root, "
    "or install xvfb xauth libgl1-mesa-dri libglx-mesa0 and the xcb libraries in scripts/system-deps.sh)"
)


def pytest_report_header(config):
    return None if HAS_DISPLAY else f"napari-sam2: {NO_DISPLAY}"


def pytest_collection_modifyitems(config, items):
    if HAS_DISPLAY:
        return
    skip = pytest.mark.skip(reason=NO_DISPLAY)
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reduced_model_dir(tmp_path_factory):
    from napari_sam2.core.models import save_random_model

    return save_random_model("reduced", tmp_path_factory.mktemp("models") / "reduced")


@pytest.fixture(scope="session")
def reduced_model(reduced_model_dir):
    import torch

    from napari_sam2.core.models import load_model

    torch.set_num_threads(2)
    return load_model(str(reduced_model_dir), device="cpu")
