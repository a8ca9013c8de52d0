"""File names as users write them: ``well[B2].tif``, ``A?.tif``, spaces, ``*`` and non-ASCII
letters are names, never patterns, wherever napari-sam2 looks for files by name (partials of
killed runs, batch globs, prompts beside stacks)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import tifffile

from napari_sam2.batch.manifest import expand_stacks, read_stacks
from napari_sam2.cli import main
from napari_sam2.core import outputs

STALE = "0123456789ab"  # the token of a killed run's partial


def _partials(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".partial"))


def _sample_as(folder, name: str):
    """The sample stack and its prompts, renamed ``name.tif`` and ``name_prompts.csv``."""
    assert main(["sample", str(folder / "tmp"), "--frames", "4"]) == 0
    stack, prompts = folder / f"{name}.tif", folder / f"{name}_prompts.csv"
    (folder / "tmp" / "timelapse.tif").rename(stack)
    (folder / "tmp" / "timelapse_prompts.csv").rename(prompts)
    shutil.rmtree(folder / "tmp")
    return stack, prompts


def test_a_killed_runs_partial_beside_a_bracketed_name_is_removed_and_a_question_mark_is_no_wildcard(
    tmp_path, reduced_model_dir, capfd
):
    """The issue's reproduction: a partial of ``well[B2].tif`` was never removed, and
    ``--out 'A?.tif'`` was refused while ``AB.tif`` was being written."""
    stack, prompts = _sample_as(tmp_path, "timelapse")
    for name in ("well[B2].tif", "wellB2.tif"):
        (tmp_path / f".{name}.{STALE}.partial").write_bytes(b"killed")
    track = ["track", str(stack), "--prompts", str(prompts), "--model", str(reduced_model_dir), "--quiet"]
    assert main([*track, "--out", str(tmp_path / "well[B2].tif")]) == 0
    assert _partials(tmp_path) == [f".wellB2.tif.{STALE}.partial"]  # only its own partial went
    assert main([*track, "--out", str(tmp_path / "wellB2.tif")]) == 0
    assert _partials(tmp_path) == []

    from napari_sam2.core.outputs import LabelsTiffWriter

    busy = LabelsTiffWriter(tmp_path / "AB.tif", shape=(4, 8, 8), dtype=np.uint16)  # a run writing AB.tif
    try:
        assert main([*track, "--out", str(tmp_path / "A?.tif")]) == 0  # not "another run is writing"
    finally:
        busy.discard()
    assert tifffile.imread(tmp_path / "A?.tif").shape == (4, 160, 224)
    assert outputs.read_sidecar(tmp_path / "A?.tif")["complete"] is True
    capfd.readouterr()


def test_track_reads_and_writes_names_with_brackets_wildcards_spaces_and_accents(tmp_path, reduced_model_dir):
    folder = tmp_path / "plate [1] ñ"
    folder.mkdir()
    stack, prompts = _sample_as(folder, "well[B2] *?é")
    out = folder / "labels [B2] *?é.tif"
    code = main(["track", str(stack), "--prompts", str(prompts), "--out", str(out),
                 "--model", str(reduced_model_dir), "--quiet"])  # fmt: skip
    assert code == 0 and tifffile.imread(out).any()
    assert outputs.read_sidecar(out)["settings"]["prompts_file"] == str(prompts)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [stack.name, prompts.name, out.name, out.with_suffix(".json").name, "labels [B2] *?é_review.csv"]
    )


def test_a_batch_glob_takes_existing_folders_and_names_literally(tmp_path):
    folder = tmp_path / "plate [1]"
    folder.mkdir()
    for name in ("well[B2]", "well?A1", "wellé C3"):
        (folder / f"{name}.tif").write_bytes(b"")
        (folder / f"{name}_prompts.csv").write_text("object_id,frame,y,x,positive\n1,0,5,5,1\n")
    (folder / "notes.txt").write_text("")
    assert [p.name for p in expand_stacks(str(folder / "*.tif"))] == ["well?A1.tif", "well[B2].tif", "wellé C3.tif"]
    assert expand_stacks(str(folder / "well[B2].tif")) == [folder / "well[B2].tif"]  # a name, not [B or 2]
    rows = read_stacks(str(folder / "*.tif"), tmp_path)
    assert [(r.input.name, r.prompts.name, r.output.name) for r in rows] == [
        ("well?A1.tif", "well?A1_prompts.csv", "well?A1.tif"),
        ("well[B2].tif", "well[B2]_prompts.csv", "well[B2].tif"),
        ("wellé C3.tif", "wellé C3_prompts.csv", "wellé C3.tif"),
    ]
    assert all(r.problem is None for r in rows)
