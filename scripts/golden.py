"""Golden outputs of ``napari-sam2 track`` and ``batch``, to show a redesign changes no output.

``python scripts/golden.py record DIR`` runs track (clicks; boxes; seeds with divisions,
--ctc and --geff; a replayed napari export) and batch on small synthetic inputs with a
random-weight model in the reduced shape, and writes DIR/digests.json: a digest of every
label TIFF's pixels, of every sidecar with the version, timestamps and paths left out, of
each CTC file and of the GEFF graph. ``python scripts/golden.py compare DIR`` runs the same
again and says which digests differ (exit status 1 if any).

Digests depend on this CPU's floating-point kernels: compare on the machine that recorded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

VOLATILE = {
    "created", "napari_sam2_version", "labels_run_id", "command", "platform", "input", "prompts_file",
    "boxes_file", "batch_settings_hash", "seeds", "divide_file", "revision", "spec", "model_id", "replayed",
}  # fmt: skip


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _labels_digests(path: Path) -> dict:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        out = {"pixels": _digest(tif.asarray().tobytes()), "axes": tif.series[0].axes}
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        out["sidecar"] = _digest(json.dumps(_clean(json.loads(sidecar.read_text())), sort_keys=True).encode())
    return out


def _inputs(work: Path, model: Path) -> dict:
    import numpy as np
    import tifffile
    from tests.helpers import known_population, render_fluorescence

    from napari_sam2.cli import main
    from napari_sam2.core import prompt_files

    assert main(["sample", str(work / "t"), "--frames", "8", "--objects", "3"]) == 0
    prompt_files.write_box_prompts(
        work / "boxes.csv", [prompt_files.BoxRow(1, 4, 40, 40, 100, 110), prompt_files.BoxRow(2, 4, 20, 120, 70, 190)]
    )
    truth, _ = known_population()
    tifffile.imwrite(work / "cells.tif", render_fluorescence(truth), imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(work / "seeds.tif", truth[0].astype(np.uint16))
    (work / "divide.csv").write_text("cell,frame,y1,x1,y2,x2\n2,8,20,33,40,33\n")
    return {"stack": work / "t" / "timelapse.tif", "prompts": work / "t" / "timelapse_prompts.csv", "model": model}


def run_all(work: Path) -> dict:
    from napari_sam2.cli import main
    from napari_sam2.core.models import save_random_model

    model = save_random_model("reduced", work / "model")
    files = _inputs(work, model)
    stack, prompts, m = str(files["stack"]), str(files["prompts"]), str(model)
    out, digests = work / "out", {}
    out.mkdir()
    runs = {
        "clicks": ["track", stack, "--prompts", prompts],
        "clicks-forward-range": ["track", stack, "--prompts", prompts, "--direction", "forward", "--range", "2", "6"],
        "boxes": ["track", stack, "--boxes", str(work / "boxes.csv"), "--direction", "both", "--start", "4"],
        "seeds-divisions": [
            "track",
            str(work / "cells.tif"),
            "--seeds",
            str(work / "seeds.tif"),
            "--redetect-every",
            "3",
            "--divide",
            str(work / "divide.csv"),
            "--ctc",
            str(out / "ctc"),
            "--geff",
            str(out / "cells.geff"),
        ],  # fmt: skip
        "threshold-seeds": ["track", str(work / "cells.tif"), "--seeds", "threshold", "--redetect-every", "2"],
    }
    for name, args in runs.items():
        code = main([*args, "--out", str(out / f"{name}.tif"), "--model", m, "--quiet"])
        digests[name] = {"exit": code, **_labels_digests(out / f"{name}.tif")}
    for path in sorted((out / "ctc").iterdir()):
        digests[f"ctc/{path.name}"] = _digest(path.read_bytes() if path.suffix == ".txt" else _pixels(path))
    digests["geff"] = _geff_digest(out / "cells.geff")
    (work / "batch").mkdir()
    manifest = work / "plate.csv"
    manifest.write_text(f"input,prompts,output\n{stack},{prompts},a.tif\n{stack},{prompts},b.tif\n")
    code = main(["batch", str(manifest), "--out-dir", str(work / "batch"), "--model", m, "--quiet", "--direction",
                 "forward"])  # fmt: skip
    digests["batch"] = {"exit": code, **{n: _labels_digests(work / "batch" / n) for n in ("a.tif", "b.tif")}}
    return digests


def _pixels(path: Path) -> bytes:
    import tifffile

    return tifffile.imread(path).tobytes()


def _geff_digest(path: Path) -> str:
    import geff

    graph, _ = geff.read(str(path))
    nodes = sorted((n, sorted((k, round(float(v), 4)) for k, v in d.items())) for n, d in graph.nodes(data=True))
    return _digest(json.dumps([nodes, sorted(graph.edges())]).encode())


def main(argv: list[str]) -> int:
    command, folder = argv[0], Path(argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    work = Path(tempfile.mkdtemp())
    try:
        digests = run_all(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if command == "record":
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True))
        print(f"recorded {len(digests)} outputs in {folder / 'digests.json'}")
        return 0
    before = json.loads((folder / "digests.json").read_text())
    differ = [k for k in sorted(set(before) | set(digests)) if before.get(k) != digests.get(k)]
    for key in differ:
        print(f"DIFFERS {key}: {before.get(key)} -> {digests.get(key)}")
    print(f"{len(before) - len(differ)} of {len(before)} outputs identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
