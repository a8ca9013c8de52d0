#!/usr/bin/env bash
# Set up napari-sam2 in .venv and run the main job: the CLI on a synthetic sample stack.
# Works offline: the model is random:sam2.1-tiny (real shape, untrained weights, meaningless
# masks). With network, replace it by sam2.1-tiny to download the real model (~156 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
napari-sam2 sample demo --frames 8 --objects 2
napari-sam2 track demo/timelapse.tif --prompts demo/timelapse_prompts.csv --out demo/labels.tif \
    --model "${NAPARI_SAM2_MODEL:-random:sam2.1-tiny}" --overwrite
echo "labels: demo/labels.tif  provenance: demo/labels.json"
