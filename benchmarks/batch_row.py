"""The batch row of benchmarks/run.py: stacks per hour with ``napari-sam2 batch`` on 1 and 2
workers against a shell loop of ``napari-sam2 track`` over the same stacks.

Each ``track`` process pays Python's start, the imports and the model load; a batch worker
pays them once. The stacks are short (3 frames, one object) so that this fixed cost shows,
as it does in a screen of many short movies.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STACKS, FRAMES = 6, 3


def _plate(tmp: Path) -> Path:
    import tifffile

    from napari_sam2.core.sample import make_timelapse

    rows = ["input,prompts,output"]
    for i in range(STACKS):
        stack, prompts = make_timelapse(FRAMES, (256, 256), n_cells=3, seed=i)
        tifffile.imwrite(tmp / f"s{i}.tif", stack, imagej=True, metadata={"axes": "TYX"})
        p = prompts[0]
        (tmp / f"s{i}_prompts.csv").write_text(f"object_id,frame,y,x,positive\n1,{p.frame},{p.y},{p.x},1\n")
        rows.append(f"s{i}.tif,s{i}_prompts.csv,s{i}.tif")
    (tmp / "plate.csv").write_text("\n".join(rows) + "\n")
    return tmp / "plate.csv"


def row_batch(args, model_dir) -> dict:
    cores = os.cpu_count() or 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    cli = [sys.executable, "-m", "napari_sam2.cli"]
    common = ["--model", str(model_dir), "--device", args.device, "--direction", "forward", "--quiet"]
    walls: dict[str, float] = {}
    tasks: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        plate = _plate(tmp)
        for config in ("loop", "batch-1", "batch-2", "loop"):  # the loop twice: the first warms the disk cache
            out = tmp / config
            out.mkdir(exist_ok=True)
            t0 = time.perf_counter()
            if config == "loop":
                for i in range(STACKS):
                    subprocess.run(
                        [*cli, "track", str(tmp / f"s{i}.tif"), "--prompts", str(tmp / f"s{i}_prompts.csv"),
                         "--out", str(out / f"s{i}.tif"), "--threads", str(cores), "--overwrite", *common],
                        check=True, capture_output=True, env=env,
                    )  # fmt: skip
            else:
                workers = int(config[-1])
                subprocess.run(
                    [*cli, "batch", str(plate), "--out-dir", str(out), "--workers", str(workers),
                     "--threads-per-worker", str(max(1, cores // workers)), "--force", *common],
                    check=True, capture_output=True, env=env,
                )  # fmt: skip
                with open(out / "batch-report.csv", newline="") as handle:
                    tasks[config] = [float(r["wall_s"]) for r in csv.DictReader(handle)]
            walls[config] = time.perf_counter() - t0
    per_hour = {k: round(STACKS / v * 3600, 1) for k, v in walls.items()}
    overhead = {
        k: round((walls[k] * int(k[-1]) - sum(v)) / STACKS, 2) for k, v in tasks.items()
    }  # worker time per stack not spent inside a stack's task: start, model load, scheduling
    return {
        "metric": f"stacks per hour, {STACKS} stacks of {FRAMES} frames: batch on 2 workers vs a shell loop of track",
        "value": round(per_hour["batch-2"] / per_hour["loop"], 2),
        "unit": "x",
        "target": "report (the gain is the model load, paid once per worker)",
        "ok": None,
        "details": {
            "stacks_per_hour": per_hour,
            "wall_s": {k: round(v, 1) for k, v in walls.items()},
            "batch_1_vs_loop": round(per_hour["batch-1"] / per_hour["loop"], 2),
            "task_s_median": {k: statistics.median(v) for k, v in tasks.items()},
            "overhead_s_per_stack": overhead,
        },
    }
