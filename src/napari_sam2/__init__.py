"""napari-sam2: SAM 2 video tracking for microscopy stacks, in napari and on the command line.

Layers (imports point one way only)::

    core/      numpy + torch only: frames, models, session, labels, io, outputs, sample data
    cli        argparse front end over core
    plugin/    napari side: the tracker (layers, worker, session owner), reader, writer, samples
    widgets/   Qt widgets over plugin's public API (TrackerApi, TrackerEvents)

Heavy libraries (torch, transformers) are imported inside the functions that need them,
so ``napari-sam2 --help`` and ``napari --info`` stay fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-sam2")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
