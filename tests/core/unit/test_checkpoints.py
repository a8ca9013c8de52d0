"""Meta-format checkpoints (.pt): names, shapes, round trip, cache and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_sam2.core.errors import ModelUnavailableError
from napari_sam2.core.models import checkpoints
from tests.helpers import assert_meaningful, engine_masks, moving_blob_stack


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_SAM2_CACHE", str(tmp_path / "cache"))


def _meta_checkpoint(path, shape="reduced", seed=0):
    """A random model written as Meta's sam2 package writes checkpoints: {"model": state dict}."""
    import torch

    from napari_sam2.core.models import build_random_model

    model, _ = build_random_model(shape, seed=seed)
    state = model.state_dict()
    # A real SAM 2 holds one positional encoding; transformers' conversion copies it.
    state["shared_image_embedding.positional_embedding"] = state["prompt_encoder.shared_embedding.positional_embedding"]
    model.load_state_dict(state)
    torch.save({"model": checkpoints.to_meta_state_dict(state)}, path)
    return model


def _empty_state(shape):
    """The tensor names and shapes of ``shape``, without memory (meta device), as in a real SAM 2."""
    import torch
    from transformers import Sam2VideoModel

    from napari_sam2.core.models import random_config

    with torch.device("meta"):
        state = Sam2VideoModel(random_config(shape)).state_dict()
    state["shared_image_embedding.positional_embedding"] = state["prompt_encoder.shared_embedding.positional_embedding"]
    return state


@pytest.mark.parametrize(
    ("shape", "meta_config"),
    [("sam2.1-tiny", "configs/sam2.1/sam2.1_hiera_t.yaml"), ("sam2-small", "configs/sam2/sam2_hiera_s.yaml")],
)
def test_names_and_shapes_are_exactly_those_of_metas_own_model(shape, meta_config):
    pytest.importorskip("sam2", reason="Meta's sam2 package is the reference (scripts/setup.sh installs it)")
    from sam2.build_sam import build_sam2

    reference = build_sam2(meta_config, ckpt_path=None, device="cpu").state_dict()
    ours = checkpoints.to_meta_state_dict(_empty_state(shape))
    assert set(ours) == set(reference)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert checkpoints.infer_shape(reference) == shape


@pytest.mark.parametrize(
    "shape",
    [f"{release}-{size}" for release in ("sam2", "sam2.1") for size in ("tiny", "small", "base-plus", "large")],
)
def test_every_official_shape_is_inferred_and_renamed_back_and_forth(shape):
    state = _empty_state(shape)
    meta = checkpoints.to_meta_state_dict(state)
    assert checkpoints.infer_shape(meta) == shape
    assert set(checkpoints.to_hf_state_dict(meta)) == set(state)


def test_a_checkpoint_tracks_exactly_like_the_model_it_was_written_from(tmp_path):
    import torch

    from napari_sam2.core.models import load_model, make_processor

    original_dir = tmp_path / "original"
    model = _meta_checkpoint(tmp_path / "lab-finetune.pt")
    model.save_pretrained(original_dir)
    make_processor(256).save_pretrained(original_dir)
    torch.set_num_threads(2)
    original = load_model(str(original_dir), device="cpu")
    converted = load_model(str(tmp_path / "lab-finetune.pt"), device="cpu", model_config="reduced")
    assert converted.source == "checkpoint" and converted.revision.startswith("sha256:")
    assert converted.describe()["config"] == "reduced"

    stack = moving_blob_stack(4, shape=(64, 96))
    clicks = [(1, 0, 28, 24, True)]
    expected = engine_masks(original, stack, clicks, "forward")
    got = engine_masks(converted, stack, clicks, "forward")
    for frame in expected:
        assert_meaningful(expected[frame][1])
        np.testing.assert_array_equal(got[frame][1], expected[frame][1])


def test_the_converted_model_is_cached_by_the_checkpoints_hash(tmp_path, monkeypatch):
    _meta_checkpoint(tmp_path / "a.pt")
    first, digest, config = checkpoints.convert_checkpoint(tmp_path / "a.pt", model_config="reduced")
    assert first.name.startswith(digest[:32]) and config == "reduced"
    assert (first / "config.json").is_file() and first.parent == checkpoints.converted_root()

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(checkpoints, "build_from_meta", no_second_conversion)
    (tmp_path / "b.pt").write_bytes((tmp_path / "a.pt").read_bytes())  # same bytes, other name
    assert checkpoints.convert_checkpoint(tmp_path / "b.pt", model_config="reduced")[0] == first
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".converting")]


