"""Image input, prompt CSVs, label TIFF and provenance JSON."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_sam2.core import images, outputs, prompt_files
from napari_sam2.core.errors import Sam2InputError


def test_labels_tiff_round_trip_is_imagej_with_axes_and_scale(tmp_path):
    out = tmp_path / "labels.tif"
    writer = outputs.LabelsTiffWriter(
        out, shape=(4, 30, 40), dtype=np.uint16, frame_axis_letter="Z", scale={"X": 0.2, "Y": 0.2, "Z": 1.5}, unit="um"
    )
    plane = writer.read_frame(2)
    plane[5:10, 6:12] = 3
    writer.write_frame(2, plane)
    assert not out.exists()  # nothing under the final name before commit
    writer.commit({"complete": True})
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX"
        assert tif.imagej_metadata["spacing"] == 1.5 and tif.imagej_metadata["unit"] == "um"
        data = tif.asarray()
    assert data.dtype == np.uint16 and (data[2, 5:10, 6:12] == 3).all() and data.sum() == 3 * 30
    assert outputs.read_sidecar(out)["complete"] is True
    image = images.read_image(out)
    assert image.axes == "ZYX" and image.scale["Z"] == 1.5 and image.scale["X"] == pytest.approx(0.2)


def test_uint32_labels_are_written_without_imagej(tmp_path):
    writer = outputs.LabelsTiffWriter(tmp_path / "l.tif", shape=(2, 8, 8), dtype=np.uint32)
    writer.write_frame(1, np.full((8, 8), 70000))
    writer.commit()
    assert tifffile.imread(tmp_path / "l.tif")[1, 0, 0] == 70000


def test_discarded_writer_leaves_nothing(tmp_path):
    writer = outputs.LabelsTiffWriter(tmp_path / "l.tif", shape=(2, 8, 8), dtype=np.uint16)
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_read_image_is_lazy_for_plain_and_compressed_tiff(tmp_path):
    stack = np.random.default_rng(0).integers(0, 4000, (5, 32, 48)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "plain.tif", stack, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "zlib.tif", stack, compression="zlib")
    plain = images.read_image(tmp_path / "plain.tif")
    assert not isinstance(plain.data, np.ndarray) and plain.axes == "TYX"  # file reads, not a map
    np.testing.assert_array_equal(np.asarray(plain.data[2]), stack[2])
    plain.close()
    compressed = images.read_image(tmp_path / "zlib.tif")
    assert not isinstance(compressed.data, np.ndarray)
    np.testing.assert_array_equal(np.asarray(compressed.data[3]), stack[3])
    compressed.close()


def test_read_image_hyperstack_and_ome_axes(tmp_path):
    tzcyx = np.zeros((2, 3, 2, 16, 16), np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", tzcyx, imagej=True, metadata={"axes": "TZCYX"})
    assert images.read_image(tmp_path / "h.tif").axes == "TZCYX"
    tifffile.imwrite(tmp_path / "o.ome.tif", tzcyx[:, :, 0], ome=True, metadata={"axes": "TZYX", "PhysicalSizeX": 0.3})
    ome = images.read_image(tmp_path / "o.ome.tif")
    assert ome.axes == "TZYX" and ome.scale["X"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.tif", None, "does not exist"),
        ("text.tif", b"hello, not an image", "not a readable TIFF"),
        ("image.png", b"\x89PNG", "unsupported input"),
        ("bad.npy", b"not numpy", "not a readable .npy"),
    ],
)
def test_bad_images_are_clear_errors(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(Sam2InputError, match=message):
        images.read_image(tmp_path / name)


def test_prompt_csv_round_trip(tmp_path):
    rows = [prompt_files.PointRow(1, 3, 10.5, 20.25, True), prompt_files.PointRow(2, 0, 1, 2, False)]
    prompt_files.write_point_prompts(tmp_path / "p.csv", rows)
    assert prompt_files.read_point_prompts(tmp_path / "p.csv") == rows
    boxes = [prompt_files.BoxRow(1, 2, 1, 2, 30, 40)]
    prompt_files.write_box_prompts(tmp_path / "b.csv", boxes)
    assert prompt_files.read_box_prompts(tmp_path / "b.csv") == boxes


def test_napari_points_csv_export_is_accepted(tmp_path):
    # What napari writes for a 3-D Points layer with features object_id and positive.
    (tmp_path / "napari.csv").write_text(
        "index,axis-0,axis-1,axis-2,object_id,positive\n0,4.0,10.5,20.0,1,True\n1,4.0,12.0,25.0,2,False\n"
    )
    rows = prompt_files.read_point_prompts(tmp_path / "napari.csv")
    assert rows == [prompt_files.PointRow(1, 4, 10.5, 20.0, True), prompt_files.PointRow(2, 4, 12.0, 25.0, False)]
    (tmp_path / "n4.csv").write_text("index,axis-0,axis-1,axis-2,axis-3\n0,1,6,10.0,20.0\n")
    assert prompt_files.read_point_prompts(tmp_path / "n4.csv", frame_axis=1) == [
        prompt_files.PointRow(1, 6, 10.0, 20.0, True)
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("object_id,frame,y,x,positive\n", "is empty"),
        ("a,b,c\n1,2,3\n", "needs columns"),
        ("object_id,frame,y,x,positive\n1,0,ten,5,1\n", "line 2: column 'y' should be a number"),
        ("object_id,frame,y,x,positive\n1,0.5,1,5,1\n", "whole number"),
        ("object_id,frame,y,x,positive\n1,0,1,5,maybe\n", "'positive' should be"),
        ("object_id,frame,y,x,positive\n0,0,1,5,1\n", "positive whole number"),
    ],
)
def test_malformed_prompt_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / "p.csv").write_text(content)
    with pytest.raises(Sam2InputError, match=message):
        prompt_files.read_point_prompts(tmp_path / "p.csv")


def test_malformed_box_files_are_clear_errors(tmp_path):
    (tmp_path / "b.csv").write_text("object_id,frame,y0,x0,y1,x1\n1,0,10,10,5,20\n")
    with pytest.raises(Sam2InputError, match="y0 < y1"):
        prompt_files.read_box_prompts(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("object_id,frame,y0,x0\n1,0,10,10\n")
    with pytest.raises(Sam2InputError, match="missing y1, x1"):
        prompt_files.read_box_prompts(tmp_path / "c.csv")
