"""The SLURM example of the user guide writes a job script that runs one dask worker with one
task thread, the booked CPUs for torch, a GPU, and the model cache offline. No SLURM needed:
the script is only written, not submitted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("dask_jobqueue")

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "slurm_cluster.py"


def test_the_slurm_example_writes_the_job_script_the_docs_describe():
    spec = importlib.util.spec_from_file_location("slurm_cluster", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    cluster = example.make_cluster(queue="gpu", account="lab42", cpus=8, gpus=1)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab42", "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:1",
                 "export HF_HUB_OFFLINE=1", "export NAPARI_SAM2_THREADS=8"):  # fmt: skip
        assert line in script, (line, script)
    assert "--nthreads 1" in script and "--nworkers" not in script  # one worker per job, one thread
