"""napari-sam2 batch on a SLURM cluster: dask-jobqueue starts the workers as SLURM jobs.

Run this on the login node, inside the environment where napari-sam2 is installed with
``pip install 'napari-sam2[batch]' dask-jobqueue``, and leave it running:

    python slurm_cluster.py --jobs 8

It prints the scheduler's address. In a second shell:

    napari-sam2 download sam2.1-tiny           # once, on a node with network
    napari-sam2 batch plate.csv --out-dir labels --scheduler tcp://10.0.0.5:8786

Each SLURM job is one dask worker running one stack at a time on one GPU, with
``--cpus-per-task`` CPU threads for torch. Change the queue, account, memory, GPU request
and the environment's activation to your site's. (tests/batch/test_slurm_example.py checks
the job script this writes.)
"""

from __future__ import annotations

import argparse
import time


def make_cluster(*, queue: str = "gpu", account: str | None = None, cpus: int = 8, gpus: int = 1,
                 memory: str = "32GB", walltime: str = "04:00:00", venv: str = "~/napari-sam2/.venv"):  # fmt: skip
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=queue,
        account=account,
        cores=1,  # one stack at a time per worker: a worker's sessions share one model
        processes=1,
        job_cpu=cpus,  # ... while torch uses every CPU the job books
        memory=memory,
        walltime=walltime,
        job_extra_directives=[f"--gres=gpu:{gpus}"] if gpus else [],
        job_script_prologue=[
            f"source {venv}/bin/activate",
            "export HF_HUB_OFFLINE=1",  # the model comes from the shared cache, never downloaded here
            f"export NAPARI_SAM2_THREADS={cpus}",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs (workers) to start")
    parser.add_argument("--queue", default="gpu")
    parser.add_argument("--account")
    args = parser.parse_args()
    cluster = make_cluster(queue=args.queue, account=args.account)
    cluster.scale(jobs=args.jobs)
    print(f"scheduler: {cluster.scheduler_address}  (napari-sam2 batch ... --scheduler {cluster.scheduler_address})")
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        cluster.close()


if __name__ == "__main__":
    main()
