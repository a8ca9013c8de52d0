"""Label outputs: inputs never written, pairs never mixed, partials never pile up, write errors one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sam2.core import outputs
from napari_sam2.core.errors import Sam2FileError, Sam2InputError


def _write_pair(path, value: int, *, status: str = "complete") -> str:
    writer = outputs.LabelsTiffWriter(path, shape=(2, 16, 16), dtype=np.uint16)
    writer.write_frame(1, np.full((16, 16), value))
    writer.commit({"status": status, "value": value})
    return writer.run_id


def test_an_output_that_is_the_input_by_any_spelling_is_refused(tmp_path):
    stack = tmp_path / "data" / "stack.tif"
    stack.parent.mkdir()
    stack.write_bytes(b"precious")
    (tmp_path / "link.tif").symlink_to(stack)
    os.link(stack, tmp_path / "hard.tif")
    spellings = [stack, tmp_path / "data" / ".." / "data" / "stack.tif", tmp_path / "link.tif", tmp_path / "hard.tif"]
    for out in spellings:
        with pytest.raises(Sam2InputError, match="is the input"):
            outputs.check_outputs(out, inputs=[stack], overwrite=True)
    store = tmp_path / "img.zarr"
    store.mkdir()
    with pytest.raises(Sam2InputError, match="inside it"):
        outputs.check_outputs(store / "labels.tif", inputs=[store], overwrite=True)
    assert stack.read_bytes() == b"precious"


def test_an_existing_sidecar_counts_as_existing_output(tmp_path):
    (tmp_path / "labels.json").write_text("{}")
    with pytest.raises(Sam2InputError, match="labels.json already exist"):
        outputs.check_outputs(tmp_path / "labels.tif")
    assert outputs.check_outputs(tmp_path / "labels.tif", overwrite=True) == tmp_path / "labels.tif"


def test_a_committed_pair_reads_back_and_a_mixed_pair_is_refused(tmp_path):
    out = tmp_path / "labels.tif"
    run_id = _write_pair(out, 1)
    sidecar = outputs.read_sidecar(out)
    assert sidecar["labels_run_id"] == run_id and sidecar["value"] == 1
    with tifffile.TiffFile(out) as tif:  # the run id does not disturb ImageJ readers
        assert tif.is_imagej and tif.series[0].axes == "TYX"
    old_json = outputs.sidecar_path(out).read_text()
    _write_pair(out, 2)
    outputs.sidecar_path(out).write_text(old_json)  # what a kill between the two renames leaves
    with pytest.raises(Sam2InputError, match="does not belong to labels.tif"):
        outputs.read_sidecar(out)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_kill_at_either_rename_never_leaves_a_json_describing_the_wrong_tiff(tmp_path, monkeypatch, kill_at):
    out = tmp_path / "labels.tif"
    _write_pair(out, 1)
    real_replace, calls = os.replace, []

    def killed(src, dst):
        calls.append(dst)
        if len(calls) == kill_at:
            raise KeyboardInterrupt  # the process dies here
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _write_pair(out, 2)
    monkeypatch.setattr(os, "replace", real_replace)
    value = int(tifffile.imread(out)[1, 0, 0])
    try:
        assert outputs.read_sidecar(out)["value"] == value  # consistent: the old pair
    except Sam2InputError:
        assert kill_at == 2 and value == 2  # new TIFF, old JSON: detected, never trusted
    assert not list(tmp_path.glob(".*.partial"))


_KILLED_WRITER = """
import os, signal, sys
import numpy as np
from napari_sam2.core.outputs import LabelsTiffWriter
LabelsTiffWriter(sys.argv[1], shape=(3, 32, 32), dtype=np.uint16)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_runs_leave_at_most_one_partial_and_a_live_writer_is_not_disturbed(tmp_path):
    out = tmp_path / "labels.tif"
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(out)])
        assert result.returncode == -9
    assert len(list(tmp_path.glob(".labels.tif.*.partial"))) == 1
    live = outputs.LabelsTiffWriter(out, shape=(3, 32, 32), dtype=np.uint16)
    assert [p.name for p in tmp_path.glob(".labels.tif.*.partial")] == [live.tmp.name]
    with pytest.raises(Sam2InputError, match="Another napari-sam2 run is writing"):
        outputs.LabelsTiffWriter(out, shape=(3, 32, 32), dtype=np.uint16)
    assert live.tmp.exists()
    live.commit()
    assert not list(tmp_path.glob(".*.partial")) and outputs.read_sidecar(out)


def test_a_full_disk_is_one_line_and_leaves_the_older_pair_and_nothing_else(tmp_path, monkeypatch):
    out = tmp_path / "labels.tif"
    _write_pair(out, 1)
    before = sorted(p.name for p in tmp_path.iterdir())
    writer = outputs.LabelsTiffWriter(out, shape=(2, 16, 16), dtype=np.uint16)

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(Sam2FileError, match=f"Cannot write labels.tif in {tmp_path}: the disk is full"):
        writer.write_frame(0, np.ones((16, 16)))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert outputs.read_sidecar(out)["value"] == 1


def test_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(30, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(Sam2FileError, match="read-only file system"):
        outputs.LabelsTiffWriter(tmp_path / "l.tif", shape=(2, 16, 16), dtype=np.uint16)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def tiny_disk(tmp_path):
    """A real 256 KiB file system (tmpfs), where mounting is allowed (root, as in CI)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_keeps_the_older_pair(tiny_disk):
    out = tiny_disk / "labels.tif"
    _write_pair(out, 1)
    before = {p.name: p.read_bytes() for p in tiny_disk.iterdir()}
    with pytest.raises(Sam2FileError, match="the disk is full"):
        writer = outputs.LabelsTiffWriter(out, shape=(8, 256, 256), dtype=np.uint16)  # 1 MiB
        for i in range(8):
            writer.write_frame(i, np.full((256, 256), 7))
        writer.commit({"value": 2})
    assert {p.name: p.read_bytes() for p in tiny_disk.iterdir()} == before
    assert json.loads(outputs.sidecar_path(out).read_text())["value"] == 1


def test_a_micrometre_unit_is_written_as_imagej_writes_it(tmp_path):
    """OME metadata says µm; ImageJ's description is ASCII, where µm is "micron" (a µ there
    made the writer fail with a UnicodeEncodeError)."""
    import tifffile

    from napari_sam2.core.outputs import LabelsTiffWriter

    writer = LabelsTiffWriter(
        tmp_path / "l.tif", shape=(2, 8, 8), dtype=np.uint16, scale={"Y": 0.5, "X": 0.5}, unit="µm"
    )
    writer.write_frame(1, np.ones((8, 8), np.uint16))
    writer.commit()
    with tifffile.TiffFile(tmp_path / "l.tif") as tif:
        assert tif.imagej_metadata["unit"] == "micron" and tif.asarray()[1].all()
