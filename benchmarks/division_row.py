"""Benchmark row: divisions found however the daughters are born (linking rules, no model).

Runs ``division_scenes.py``'s scenes for every birth geometry (touching, 1, 3 and 6 px
apart), both mask behaviours (covers both daughters, follows one) and re-detection every
1, 3 and 5 frames, and reports py-ctcmetrics' BC(0), BC(1), TRA and CT and the false divisions
(the elongating cell, the one cut by noise) of each, and traccuracy's TRA and BC(0) of the
same runs (the second evaluator).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.division_scenes import scene, score  # noqa: E402

GEOMETRIES = {"touching": -3, "1 px apart": 1, "3 px apart": 3, "6 px apart": 6}


def row_divisions(args=None) -> dict:
    table = {}
    for name, gap in GEOMETRIES.items():
        gt, parents = scene(gap)
        for behaviour in ("covers", "follows"):
            for every in (1, 3, 5):
                with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    table[f"{name}, {behaviour}, every {every}"] = score(Path(tmp), gt, parents, behaviour, every)
    worst = min(r["BC(0)"] for r in table.values())
    return {
        "metric": "division rules: worst BC(0) over birth geometries x mask behaviours x re-detection 1, 3, 5",
        "value": worst,
        "unit": "BC(0)",
        "target": "BC(0) >= 0.9, TRA >= 0.95, CT >= 0.95 everywhere (both evaluators); no false division",
        "ok": worst >= 0.9
        and min(r["TRA"] for r in table.values()) >= 0.95
        and min(r["CT"] for r in table.values()) >= 0.95
        and all(r.get("traccuracy", {}).get("BC(0)", 1) >= 0.9 for r in table.values())
        and all(r.get("traccuracy", {}).get("TRA", 1) >= 0.95 for r in table.values())
        and not any(r["false_divisions"] for r in table.values()),
        "details": table,
    }


if __name__ == "__main__":
    for key, value in row_divisions()["details"].items():
        print(f"{key:<32} {value}")
