#!/usr/bin/env bash
# The long recovery studies kept out of the default suite (pytest marker `study`, pyproject.toml):
# form recovery, lift-test calibration, synergy + organic, price and promotion, the optimizer's
# captured uplift, the JellyPop study end to end, and Ctrl-C during sampling. Figures of the last
# run: scripts/RESULTS_studies.md. Usage: bash scripts/run_studies.sh [extra pytest args]
set -uo pipefail
rc=0
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
# Ctrl-C first, in one process: under xdist workers the signal did not reach the fit's child
"$PY" -m pytest -m study -p no:xdist tests/test_guard.py -k ctrl_c --durations=0 "$@" || rc=1
"$PY" -m pytest -m study -n 2 tests --deselect \
    "tests/test_guard.py::test_ctrl_c_during_sampling_exits_130_at_once_without_a_traceback" \
    --durations=0 "$@" || rc=1
exit $rc
