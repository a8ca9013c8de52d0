"""Print the markdown table of a benchmark JSON (for docs/benchmarks.md)."""

from __future__ import annotations

import json
import sys


def main(path: str = "bench-out/benchmark.json") -> None:
    with open(path) as handle:
        report = json.load(handle)
    machine = report["machine"]
    print(
        f"Machine: {machine['processor']}, {machine['cpus']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), Python {machine['python']}; run took {report['total_seconds']} s.\n"
    )
    print("| metric | result | target | met |")
    print("|---|---|---|---|")
    for row in report["rows"]:
        met = {True: "yes", False: "**no**", None: "—"}[row["ok"]]
        print(f"| {row['metric']} | {row['value']} {row['unit']} | {row['target']} | {met} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
