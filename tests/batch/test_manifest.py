"""The stacks of a batch: manifest columns, glob pairing, per-row and whole-batch problems,
and the fingerprint that decides what a rerun skips. No cluster involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_sam2.batch.manifest import fingerprint, read_stacks
from napari_sam2.core.errors import Sam2InputError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture()
def plate(tmp_path):
    for name in ("A1", "A2", "B1"):
        (tmp_path / f"{name}.tif").write_bytes(b"stack")
        write(tmp_path / f"{name}_prompts.csv", "object_id,frame,y,x,positive\n1,0,5,5,1\n")
    (tmp_path / "out").mkdir()
    return tmp_path


def test_manifest_rows_become_track_settings_and_a_row_column_wins(plate):
    manifest = write(
        plate / "m.csv",
        "input,prompts,output,hold,channel,roi\nA1.tif,A1_prompts.csv,,0=5;2=1,0;1;2,1;2;30;40\nA2.tif,A2_prompts.csv,x.tif,,,\n",
    )
    first, second = read_stacks(str(manifest), plate / "out")
    assert first.output == plate / "out" / "A1.tif" and second.output == plate / "out" / "x.tif"
    settings = first.settings({"model": "m", "hold": ["1=3"], "roi": [0.0, 0.0, 9.0, 9.0]})
    assert (settings.input, settings.out, settings.prompts) == (
        str(plate / "A1.tif"), str(plate / "out" / "A1.tif"), str(plate / "A1_prompts.csv")
    )  # fmt: skip
    assert settings.hold == ("0=5", "2=1") and settings.channel == (0, 1, 2) and settings.roi == (1, 2, 30, 40)
    assert settings.model == "m" and settings.quiet and settings.overwrite
    assert type(settings).__name__ == "TrackSettings"
    bad = read_stacks(str(write(plate / "b.csv", "input,prompts,axis\nA1.tif,A1_prompts.csv,two\n")), plate / "o")[0]
    with pytest.raises(Sam2InputError, match="axis: 'two' is not what it takes"):
        bad.settings({})
    assert first.problem is None and second.problem is None


def test_a_glob_finds_each_stacks_prompts_by_name(plate):
    rows = read_stacks(str(plate / "*.tif"), plate / "out")
    assert [r.input.name for r in rows] == ["A1.tif", "A2.tif", "B1.tif"]
    assert [r.prompts.name for r in rows] == ["A1_prompts.csv", "A2_prompts.csv", "B1_prompts.csv"]
    (plate / "B1_prompts.csv").unlink()
    rows = read_stacks(str(plate / "*.tif"), plate / "out")
    assert rows[2].problem == f"The prompts file {plate / 'B1_prompts.csv'} does not exist."
    assert read_stacks(str(plate / "*.tif"), plate / "out", seeds_given=True)[2].problem is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input\nA1.tif\n", "missing column(s) prompts"),
        ("input,prompts,colour\nA1.tif,A1_prompts.csv,red\n", "unknown column(s) colour"),
        ("input,prompts\n", "has no rows"),
        ("input,prompts\nA1.tif,A1_prompts.csv,extra\n", "more values than the header"),
        ("input,prompts,output\nA1.tif,A1_prompts.csv,same.tif\nA2.tif,A2_prompts.csv,same.tif\n", "Rows 1 and 2 both"),
    ],
)
def test_a_bad_manifest_is_one_line_for_the_whole_batch(plate, text, message):
    with pytest.raises(Sam2InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_stacks(str(write(plate / "m.csv", text)), plate / "out")


def test_bad_rows_are_isolated_with_their_reason(plate):
    manifest = write(
        plate / "m.csv",
        "input,prompts,output\nA1.tif,nope.csv,\nmissing.tif,A2_prompts.csv,\nB1.tif,B1_prompts.csv,../B1.tif\nA2.tif,,\n",
    )
    problems = [row.problem for row in read_stacks(str(manifest), plate / "out")]
    assert problems == [
        f"The prompts file {plate / 'nope.csv'} does not exist.",
        f"The input {plate / 'missing.tif'} does not exist.",
        f"The output {plate / 'out' / '..' / 'B1.tif'} is the input {plate / 'B1.tif'}; "
        "choose another --out-dir or output.",
        "Row 4 has no prompts file (and no seeds): nothing to track.",
    ]


def test_the_fingerprint_follows_the_options_and_the_prompts_not_the_output_flags(plate):
    [row] = read_stacks(str(write(plate / "m.csv", "input,prompts\nA1.tif,A1_prompts.csv\n")), plate / "out")
    base = fingerprint(row.settings({"model": "m"}), row)
    assert fingerprint(row.settings({"model": "m", "quiet": True}), row) == base
    assert fingerprint(row.settings({"model": "m", "fill_hole_area": 0}), row) != base
    write(plate / "A1_prompts.csv", "object_id,frame,y,x,positive\n1,0,6,5,1\n")
    assert fingerprint(row.settings({"model": "m"}), row) != base
    moved = fingerprint(row.settings({"model": "m"}), row)
    write(plate / "A1_prompts_settings.json", '{"axis": 0}')  # napari's exported settings change the labels too
    assert fingerprint(row.settings({"model": "m"}), row) != moved


def test_population_columns_make_population_settings(plate):
    """A row may seed a population: its seeds (a label file beside the manifest, or a seeder)
    and seed frame become the population's seeds and seed frame, and it needs no prompts."""
    (plate / "A1_nuclei.tif").write_bytes(b"labels")
    manifest = write(plate / "m.csv", "input,prompts,seeds,seed_frame\nA1.tif,,A1_nuclei.tif,3\nA2.tif,,threshold,\n")
    first, second = read_stacks(str(manifest), plate / "out")
    assert first.problem is None and second.problem is None
    one = first.settings({"seeds": "sam"})
    assert type(one).__name__ == "PopulationSettings"
    assert (one.seeds, one.seed_frame) == (str(plate / "A1_nuclei.tif"), 3)
    two = second.settings({"redetect_every": 5})
    assert (two.seeds, two.redetect_every, two.seed_frame) == ("threshold", 5, 0)
