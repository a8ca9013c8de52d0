"""Private parts of napari's Labels layer that the one-undo-step-per-run history relies on.

napari is held below 0.10; if a release removes these, this fails loudly.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")


def test_labels_history_accepts_one_item_of_box_atoms():
    from napari.layers import Labels

    from napari_sam2.plugin._run_history import RunHistory

    layer = Labels(np.zeros((3, 10, 10), np.uint16))
    history = RunHistory(layer)
    for frame in range(3):
        plane = np.zeros((10, 10), np.uint16)
        plane[2:5, 3:6] = 7
        history.write((frame,), plane)
    assert history.commit()
    assert len(layer._undo_history) == 1 and (layer.data == 7).sum() == 27
    layer.undo()
    assert not layer.data.any()
    layer.redo()
    assert (layer.data == 7).sum() == 27


def test_an_undone_run_leaves_the_undo_history_and_a_redone_one_comes_back_with_its_atoms():
    """RunWriter.valid_runs and the lineage's versions tell an undone run by its item's
    absence from _undo_history; napari's redo puts back a new list of the same atoms."""
    from napari.layers import Labels

    from napari_sam2.plugin._run_history import RunHistory, in_undo_history, undo_history

    layer = Labels(np.zeros((2, 10, 10), np.uint16))
    history = RunHistory(layer)
    plane = np.zeros((10, 10), np.uint16)
    plane[1:4, 1:4] = 3
    history.write((0,), plane)
    item = history.commit()
    assert any(entry is item for entry in layer._undo_history)
    layer.undo()
    assert not any(entry is item for entry in layer._undo_history)
    assert not in_undo_history(item, undo_history(layer))
    layer.redo()
    assert in_undo_history(item, undo_history(layer))
    assert not any(entry is item for entry in layer._undo_history)  # why identity of the list is not enough
