"""The review queue in napari: the likely mistakes of the labels, walked through one by one.

:class:`ReviewQueue` runs the core's review (:mod:`napari_sam2.core.review`) on the bound
Labels layer, at the held indices the user sees, with the run's object scores and the
lineage of the image's :class:`~._state.Workspace`. It keeps its measures per frame, so
after a correction (a click, Divide…, a paint stroke, Ctrl-Z) only the frames that changed
are measured again and the queue is re-ranked: a fixed mistake leaves the queue, an undone
fix brings it back.

Going to an item moves the frame slider to it, centres and zooms the camera on the cell,
selects the cell in the Labels layer and, when it is one of the tracker's objects, in the
tracker. **Accept** marks an item as fine: the mark is kept in the workspace under the
item's key (kind, cell, first frame) and saved in the sidecar (``review``), so reopening the
result keeps it: labels opened from a saved TIFF bring their marks back from its sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.review import ReviewItem, review_measures
from ..core.review.measures import MeasureCache
from ..core.review.results import ACCEPTED


@dataclass(frozen=True)
class ReviewView:
    """What the Review panel draws: the items, which are open, and the one shown."""

    items: tuple[ReviewItem, ...] = ()
    reviewed: frozenset[str] = frozenset()
    current: ReviewItem | None = None
    computed: bool = False

    @property
    def open_items(self) -> list[ReviewItem]:
        return [i for i in self.items if i.key not in self.reviewed]


class _LayerFrames:
    """The labels layer's planes along the frame axis, at the held indices (what is shown)."""

    def __init__(self, binding) -> None:
        self.binding, self.held = binding, binding.held()

    def __len__(self) -> int:
        return self.binding.frame_count()

    def __getitem__(self, t: int) -> np.ndarray:
        labels = self.binding.labels.data
        if self.binding.frame_axis is None:
            return np.asarray(labels)
        return np.asarray(labels[self.binding.plane_index(t, self.held)])


class ReviewQueue:
    """The review of the bound labels (see the module docstring)."""

    def __init__(self, binding, state, *, go_to_frame, select_object) -> None:
        self.binding, self.state = binding, state
        self._go_to_frame, self._select_object = go_to_frame, select_object
        self._cache: MeasureCache | None = None
        self._cache_of = None  # the labels layer the cache measured
        self._current: ReviewItem | None = None
        self.view = ReviewView()

    # -- computing --------------------------------------------------------------------------------
    def find(self) -> ReviewView:
        """Review the bound labels now (the first time: every frame; then the changed ones)."""
        from ..core.errors import Sam2InputError

        if self.binding.labels is None or self.binding.image is None:
            raise Sam2InputError("Choose an image with its labels first: there is nothing to review.")
        if self._cache is None or self._cache_of is not self.binding.labels:
            self._cache, self._cache_of = MeasureCache(), self.binding.labels
        measures, _ = self._cache.update(_LayerFrames(self.binding))
        workspace = self.state.workspace
        if not workspace.reviewed:
            workspace.reviewed.update(_saved_marks(self.binding.labels))
        lineage = workspace.lineage
        parents = {i: t.parent for i, t in lineage.tracks.items()} if len(lineage) else None
        items = review_measures(measures, scores=workspace.scores or None, parents=parents)
        if self._current is not None and self._current not in items:
            self._current = None
        return self._publish(items, computed=True)

    def refresh(self) -> ReviewView | None:
        """After the labels may have changed: recompute when the review has been asked for."""
        if not self.view.computed or self.binding.labels is None or self.state.busy_image:
            return None
        if self._cache_of is not self.binding.labels:  # another image: its own review, on request
            self._cache, self._cache_of, self._current = None, None, None
            return self._publish((), computed=False)
        return self.find()

    def _publish(self, items, *, computed: bool) -> ReviewView:
        reviewed = frozenset(k for k, v in self.state.workspace.reviewed.items() if v == ACCEPTED)
        self.view = ReviewView(tuple(items), reviewed, self._current, computed)
        self.state.events.review.emit(self.view)
        return self.view

    # -- walking ----------------------------------------------------------------------------------
    def step(self, direction: int = 1) -> ReviewItem | None:
        """Go to the next (1) or previous (-1) open item; wraps around."""
        open_items = self.view.open_items
        if not open_items:
            return None
        if self._current in open_items:
            index = (open_items.index(self._current) + direction) % len(open_items)
        else:
            index = 0 if direction > 0 else len(open_items) - 1
        return self.go_to(open_items[index])

    def go_to(self, item: ReviewItem) -> ReviewItem:
        """Show ``item``: its frame, the camera on its cell, the cell selected."""
        self._current = item
        self._go_to_frame(item.frame)
        self._centre_on(item)
        labels = self.binding.labels
        if labels is not None:
            labels.selected_label = item.cell
        if item.cell in self.state.objects:
            self._select_object(item.cell)
        self._publish(self.view.items, computed=True)
        return item

    def _centre_on(self, item: ReviewItem) -> None:
        labels, viewer = self.binding.labels, self.binding.viewer
        plane = _LayerFrames(self.binding)[item.frame]
        where = np.argwhere(plane == item.cell)
        if labels is None or not len(where):
            return
        centre, extent = where.mean(axis=0), np.ptp(where, axis=0).max() + 1
        index = list(self.binding.plane_index(item.frame)) if self.binding.frame_axis is not None else []
        world = labels.data_to_world([*index, *centre])
        displayed = list(viewer.dims.displayed)
        viewer.camera.center = tuple(float(world[d - (viewer.dims.ndim - labels.ndim)]) for d in displayed)
        pixel = float(np.min(np.abs(labels.scale[-2:])))
        viewer.camera.zoom = float(min(viewer.canvas.size)) / max(6 * extent * pixel, 1e-6)

    # -- marks ------------------------------------------------------------------------------------
    def accept(self, item: ReviewItem | None = None) -> None:
        """Mark ``item`` (default: the one shown) as fine, and go to the next open one."""
        item = item or self._current
        if item is None:
            return
        self.state.workspace.reviewed[item.key] = ACCEPTED
        self._publish(self.view.items, computed=self.view.computed)
        if self.view.open_items:
            self.step(1)

    def reopen(self, item: ReviewItem) -> None:
        """Put an accepted item back in the queue."""
        self.state.workspace.reviewed.pop(item.key, None)
        self._publish(self.view.items, computed=self.view.computed)


def _saved_marks(labels) -> dict[str, str]:
    """The marks saved beside the file these labels were opened from (its sidecar's ``review``)."""
    from ..core.errors import Sam2InputError
    from ..core.outputs import read_sidecar

    path = getattr(getattr(labels, "source", None), "path", None)
    if not path or not str(path).lower().endswith((".tif", ".tiff")):
        return {}
    try:
        marks = read_sidecar(path).get("review")
    except (Sam2InputError, OSError):
        return {}
    return {str(k): str(v) for k, v in marks.items()} if isinstance(marks, dict) else {}
