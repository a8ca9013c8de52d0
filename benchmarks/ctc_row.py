"""Benchmark row: peak memory of ``track --ctc --geff``'s exports on a long 1024² label stack.

The exports read the label file the run just wrote. They used to load it whole and copy it
(two stacks in memory); they now read one frame at a time. A child process writes a
200-frame 1024x1024 uint16 label stack (400 MiB) with moving cells and a lineage, then runs
the exports of ``jobs.population`` on it and reports its peak RSS before and after. No model.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

_CHILD = r"""
import resource, sys
from types import SimpleNamespace
import numpy as np
sys.path.insert(0, {root!r})
from napari_sam2.core.lineage import Lineage
from napari_sam2.core.outputs import LabelsTiffWriter
from napari_sam2.jobs.population import export
from napari_sam2.settings import PopulationSettings

n, size, out = {frames}, 1024, {out!r}
writer = LabelsTiffWriter(out, shape=(n, size, size), dtype=np.uint16)
yy, xx = np.ogrid[:size, :size]
lineage = Lineage()
for cell in range(1, 41):
    lineage.start(cell, 0)
    lineage.end(cell, n - 1)
for t in range(n):
    plane = np.zeros((size, size), np.uint16)
    for cell in range(1, 41):
        cy, cx = 60 + 150 * ((cell - 1) // 6) + t % 20, 60 + 150 * ((cell - 1) % 6) + t // 20
        plane[(yy - cy) ** 2 + (xx - cx) ** 2 < 30 ** 2] = cell
    writer.write_frame(t, plane)
writer.commit()
del plane
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
settings = PopulationSettings(input=out, out=out, ctc={ctc!r}, geff={geff!r})
export(out, SimpleNamespace(lineage=lineage, skipped_divisions=[]), settings, {{}}, "T")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PEAK_KB", before, after)
"""


def row_ctc_memory(args=None, frames: int = 200) -> dict:
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        code = _CHILD.format(root=root, frames=frames, out=f"{tmp}/labels.tif", ctc=f"{tmp}/RES", geff=f"{tmp}/g.geff")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = (int(v) / 1024 for v in out.split("PEAK_KB")[1].split())
    stack = frames * 1024 * 1024 * 2 / 2**20
    growth = after - before
    return {
        "metric": f"peak RSS growth of the CTC + GEFF exports of a {frames}-frame 1024² uint16 label stack",
        "value": round(growth, 1),
        "unit": "MiB",
        "target": f"< one stack copy ({stack:.0f} MiB); before: two copies",
        "ok": growth < stack,
        "details": {"peak_before_export_mib": round(before, 1), "peak_after_export_mib": round(after, 1)},
    }


if __name__ == "__main__":
    print(row_ctc_memory())
