"""Adapters between napari and the core: the controller, layer sources, workers, reader, writer, samples.

Nothing here is imported by :mod:`napari_sam2.core`.

Importing this package keeps ``triton`` out of the napari process (see
:func:`keep_triton_out`): loading it after napari has made its OpenGL context crashes the
process under Mesa's llvmpipe (Xvfb, VNC, remote desktops), and the first click imports
transformers, which imports torch._dynamo, which imports triton.
"""

from __future__ import annotations

import os
import sys


def keep_triton_out() -> bool:
    """Make ``import triton`` fail in this process, unless it is already loaded.

    triton links its own LLVM, whose symbols clash with Mesa's llvmpipe once an OpenGL
    context exists: a segfault, not an exception. torch runs eagerly without triton on the
    CPU and on CUDA; only ``torch.compile`` on a GPU needs it, and the plugin does not
    compile. ``NAPARI_SAM2_ALLOW_TRITON=1`` turns this off. Returns whether it is blocked.
    """
    if os.environ.get("NAPARI_SAM2_ALLOW_TRITON") == "1" or "triton" in sys.modules:
        return False
    sys.modules["triton"] = None  # type: ignore[assignment]  # import triton -> ImportError
    return True


keep_triton_out()
