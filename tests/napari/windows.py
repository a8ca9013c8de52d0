"""Run a real-window session script in a fresh process, as the real-window tests do.

A fresh process matters: a crash there (a segfault under Mesa) takes only that process
down, and the model loads after the viewer exists, as it does for users (triton kept out,
as for users). The script prints one line ``FINDINGS {json}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: What must never reach stderr from a window that closes cleanly.
UNCLEAN = ("EmitLoopError", "has been deleted", "Traceback")


def run_window(script: Path, *args, timeout: int = 600, clean: bool = False) -> dict:
    """The script's findings; its crash with every thread's stack, or (``clean``) any line of
    :data:`UNCLEAN` on its stderr, fails the test."""
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_SAM2_ALLOW_TRITON"}
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, f"the window crashed (status {result.returncode}):\n{result.stderr[-3000:]}"
    if clean:
        for bad in UNCLEAN:
            assert bad not in result.stderr, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("FINDINGS "))
    return json.loads(line.removeprefix("FINDINGS "))
