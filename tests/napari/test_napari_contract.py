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
