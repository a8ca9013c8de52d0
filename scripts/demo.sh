#!/usr/bin/env bash
# Set up napari-sam2 in .venv and run the main job.
#  * With a display: napari opens with the synthetic time-lapse and the SAM 2 tracker docked.
#  * Without one: the CLI tracks the same sample and writes demo/labels.tif + demo/labels.json.
# The default model, random:sam2.1-tiny, is the real SAM 2.1-tiny shape with untrained weights:
# it works offline, but its masks are meaningless. NAPARI_SAM2_MODEL=sam2.1-tiny downloads the
# real model (~156 MB) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
MODEL="${NAPARI_SAM2_MODEL:-random:sam2.1-tiny}"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = Darwin ]; then
    exec python -m napari_sam2.plugin._demo "$MODEL"
fi
napari-sam2 sample demo --frames 8 --objects 2
napari-sam2 track demo/timelapse.tif --prompts demo/timelapse_prompts.csv --out demo/labels.tif \
    --model "$MODEL" --overwrite
echo "labels: demo/labels.tif  provenance: demo/labels.json"
