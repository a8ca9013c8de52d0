"""The README's test command on a machine with no display and no Xvfb.

``scripts/test.sh`` is run as a new user without root would run it: no ``DISPLAY``, no
``xvfb-run`` or ``Xvfb`` on the ``PATH``, no installing. It must not abort (Qt once killed
the whole pytest process there, exit 134), it must run the Qt widget tests off-screen, skip
the real-window tests, and say so in one line naming the packages to install.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_SCREEN = ("xvfb-run", "Xvfb", "Xorg")


def _path_without_a_screen(folder: Path) -> str:
    """A PATH holding every command of this one except those that make a virtual screen."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target, link = Path(directory) / name, folder / name
            if name not in NO_SCREEN and not link.exists() and os.access(target, os.X_OK):
                link.symlink_to(target)
    return str(folder)


def test_the_test_command_runs_without_a_display_or_xvfb_and_says_what_it_skipped(tmp_path):
    screen = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XAUTHORITY")
    env = {k: v for k, v in os.environ.items() if k not in screen}
    env.update(
        PATH=_path_without_a_screen(tmp_path / "bin"),
        NAPARI_SAM2_SKIP_SETUP="1",  # .venv is there already
        NAPARI_SAM2_NO_SYSTEM_INSTALL="1",  # as without root: nothing may be installed
    )
    subset = [
        "tests/napari/test_tracker_findings.py::test_the_widget_offers_a_2d_image_as_one_frame",  # a Qt widget
        "tests/napari/test_viewer.py",  # a real window
    ]
    result = subprocess.run(
        ["bash", "scripts/test.sh", "-q", "-p", "no:cacheprovider", "-rs", *subset],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, said[-3000:]
    lines = [line for line in result.stderr.splitlines() if "real-window tests are skipped" in line]
    assert len(lines) == 1 and "xvfb" in lines[0] and "libgl1-mesa-dri" in lines[0], result.stderr
    assert "1 passed, 1 skipped" in result.stdout, result.stdout[-2000:]
    assert "Fatal Python error" not in said
