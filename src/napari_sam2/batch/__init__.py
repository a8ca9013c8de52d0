"""``napari-sam2 batch``: many stacks on dask.distributed, nothing lost, nothing done twice.

* :mod:`.manifest` reads the stacks (a manifest CSV, or a glob with prompts found by name)
  and turns each into the arguments of ``napari-sam2 track``.
* :mod:`.tasks` is what runs on a worker: one model per worker process (a worker plugin),
  one stack per task, through the same code as ``napari-sam2 track``.
* :mod:`.runner` is the client: skip what is finished, make the model ready once, start or
  reach the cluster, submit, show progress, stop cleanly, write ``batch-report.csv``.

dask.distributed is an optional dependency (``napari-sam2[batch]``); nothing here is
imported by the core or the plugin.
"""
