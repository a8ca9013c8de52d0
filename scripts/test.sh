#!/usr/bin/env bash
# Set up .venv and run the whole test suite: lint, manifest validation, pytest (slow tests
# included). Exits non-zero on any failure; extra arguments go to pytest.
# The real-window tests need a virtual screen: scripts/system-deps.sh installs Xvfb and Mesa
# where it can (root with apt-get). Where it cannot, everything else runs, Qt draws
# off-screen, and one line says which packages would run the real-window tests too.
#   NAPARI_SAM2_SKIP_SETUP=1   use .venv as it is (no pip step)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${NAPARI_SAM2_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests
npe2 validate napari-sam2 --imports
if bash scripts/system-deps.sh; then
    runner=(xvfb-run -a -s "-screen 0 1920x1080x24")
    unset DISPLAY WAYLAND_DISPLAY  # xvfb-run sets its own; never the user's desktop
else
    runner=(env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen)
fi
"${runner[@]}" python -m pytest "$@"
