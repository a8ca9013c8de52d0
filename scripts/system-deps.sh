#!/usr/bin/env bash
# The system packages the real-window tests need: Xvfb, Mesa's OpenGL and the xcb libraries
# Qt 6 loads. Installs the missing ones where it can (root with apt-get), and says in one line
# what to install where it cannot. Exit status 0: a virtual screen is ready (xvfb-run works);
# 1: it is not, and the real-window tests will be skipped. Shared by scripts/test.sh and .ci/run.
#   NAPARI_SAM2_NO_SYSTEM_INSTALL=1   never install (behave as on a machine without root)
set -uo pipefail
PACKAGES=(
    xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libopengl0 libfontconfig1 libdbus-1-3
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
)
missing=()
if command -v dpkg-query > /dev/null; then
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2> /dev/null | grep -q "install ok installed" || missing+=("$package")
    done
elif ! command -v xvfb-run > /dev/null; then
    missing=("${PACKAGES[@]}")  # not Debian: the names are Debian's, said as a guide
fi
if [ ${#missing[@]} -gt 0 ] && [ "${NAPARI_SAM2_NO_SYSTEM_INSTALL:-0}" != 1 ] \
    && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "napari-sam2: installing ${missing[*]} for the real-window tests (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null; then
        missing=()
    fi
fi
if [ ${#missing[@]} -eq 0 ] && command -v xvfb-run > /dev/null; then
    exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then  # installed, yet no xvfb-run on the PATH
    missing=(xvfb xauth libgl1-mesa-dri libglx-mesa0 "and the xcb libraries Qt 6 needs")
fi
echo "napari-sam2: no virtual screen (Xvfb) here, so the real-window tests are skipped; to run them," \
    "install ${missing[*]} (as root: bash scripts/system-deps.sh)" >&2
exit 1
