#!/usr/bin/env bash
# traccuracy, the tests' second CTC evaluator, into the active environment. Its metadata caps
# click below 8.2, while huggingface-hub (a runtime dependency) needs click 8.4 or newer; the
# part of traccuracy the tests use (loaders, matchers, metrics) never imports click. So it goes
# in without its dependency list, and the rest of that list is installed here.
# Usage: bash scripts/install-traccuracy.sh CONSTRAINTS_FILE
set -euo pipefail
python -m pip install -q -c "$1" skan pylapy numba pyarrow tqdm typer networkx pandas
python -m pip install -q -c "$1" --no-deps traccuracy
python -c "import traccuracy.metrics"