def test_a_cached_conversion_is_used_without_reading_the_checkpoint_again(tmp_path, monkeypatch):
    from napari_sam2.core.models import file_sha256

    _meta_checkpoint(tmp_path / "a.pt")
    explicit = checkpoints.convert_checkpoint(tmp_path / "a.pt", model_config="reduced")[0]
    # Only an official configuration is taken without --model-config (it is what inference gives).
    with pytest.raises(ModelUnavailableError, match="matches no official SAM 2 shape"):
        checkpoints.convert_checkpoint(tmp_path / "a.pt")
    key = file_sha256(tmp_path / "a.pt")[:32]
    official = explicit.with_name(f"{key}-sam2.1-small")
    explicit.rename(official)  # as if an earlier run had inferred sam2.1-small

    def no_reading(*args, **kwargs):
        raise AssertionError("the checkpoint was read again")

    monkeypatch.setattr(checkpoints, "read_meta_state_dict", no_reading)
    digest = file_sha256(tmp_path / "a.pt")
    assert checkpoints.convert_checkpoint(tmp_path / "a.pt") == (official, digest, "sam2.1-small")


def test_a_changed_checkpoint_is_converted_again(tmp_path):
    _meta_checkpoint(tmp_path / "a.pt", seed=0)
    first = checkpoints.convert_checkpoint(tmp_path / "a.pt", model_config="reduced")[0]
    _meta_checkpoint(tmp_path / "a.pt", seed=1)
    assert checkpoints.convert_checkpoint(tmp_path / "a.pt", model_config="reduced")[0] != first


def test_truncated_and_foreign_checkpoints_are_one_clear_error(tmp_path):
    import torch

    _meta_checkpoint(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelUnavailableError, match="not a readable PyTorch checkpoint"):
        checkpoints.convert_checkpoint(tmp_path / "truncated.pt")

    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelUnavailableError, match="not a readable PyTorch checkpoint"):
        checkpoints.convert_checkpoint(tmp_path / "text.pt")

    torch.save({"model": {"encoder.weight": torch.zeros(3)}}, tmp_path / "resnet.pt")
    with pytest.raises(ModelUnavailableError, match="not a SAM 2 checkpoint"):
        checkpoints.convert_checkpoint(tmp_path / "resnet.pt")


def test_a_checkpoint_of_another_size_names_the_tensors_that_do_not_fit(tmp_path):
    _meta_checkpoint(tmp_path / "reduced.pt")
    with pytest.raises(ModelUnavailableError, match=r"does not fit the sam2.1-tiny configuration \(missing: "):
        checkpoints.convert_checkpoint(tmp_path / "reduced.pt", model_config="sam2.1-tiny")
    with pytest.raises(ModelUnavailableError, match="matches no official SAM 2 shape; name its configuration"):
        checkpoints.convert_checkpoint(tmp_path / "reduced.pt")
    with pytest.raises(ModelUnavailableError, match="Unknown --model-config 'sam3'"):
        checkpoints.convert_checkpoint(tmp_path / "reduced.pt", model_config="sam3")


def test_cli_tracks_with_a_checkpoint_and_records_it(tmp_path, capsys):
    import tifffile

    from napari_sam2.cli import main

    _meta_checkpoint(tmp_path / "lab.pt")
    tifffile.imwrite(
        tmp_path / "stack.tif", moving_blob_stack(3, shape=(64, 96)), imagej=True, metadata={"axes": "TYX"}
    )
    (tmp_path / "p.csv").write_text("object_id,frame,y,x,positive\n1,0,28,24,1\n")
    out = tmp_path / "labels.tif"
    args = ["track", str(tmp_path / "stack.tif"), "--prompts", str(tmp_path / "p.csv"), "--out", str(out)]
    code = main([*args, "--model", str(tmp_path / "lab.pt"), "--model-config", "reduced", "--quiet"])
    assert code == 0, capsys.readouterr().err
    model = json.loads(out.with_suffix(".json").read_text())["model"]
    assert model["source"] == "checkpoint" and model["config"] == "reduced"
    assert model["revision"] == "sha256:" + checkpoints.file_sha256(tmp_path / "lab.pt")[:16]
    assert tifffile.imread(out)[1:].any()

    # Refused before anything is read or loaded: one line, exit 2.
    (tmp_path / "notes.txt").write_text("x")
    for bad in (["--model", str(tmp_path / "notes.txt")], ["--model", "random:reduced", "--model-config", "sam2-tiny"]):
        capsys.readouterr()
        assert main([*args, "--overwrite", *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
