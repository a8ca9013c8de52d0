"""Shared fixtures: one random-weight test model, saved and loaded the way users' models are.

The model has the reduced SAM 2.1-tiny shape (256-pixel input) and the boosted
object-score bias and mask hypernetworks of ``build_random_model``, so its masks cover part
of the frame and change with the image and the prompt. Every tracking test calls
:func:`assert_meaningful` on the masks it compares, so that two constant "object absent"
masks can never make a test pass.
"""

from __future__ import annotations

import pytest


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
