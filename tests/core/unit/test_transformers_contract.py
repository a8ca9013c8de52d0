"""The private parts of transformers' SAM 2 video session that the engine relies on.

transformers is pinned below its next minor release; if a release changes any of this,
these tests fail loudly instead of the engine failing quietly.
"""

from __future__ import annotations

import inspect

from napari_sam2.core.upstream import PRIVATE_CONTRACT


def test_session_attributes_exist():
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    state = Sam2VideoInferenceSession(video=None, video_height=10, video_width=10)
    for name in PRIVATE_CONTRACT:
        assert hasattr(state, name), f"transformers' session has no {name!r} any more"
    state.obj_id_to_idx(5)
    assert set(state.output_dict_per_obj[0]) == {"cond_frame_outputs", "non_cond_frame_outputs"}
    assert state.frames_tracked_per_obj[0] == {}


def test_frames_are_read_through_len_and_getitem_only():
    from transformers.models.sam2_video import modeling_sam2_video as m

    source = inspect.getsource(m.Sam2VideoInferenceSession)
    assert "len(self.processed_frames)" in source
    assert "self.processed_frames[frame_idx].to(" in source


def test_feature_cache_interface():
    from transformers.models.sam2_video import modeling_sam2_video as m

    model_source = inspect.getsource(m.Sam2VideoModel._prepare_vision_features)
    assert "inference_session.cache.get_vision_features(frame_idx)" in model_source
    assert "inference_session.cache.cache_vision_features(" in model_source


def test_corrections_are_still_stored_as_non_conditioning():
    # If transformers fixes this upstream, the engine's move of the output may be dropped.
    from transformers.models.sam2_video import modeling_sam2_video as m

    source = inspect.getsource(m.Sam2VideoModel.forward)
    assert "is_init_cond_frame = frame_idx not in inference_session.frames_tracked_per_obj[obj_idx]" in source
    assert '"reverse": reverse' in source


def test_high_res_masks_are_only_read_from_the_live_output():
    from transformers.models.sam2_video import modeling_sam2_video as m

    source = inspect.getsource(m)
    assert source.count('["high_res_masks"]') == 1  # current_out["high_res_masks"] in forward


def test_tracked_outputs_are_only_looked_up_by_frame():
    # SpillingOutputs (core.state) brings a spilled entry back on get / in / []; a release
    # that iterates over every tracked output (values(), items()) would read them all back.
    import re

    from transformers.models.edgetam_video import modeling_edgetam_video as e
    from transformers.models.sam2_video import modeling_sam2_video as m

    for module in (m, e):
        source = inspect.getsource(module)
        uses = re.findall(r'\["non_cond_frame_outputs"\](\.\w+|\[)?', source)
        assert uses, module.__name__
        assert set(uses) <= {".get", "["}, (module.__name__, set(uses))
        assert "_prepare_vision_features" in source  # used by TrackingSession.encode


def test_a_release_that_changed_the_contract_stops_with_one_line_naming_the_range():
    import pytest

    from napari_sam2.core.errors import Sam2SetupError
    from napari_sam2.core.upstream import TESTED_TRANSFORMERS, check_transformers_contract

    class ChangedSession:  # what a future release might look like
        def __init__(self, video, video_height, video_width):
            self.processed_frames = None

    with pytest.raises(Sam2SetupError, match=r"uses \(cache, output_dict_per_obj, .*pip install 'transformers>=") as e:
        check_transformers_contract(ChangedSession)
    assert "\n" not in str(e.value) and TESTED_TRANSFORMERS in str(e.value)


def test_the_tested_range_is_the_one_pip_enforces():
    import pytest

    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    from napari_sam2.core.upstream import TESTED_TRANSFORMERS

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert TESTED_TRANSFORMERS in pyproject["project"]["dependencies"]


def _video_models():
    """``(module name, module source, video model class)`` of each private module."""
    import importlib

    from napari_sam2.core.upstream import PRIVATE_MODULES

    for module_name in PRIVATE_MODULES.values():
        module = importlib.import_module(module_name)
        model = next(v for k, v in vars(module).items() if k.endswith("VideoModel") and inspect.isclass(v))
        yield module_name, inspect.getsource(module), model


def _assert_takes(module_name, model, method, keywords):
    parameters = inspect.signature(getattr(model, method)).parameters
    assert set(keywords) <= set(parameters), (module_name, method, set(keywords) - set(parameters))


def _assert_called_with_keywords_only(module_name, source, name):
    """Every ``self.<name>(...)`` call in ``source`` passes keywords only (there is one at least)."""
    import re

    calls = re.findall(rf"self\.{name}\(\s*([^)]*?)\)", source, flags=re.S)
    assert calls, (module_name, name)
    for arguments in calls:
        arguments = re.sub(r"#[^\n]*", "", arguments)  # comments between arguments
        for argument in filter(None, (a.strip() for a in arguments.split(","))):
            assert re.match(r"\w+\s*=", argument), f"{name} is called with a positional argument"


def test_shadowed_methods_take_the_keywords_the_wrappers_read():
    """core.conditioned and session._as_meta wrap two private model methods as ``**kwargs``
    functions: each must exist, name those parameters, and be called with keywords only."""
    from napari_sam2.core.upstream import PRIVATE_METHODS

    for module_name, source, model in _video_models():
        for method, keywords in PRIVATE_METHODS.items():
            _assert_takes(module_name, model, method, keywords)
            _assert_called_with_keywords_only(module_name, source, method)


def test_private_module_paths_hold_the_session_classes():
    import importlib

    from napari_sam2.core.upstream import PRIVATE_MODULES

    for name, module_name in PRIVATE_MODULES.items():
        assert inspect.isclass(getattr(importlib.import_module(module_name), name)), module_name


def test_methods_tracking_objects_together_calls_take_its_keywords():
    """core.together calls five private model methods and stands in for the memory attention
    module with a ``**kwargs`` recorder: the methods must take the keywords it passes, and
    every call of the module must use keywords only."""
    from napari_sam2.core.upstream import PRIVATE_CALLS

    for module_name, source, model in _video_models():
        for method, keywords in PRIVATE_CALLS.items():
            _assert_takes(module_name, model, method, keywords)
        _assert_called_with_keywords_only(module_name, source, "memory_attention")
