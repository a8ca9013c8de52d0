"""``napari-sam2 batch`` on real dask.distributed clusters of this machine, with the
random-weight test model: the same labels as ``track``, reruns that skip what is done,
bad rows isolated, retries bounded, a worker killed mid-stack, Ctrl-C, a scheduler that
cannot be reached."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

distributed = pytest.importorskip("distributed")

from napari_sam2.cli import main  # noqa: E402
from napari_sam2.core import outputs, prompt_files  # noqa: E402


def report(out_dir: Path) -> list[dict]:
    with open(out_dir / "batch-report.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def make_plate(tmp_path: Path, frames=(6, 5)) -> Path:
    """Stacks A and B with prompts, C with prompts on a frame it does not have, D without prompts."""
    for name, n in zip("AB", frames):
        assert main(["sample", str(tmp_path / name), "--frames", str(n)]) == 0
    (tmp_path / "C").mkdir()
    tifffile.imwrite(tmp_path / "C" / "timelapse.tif", tifffile.imread(tmp_path / "A" / "timelapse.tif"))
    prompt_files.write_point_prompts(tmp_path / "C" / "p.csv", [prompt_files.PointRow(1, 99, 40, 40, True)])
    manifest = tmp_path / "plate.csv"
    manifest.write_text(
        "input,prompts,output\n"
        "A/timelapse.tif,A/timelapse_prompts.csv,A.tif\n"
        "B/timelapse.tif,B/timelapse_prompts.csv,B.tif\n"
        "C/timelapse.tif,C/p.csv,C.tif\n"
        "A/timelapse.tif,D/none.csv,D.tif\n"
    )
    (tmp_path / "out").mkdir()
    return manifest


@pytest.fixture(scope="module")
def scheduler():
    """Two worker processes on this machine, shared by the tests that only need a cluster."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_batch_gives_tracks_labels_and_a_rerun_skips_what_is_done(scheduler, tmp_path, reduced_model_dir, capfd):
    manifest = make_plate(tmp_path)
    out = tmp_path / "out"
    batch = ["batch", str(manifest), "--out-dir", str(out), "--scheduler", scheduler, "--model", str(reduced_model_dir)]
    assert main([*batch, "--quiet"]) == 2  # C and D failed for the user's mistakes; A and B done
    rows = {r["output"]: r for r in report(out)}
    assert [rows[str(out / f"{k}.tif")]["status"] for k in "ABCD"] == ["done", "done", "failed", "failed"]
    assert "is on frame 99" in rows[str(out / "C.tif")]["error"]
    assert rows[str(out / "D.tif")]["error"] == f"The prompts file {tmp_path / 'D' / 'none.csv'} does not exist."
    assert rows[str(out / "A.tif")]["frames_done"] == "6" and rows[str(out / "A.tif")]["worker"] in ("0", "1")
    with open(out / "A_review.csv", newline="") as handle:  # the review queue beside each result, counted
        assert int(rows[str(out / "A.tif")]["review_items"]) == len(list(csv.DictReader(handle)))
    assert not (out / "C.tif").exists() and not list(out.glob(".*partial"))
    capfd.readouterr()
    # The same stack through `napari-sam2 track`: the same labels.
    ref = tmp_path / "ref.tif"
    track = ["track", str(tmp_path / "A" / "timelapse.tif"), "--prompts", str(tmp_path / "A" / "timelapse_prompts.csv")]
    assert main([*track, "--out", str(ref), "--model", str(reduced_model_dir), "--quiet"]) == 0
    labels = tifffile.imread(out / "A.tif")
    assert 0.05 < (labels > 0).mean() < 0.95 and (labels == tifffile.imread(ref)).all()
    assert outputs.read_sidecar(out / "A.tif")["complete"] is True

    stamp = (out / "A.tif").stat().st_mtime_ns
    assert main([*batch, "--quiet"]) == 2
    assert [r["status"] for r in report(out)] == ["skipped", "skipped", "failed", "failed"]
    assert (out / "A.tif").stat().st_mtime_ns == stamp  # not written again
    assert main([*batch, "--quiet", "--fill-hole-area", "0"]) == 2  # another setting: redone
    assert [r["status"] for r in report(out)][:2] == ["done", "done"]
    err = capfd.readouterr().err
    assert "napari-sam2: batch: 2 done, 2 failed" in err and "row 3 (timelapse.tif)" in err


