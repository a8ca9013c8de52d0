"""The result reader (formats issue): a sidecar opens its labels with the work they carry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.lineage import Lineage
from napari_sam2.core.outputs import LabelsTiffWriter
from napari_sam2.plugin._npe2 import get_result_reader, read_result
from napari_sam2.plugin._state import workspace_from_sidecar


def _result(tmp_path, lineage: Lineage | None = None):
    labels = np.zeros((3, 20, 30), np.uint16)
    labels[:, 5:10, 5:10] = 1
    labels[1:, 12:18, 20:26] = 2
    writer = LabelsTiffWriter(
        tmp_path / "r.tif", shape=labels.shape, dtype=np.uint16, scale={"T": 2.0, "Y": 0.5, "X": 0.5}
    )
    for t in range(3):
        writer.write_frame(t, labels[t])
    sidecar = {"napari_sam2_version": "x", "scores": {"0": {"1": 3.5}}, "objects": {"1": "mother"},
               "review": {"flicker:1:2": "accepted"}}  # fmt: skip
    if lineage is not None:
        sidecar["lineage"] = lineage.as_dict()
    writer.commit(sidecar)
    return labels


def test_a_sidecar_opens_its_labels_with_scale_tracks_and_work(tmp_path):
    lineage = Lineage()
    lineage.start(1, 0)
    lineage.end(1, 2)
    lineage.start(2, 1)
    lineage.end(2, 2)
    labels = _result(tmp_path, lineage)
    reader = get_result_reader(str(tmp_path / "r.json"))
    assert reader is read_result
    (data, meta, kind), (tracks, tmeta, tkind) = reader(str(tmp_path / "r.json"))
    assert kind == "labels" and (data == labels).all() and meta["scale"] == (2.0, 0.5, 0.5)
    assert tkind == "tracks" and sorted({int(i) for i in tracks[:, 0]}) == [1, 2]
    workspace = workspace_from_sidecar(meta["metadata"]["napari_sam2"])
    assert workspace.names == {1: "mother"} and workspace.scores == {0: {1: 3.5}}
    assert sorted(workspace.lineage.tracks) == [1, 2] and workspace.reviewed == {"flicker:1:2": "accepted"}


def test_other_json_is_not_ours_and_a_missing_tiff_is_one_line(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"a": 1}))
    assert get_result_reader(str(tmp_path / "settings.json")) is None
    assert get_result_reader(str(tmp_path / "nothing.json")) is None
    _result(tmp_path)
    (tmp_path / "r.tif").unlink()
    with pytest.raises(Sam2InputError, match="r.tif is not beside it"):
        read_result(str(tmp_path / "r.json"))


def test_a_damaged_sidecar_gives_the_labels_alone():
    assert workspace_from_sidecar({"scores": {"x": 1}}).scores == {}
    assert workspace_from_sidecar(None).names == {}
