"""Model names, offline behaviour, corrupt directories, devices."""

from __future__ import annotations

import json

import pytest

from napari_sam2.core import models
from napari_sam2.core.errors import ModelUnavailableError, Sam2InputError


def test_registry_names_every_promised_model():
    expected = {f"{v}-{s}" for v in ("sam2.1", "sam2") for s in ("tiny", "small", "base-plus", "large")}
    assert set(models.REGISTRY) == expected | {"edgetam", "sam3"}
    assert models.resolve_spec("sam3") == ("hub", "facebook/sam3")
    assert models.resolve_spec("random:sam3-reduced") == ("random", "sam3-reduced")
    assert models.DEFAULT_MODEL == "sam2.1-tiny"
    assert models.resolve_spec("sam2.1-tiny") == ("hub", "facebook/sam2.1-hiera-tiny")
    assert models.resolve_spec("someone/finetuned-sam2") == ("hub", "someone/finetuned-sam2")
    assert models.resolve_spec("random:sam2-large") == ("random", "sam2-large")


def test_local_directory_is_resolved(tmp_path):
    assert models.resolve_spec(str(tmp_path)) == ("local", str(tmp_path.resolve()))


@pytest.mark.parametrize("spec", ["sam3-giant", "random:nonsense", "./no/such/dir"])
def test_unknown_models_are_clear_errors(spec):
    with pytest.raises(ModelUnavailableError, match="Unknown model|known names"):
        models.resolve_spec(spec)


def test_offline_and_not_cached_names_model_cache_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelUnavailableError) as info:
        models.load_model("sam2.1-small", progress=False)
    message = str(info.value)
    assert "facebook/sam2.1-hiera-small" in message
    assert str(tmp_path / "hub") in message
    assert "napari-sam2 download sam2.1-small" in message and "--model DIR" in message
    assert "\n" not in message


def test_corrupt_directory_is_a_clear_error(reduced_model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((reduced_model_dir / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelUnavailableError, match="looks corrupt"):
        models.load_model(str(broken))


def test_directory_of_another_kind_of_model_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelUnavailableError, match="not a SAM 2 video model"):
        models.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="not readable JSON"):
        models.load_model(str(tmp_path))


def test_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        models.load_model(str(tmp_path))


def test_local_directory_loads_with_a_content_revision(reduced_model, reduced_model_dir):
    assert reduced_model.source == "local" and reduced_model.revision.startswith("sha256:")
    assert reduced_model.image_size == 256 and reduced_model.device == "cpu"
    assert models.load_model(str(reduced_model_dir)).revision == reduced_model.revision


def test_device_choice():
    assert models.pick_device("cpu") == "cpu"
    import torch

    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        assert models.pick_device("auto") in ("cpu", "mps")
        with pytest.raises(Sam2InputError, match="no CUDA GPU"):
            models.pick_device("cuda")
    assert models.default_autocast_dtype("cpu") is None  # the suite says: no native bf16 (conftest)
    assert models.default_autocast_dtype("cuda") == torch.bfloat16
    with pytest.raises(Sam2InputError, match="Unknown device"):
        models.pick_device("tpu")


def test_loader_keeps_models_by_spec_device_and_dtype(reduced_model_dir):
    loader = models.ModelLoader()
    first = loader.load(str(reduced_model_dir), device="cpu", progress=False)
    assert loader.load(str(reduced_model_dir), device="cpu", progress=False) is first


def test_random_model_is_marked_random():
    loaded = models.load_model("random:reduced")
    assert loaded.is_random and loaded.describe()["random_weights"] is True
    assert loaded.model_id == "random:reduced"


@pytest.mark.slow
@pytest.mark.parametrize("name, params_m", [("sam2.1-tiny", 38.9), ("sam2.1-small", 46.0)])
def test_random_shapes_match_the_published_parameter_counts(name, params_m):
    # Published sizes: Hiera-T 38.9 M, Hiera-S 46 M parameters.
    model, _ = models.build_random_model(name)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert count == pytest.approx(params_m, rel=0.03)


AMX_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
OLD_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


def test_native_bf16_is_read_from_the_cpu_flags_and_auto_uses_it_only_there(monkeypatch, tmp_path):
    import torch

    from napari_sam2.core.models import devices

    monkeypatch.delenv("NAPARI_SAM2_CPU_BF16")
    assert devices.cpu_native_bf16(AMX_CPU) and not devices.cpu_native_bf16(OLD_CPU)
    assert devices.cpu_native_bf16("flags : avx512_bf16\n")  # AVX512-BF16 alone is enough
    for flags, expected in ((AMX_CPU, torch.bfloat16), (OLD_CPU, None)):
        (tmp_path / "cpuinfo").write_text(flags)
        monkeypatch.setattr(devices, "CPUINFO", str(tmp_path / "cpuinfo"))  # the machine's own flags
        assert devices.default_autocast_dtype("cpu") == expected  # auto
        assert devices.default_autocast_dtype("cpu", "fp32") is None  # forced either way
        assert devices.default_autocast_dtype("cpu", "bf16") == torch.bfloat16
    assert devices.default_autocast_dtype("mps") is None
    monkeypatch.setattr(devices, "CPUINFO", str(tmp_path / "no such file"))  # not Linux: no
    assert not devices.cpu_native_bf16()


def test_the_override_wins_over_the_flags(monkeypatch):
    from napari_sam2.core.models import devices

    monkeypatch.setenv("NAPARI_SAM2_CPU_BF16", "0")
    assert not devices.cpu_native_bf16(AMX_CPU)
    monkeypatch.setenv("NAPARI_SAM2_CPU_BF16", "1")
    assert devices.cpu_native_bf16(OLD_CPU)
