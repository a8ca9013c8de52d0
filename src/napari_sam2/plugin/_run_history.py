"""One undo step per propagation run, with a compact history.

napari's ``data_setitem`` stores fancy-index arrays (about 5 MiB per frame for a large
cell), and ``block_history()`` is a ``with`` block that cannot span a run whose frames
arrive over many turns of the event loop. A :class:`RunHistory` instead records, for each
frame written, the bounding box of what changed with its old and new values, and hands the
whole run to the layer's undo queue as one item when the run ends, however it ends. napari
replays such an atom as ``data[box] = values``.

Whether a committed item is still in the layer (not undone) is asked with
:func:`in_undo_history`: napari's redo puts back a new list holding the same atoms, so an
item is known by its first atom, not by the list.
"""

from __future__ import annotations

import warnings

import numpy as np


class RunHistory:
    """Collects the changes of one run on a Labels layer."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.atoms: list[tuple[tuple, np.ndarray, np.ndarray]] = []

    @property
    def nbytes(self) -> int:
        return sum(old.nbytes + new.nbytes for _, old, new in self.atoms)

    def write(self, index: tuple, new_plane: np.ndarray) -> None:
        """Replace the 2-D plane ``layer.data[index]`` by ``new_plane``, recording the change."""
        data = self.layer.data
        old_plane = np.asarray(data[index])
        changed = old_plane != new_plane
        if not changed.any():
            return
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        key = (*index, *box)
        self.atoms.append((key, old_plane[box].copy(), new_plane[box].copy()))
        data[key] = new_plane[box]

    def commit(self) -> list | None:
        """Push the run as one undo step (Ctrl-Z); return that undo item (None: no change)."""
        if not self.atoms:
            return None
        layer = self.layer
        item = list(self.atoms)
        with warnings.catch_warnings():
            # napari >= 0.9 warns on private access from plugins; there is no public way to
            # add one undo item that spans many event-loop turns (pinned below napari 0.10,
            # tests/napari/test_napari_contract.py checks these attributes).
            warnings.simplefilter("ignore", FutureWarning)
            layer._redo_history.clear()
            layer._append_to_undo_history(item)
        self.atoms = []
        return item


def undo_history(layer) -> list:
    """The layer's undo history (private in napari; tests/napari/test_napari_contract.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return list(layer._undo_history)


def redo_history(layer) -> list:
    """The layer's redo history: steps undone that Ctrl-Shift-Z would bring back."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return list(layer._redo_history)


def in_undo_history(item: list, history: list) -> bool:
    """True while ``item`` (from :meth:`RunHistory.commit`) is in ``history``: done, or redone."""
    atom = item[0]
    # Each undo or redo reverses an item's list; either end holds the first atom.
    return any(entry and (entry[0] is atom or entry[-1] is atom) for entry in history)
