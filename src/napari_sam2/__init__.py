"""napari-sam2: SAM 2 video tracking for microscopy stacks, in napari and on the command line.

Layers (imports point one way only)::

    core/      numpy + torch only: images, frames, models, session, populations, outputs
    settings   one settings type per job, every option declared once
    jobs/      one stack tracked from its settings (track, population, replay), however it ends
    cli/       argparse front end: options into settings, then a job; batch/ on dask
    plugin/    napari side: the tracker's state, layers, worker, session owner, reader, writer
    widgets/   Qt widgets over plugin's public API (TrackerApi, TrackerState's events)

Heavy libraries (torch, transformers) are imported inside the functions that need them,
so ``napari-sam2 --help`` and ``napari --info`` stay fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-sam2")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