def test_user_errors_are_not_retried_and_other_failures_are_retried_a_bounded_number_of_times(
    tmp_path, monkeypatch, capfd
):
    """A unit test of the retry policy: the worker runs in this process (threads), with a
    stand-in for the track job that counts its calls."""
    from napari_sam2 import jobs
    from napari_sam2.batch.runner import BatchSettings, run_batch
    from napari_sam2.core.errors import Sam2InputError

    manifest = make_plate(tmp_path)
    calls: dict[str, int] = {}

    def flaky(settings, **_):
        name = Path(settings.out).stem
        calls[name] = calls.get(name, 0) + 1
        if name == "A":
            raise OSError("the network share went away")
        raise Sam2InputError("Your prompts are wrong.")

    monkeypatch.setattr(jobs, "run_job", flaky)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        settings = BatchSettings(
            str(manifest), tmp_path / "out", {}, "random:reduced", None, scheduler=c.scheduler_address, retries=2,
            quiet=True,
        )  # fmt: skip
        assert run_batch(settings) == 1  # a failure that is not the user's
    assert calls == {"A": 3, "B": 1, "C": 1}  # two retries for A; the users' mistakes are not retried
    statuses = [(r["status"], r["error"]) for r in report(tmp_path / "out")]
    assert statuses[0] == ("failed", "OSError: the network share went away")
    assert statuses[1] == ("failed", "Your prompts are wrong.")


def test_a_worker_killed_mid_stack_loses_nothing(tmp_path, reduced_model_dir, capfd):
    """Names as a plate screen writes them ('well[B2] é?'): the killed worker's partial is
    still found and removed by the retry, and no pattern matches another stack's files."""
    import psutil

    names = {"A": "well[B2] é?", "B": "well*C1"}
    for name in names.values():
        assert main(["sample", str(tmp_path / name), "--frames", "16"]) == 0
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "input,prompts,output\n"
        + "".join(f"{n}/timelapse.tif,{n}/timelapse_prompts.csv,{n}.tif\n" for n in names.values())
    )
    out = tmp_path / "out"
    out.mkdir()
    killed = []
    a_partial = f".{names['A']}.tif."
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        watcher = distributed.Client(cluster)

        def kill_a_worker_mid_stack():
            end = time.monotonic() + 240
            while not any(n.startswith(a_partial) for n in os.listdir(out)) and time.monotonic() < end:
                time.sleep(0.2)
            time.sleep(3)  # a few frames into stack A
            pids = watcher.run(os.getpid)
            for address, keys in watcher.processing().items():
                if any(str(k).startswith("stack-1-") for k in keys):
                    killed.append(pids[address])
                    psutil.Process(pids[address]).kill()  # SIGKILL: no cleanup at all

        thread = threading.Thread(target=kill_a_worker_mid_stack)
        thread.start()
        code = main(["batch", str(manifest), "--out-dir", str(out), "--scheduler", cluster.scheduler_address,
                     "--model", str(reduced_model_dir), "--quiet"])  # fmt: skip
        thread.join()
        watcher.close()
    assert killed, "no worker was running stack A"
    assert code == 0 and [r["status"] for r in report(out)] == ["done", "done"]
    ref = tmp_path / "ref.tif"
    stack, prompts = tmp_path / names["A"] / "timelapse.tif", tmp_path / names["A"] / "timelapse_prompts.csv"
    assert main(["track", str(stack), "--prompts", str(prompts), "--out", str(ref), "--model", str(reduced_model_dir),
                 "--quiet"]) == 0  # fmt: skip
    a_out = out / f"{names['A']}.tif"
    assert (tifffile.imread(a_out) == tifffile.imread(ref)).all()
    assert outputs.read_sidecar(a_out)["complete"] is True
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".partial")]
    assert leftovers == []  # the killed worker's partial was removed by the retry


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_finished_frames_writes_the_report_and_leaves_no_process(
    tmp_path, reduced_model_dir, stop
):
    """A terminal's Ctrl-C reaches every process of the batch (the whole process group); a
    cluster scheduler's SIGTERM reaches the batch's own process."""
    import psutil

    assert main(["sample", str(tmp_path / "A"), "--frames", "40"]) == 0
    manifest = tmp_path / "m.csv"
    rows = "".join(f"A/timelapse.tif,A/timelapse_prompts.csv,{k}.tif\n" for k in "xyz")
    manifest.write_text("input,prompts,output\n" + rows)
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "napari_sam2.cli", "batch", str(manifest), "--out-dir", str(out),
               "--model", str(reduced_model_dir), "--workers", "2"]  # fmt: skip
    batch = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 240
    while not list(out.glob(".*.partial")) and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(3)
    children = psutil.Process(batch.pid).children(recursive=True)
    assert len(children) >= 2  # the workers
    if stop == "ctrl-c":
        os.killpg(batch.pid, signal.SIGINT)
    else:
        os.kill(batch.pid, signal.SIGTERM)
    _, err = batch.communicate(timeout=240)
    assert batch.returncode == 130, err[-2000:]
    assert "stopping: running stacks keep their finished frames" in err
    time.sleep(1)
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    statuses = {Path(r["output"]).stem: r for r in report(out)}
    stopped = [k for k, r in statuses.items() if r["status"] == "interrupted"]
    assert stopped and all(statuses[k]["status"] in ("interrupted", "not started") for k in "xyz")
    for k in stopped:
        sidecar = outputs.read_sidecar(out / f"{k}.tif")
        assert sidecar["complete"] is False and 0 < len(sidecar["frames_done"]) < 40
        assert int(statuses[k]["frames_done"]) == len(sidecar["frames_done"])
        assert (tifffile.imread(out / f"{k}.tif")[sidecar["frames_done"]] > 0).any()
    assert not list(out.glob(".*.partial"))


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path, capfd):
    manifest = make_plate(tmp_path)
    started = time.monotonic()
    code = main(["batch", str(manifest), "--out-dir", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9",
                 "--connect-timeout", "3", "--model", "random:reduced", "--quiet"])  # fmt: skip
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and time.monotonic() - started < 20
    assert err[-1].startswith("napari-sam2: error: Cannot reach the dask scheduler at tcp://127.0.0.1:9 within 3 s")


