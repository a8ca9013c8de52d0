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


# -- a Cell Tracking Challenge folder, a GEFF store -------------------------------------------------
def _truth():
    from tests.helpers import known_population

    return known_population()


def _rows(lineage: Lineage):
    return sorted((t.id, t.first, t.last, t.parent) for t in lineage.tracks.values())


def test_a_ctc_folder_opens_by_its_track_file_with_labels_lineage_and_tracks(tmp_path):
    from benchmarks.division_scenes import ground_truth_folder

    from napari_sam2.core.ctc import write_ctc
    from napari_sam2.plugin._npe2 import get_ctc_reader, read_ctc

    gt, lineage = _truth()
    folder = write_ctc(tmp_path / "01_RES", gt, lineage)
    reader = get_ctc_reader(str(folder / "res_track.txt"))
    assert reader is read_ctc and get_ctc_reader(str(tmp_path / "notes.txt")) is None
    (data, meta, kind), (tracks, tmeta, tkind) = reader(str(folder / "res_track.txt"))
    assert kind == "labels" and (data == gt).all() and meta["name"] == "01_RES"
    workspace = workspace_from_sidecar(meta["metadata"]["napari_sam2"])
    assert _rows(workspace.lineage) == _rows(lineage)  # the tracker takes the lineage up
    assert tkind == "tracks" and tmeta["graph"] == lineage.graph()
    assert sorted({int(i) for i in tracks[:, 0]}) == sorted(lineage.tracks)
    (tmp_path / "truth").mkdir()
    ground_truth_folder(tmp_path / "truth", gt, lineage)  # a ground truth's TRA folder opens the same way
    man_track = str(tmp_path / "truth/01_GT/TRA/man_track.txt")
    (truth, _, _), _ = get_ctc_reader(man_track)(man_track)
    assert (truth == gt).all()


@pytest.mark.parametrize(
    ("track_file", "said"),
    [
        ("1 0 4 0\n2 five 10 1\n", "line 2: expected four whole numbers"),
        ("1 0 4 0\n2 5 3 1\n", "line 2: track 2 ends on frame 3, before it starts"),
        ("1 0 4 0\n2 5 10 9\n", "parent 9 is not a track"),
        ("1 0 4 0\n1 5 10 0\n", "line 2: track 1 is 0 or named twice"),
    ],
)
def test_a_broken_res_track_is_one_line(tmp_path, track_file, said):
    import tifffile

    from napari_sam2.plugin._npe2 import read_ctc

    for t in range(3):
        tifffile.imwrite(tmp_path / f"mask{t:03d}.tif", np.zeros((8, 8), np.uint16))
    (tmp_path / "res_track.txt").write_text(track_file)
    with pytest.raises(Sam2InputError, match=said) as raised:
        read_ctc(str(tmp_path / "res_track.txt"))
    assert "\n" not in str(raised.value)
    (tmp_path / "mask001.tif").unlink()
    (tmp_path / "res_track.txt").write_text("1 0 2 0\n")
    with pytest.raises(Sam2InputError, match=r"mask files are missing for frames \[1\]"):
        read_ctc(str(tmp_path / "res_track.txt"))


def test_a_geff_store_opens_as_tracks_with_the_lineage_and_the_labels_it_names(tmp_path):
    import geff
    import zarr

    from napari_sam2.core.geff_export import write_geff
    from napari_sam2.plugin._npe2 import get_geff_reader, read_geff_layers

    gt, lineage = _truth()
    store = write_geff(tmp_path / "cells.geff", gt, lineage, scale=(5.0, 0.5, 0.5))
    assert get_geff_reader(str(store)) is read_geff_layers
    [(tracks, options, kind)] = read_geff_layers(str(store))  # no segmentation named: tracks alone
    assert kind == "tracks" and options["graph"] == lineage.graph() and options["scale"] == (5.0, 0.5, 0.5)
    assert sorted({int(i) for i in tracks[:, 0]}) == sorted(lineage.tracks)
    zarr.save_array(str(tmp_path / "cells.geff" / "segmentation"), gt)  # a sibling labels array, named
    meta = geff.GeffMetadata.read(str(store))
    meta.related_objects = [{"type": "labels", "path": "segmentation", "label_prop": "seg_id"}]
    meta.write(str(store))
    (labels, lmeta, lkind), (_, _, tkind) = read_geff_layers(str(store))
    assert lkind == "labels" and tkind == "tracks" and (labels == gt).all()
    assert _rows(workspace_from_sidecar(lmeta["metadata"]["napari_sam2"]).lineage) == _rows(lineage)


def test_a_geff_without_lineage_is_one_line_and_other_folders_are_not_ours(tmp_path):
    from napari_sam2.core.geff_export import write_geff
    from napari_sam2.plugin._npe2 import get_geff_reader, read_geff_layers

    (tmp_path / "plain.geff").mkdir()
    assert get_geff_reader(str(tmp_path / "plain.geff")) is None
    still = np.zeros((1, 10, 10), np.uint16)
    still[0, 2:5, 2:5] = 1
    lonely = Lineage()
    lonely.start(1, 0)
    store = write_geff(tmp_path / "one.geff", still, lonely)  # one cell, one frame: no edge
    assert get_geff_reader(str(store)) is read_geff_layers
    with pytest.raises(Sam2InputError, match="no edges between them: there is no lineage to show"):
        read_geff_layers(str(store))
