"""The review job: the queue of likely mistakes of a result, printed and written as CSV.

``napari-sam2 review`` runs :func:`run_review` on a label TIFF or a CTC folder; ``track``
and ``batch`` call :func:`review_after_run` once the labels are written, so that
``LABELS_review.csv`` lies beside every result (``--review-top``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..core.review import ReviewItem, review
from ..core.review.results import ACCEPTED, ReviewSource, open_result, review_csv_path, write_review_csv


def run_review(path: str, *, out: str | None = None, top: int = 20, stream: TextIO | None = None) -> list[ReviewItem]:
    """Review ``path``, print the ``top`` items as a table on ``stream``, write every item to ``out``."""
    stream = stream or sys.stdout
    items, source = _review_file(path)
    if source.note:
        print(f"napari-sam2: {source.note}", file=sys.stderr)
    accepted = [i for i in items if (source.reviewed or {}).get(i.key) == ACCEPTED]
    if accepted:
        items = [i for i in items if i not in accepted]
        print(f"napari-sam2: {len(accepted)} item(s) accepted in napari are left out.", file=sys.stderr)
    print(format_table(items, top=top, frames=len(source.labels)), file=stream)
    if out:
        write_review_csv(out, items)
        print(f"napari-sam2: wrote {len(items)} items to {out}", file=sys.stderr)
    return items


def format_table(items: list[ReviewItem], *, top: int, frames: int) -> str:
    if not items:
        return f"No likely mistakes found in {frames} frames."
    lines = [f"{len(items)} places to look, most suspicious first (frames from 0):",
             f"{'rank':>4}  {'kind':<17} {'cell':>5} {'frames':>9}  {'score':>5}  reason"]  # fmt: skip
    for rank, item in enumerate(items[:top], start=1):
        frames_text = str(item.frame) if item.last_frame == item.frame else f"{item.frame}-{item.last_frame}"
        lines.append(f"{rank:>4}  {item.kind:<17} {item.cell:>5} {frames_text:>9}  {item.score:>5.2f}  {item.reason}")
    if len(items) > top:
        lines.append(f"... and {len(items) - top} more (all of them in the CSV)")
    return "\n".join(lines)


def review_after_run(labels_path: str | Path, top: int | None) -> int | None:
    """Write ``LABELS_review.csv`` beside a finished run's labels (``top`` items; all if None).

    Returns the number of items found, or None when ``top`` is 0 (no review asked)."""
    if top == 0 or not Path(labels_path).exists():
        return None
    items, _ = _review_file(labels_path)
    write_review_csv(review_csv_path(labels_path), items if top is None else items[:top])
    return len(items)


def _review_file(path) -> tuple[list[ReviewItem], ReviewSource]:
    """The queue of a result file or folder, read once, and what was known of it."""
    source = open_result(path)
    try:
        return review(source.labels, scores=source.scores, parents=source.parents), source
    finally:
        source.close()