def test_without_dask_distributed_the_message_names_the_extra(tmp_path, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    code = main(["batch", str(make_plate(tmp_path)), "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert capfd.readouterr().err.strip() == (
        "napari-sam2: error: napari-sam2 batch needs dask.distributed: pip install 'napari-sam2[batch]'."
    )


def test_a_glob_batch_loads_the_model_once_per_worker_and_records_itself(scheduler, tmp_path, reduced_model_dir):
    """The glob form, the default output names, one model load per worker for more stacks
    than workers, and the sidecar's record of the batch."""
    from napari_sam2.batch.tasks import PLUGIN_NAME

    names = ("well_A1", "well_A2", "well_B1", "well_B2", "well_C1")
    for name in names:
        assert main(["sample", str(tmp_path / "tmp"), "--frames", "4"]) == 0
        (tmp_path / "tmp" / "timelapse.tif").rename(tmp_path / f"{name}.tif")
        (tmp_path / "tmp" / "timelapse_prompts.csv").rename(tmp_path / f"{name}_prompts.csv")
    (tmp_path / "out").mkdir()
    code = main(["batch", str(tmp_path / "well_*.tif"), "--out-dir", str(tmp_path / "out"), "--scheduler", scheduler,
                 "--model", str(reduced_model_dir), "--quiet"])  # fmt: skip
    assert code == 0
    with distributed.Client(scheduler) as client:
        loads = client.run(lambda dask_worker: dask_worker.plugins[PLUGIN_NAME].loader.loads)
    assert sum(loads.values()) <= 2 < len(names)  # 5 stacks, 2 workers: at most one load each
    sidecar = json.loads((tmp_path / "out" / "well_A2.json").read_text())
    assert sidecar["complete"] is True and len(sidecar["settings"]["batch_settings_hash"]) == 16
    assert sidecar["settings"]["command"].startswith("napari-sam2 track ")
    assert tifffile.imread(tmp_path / "out" / "well_A1.tif").shape == (4, 160, 224)
    assert [r["status"] for r in report(tmp_path / "out")] == ["done"] * len(names)


def test_an_output_napari_sam2_did_not_write_is_never_replaced_even_with_force(tmp_path, capfd):
    manifest = make_plate(tmp_path)
    mine = tmp_path / "out" / "A.tif"
    tifffile.imwrite(mine, np.ones((2, 4, 4), np.uint16))  # the user's own file, by chance of the same name
    before = mine.read_bytes()
    manifest.write_text("input,prompts,output\nA/timelapse.tif,A/timelapse_prompts.csv,A.tif\n")
    code = main(["batch", str(manifest), "--out-dir", str(tmp_path / "out"), "--force", "--quiet"])
    assert code == 2 and mine.read_bytes() == before
    [row] = report(tmp_path / "out")
    assert row["status"] == "failed" and row["error"] == f"{mine} exists and was not written by napari-sam2."
