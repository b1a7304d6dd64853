#!/usr/bin/env bash
# Study 4, PyMC-Marketing's benchmark panel with known truth (experiments/pymc_mmm_example/README.md):
# one command reproduces it all.
#   bash scripts/study_pymc_mmm_example.sh             # into experiments/pymc_mmm_example/
#   OUT=/tmp/p4 bash scripts/study_pymc_mmm_example.sh inference.draws=300   # overrides go to every fit
# 1. the fit on all 179 weeks; 2. the same fit with the last 13 weeks held out (scored against a
# seasonal-naive forecast); 3. the fit with time-varying media effects (timing); 4. the forecast of
# the 13 weeks after the data (2021-09-06 to 2021-11-29) under the planned spend
# experiments/pymc_mmm_example/plan_next13.csv; 5. the optimizer on that plan's budget and weekly
# shape, and which lift test would most improve that split (design-test); 6. the report; 7. every answer against the truth (scripts/truth_pymc_mmm_example.py);
# 8. the ridge baseline (scripts/baseline_ridge.py) on the same held-out weeks; 9. the small
# outputs copied to $OUT/results/ (committed; the run folders with trace.nc are not).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/pymc_mmm_example}
PLAN=experiments/pymc_mmm_example/plan_next13.csv
MMM=.venv/bin/mmm-geo
$MMM fit experiment=pymc_mmm_example output_dir="$OUT/fit" "$@"
$MMM fit experiment=pymc_mmm_example validation.holdout=13 output_dir="$OUT/holdout" "$@"
$MMM fit experiment=pymc_mmm_example 'model.time_varying.channels=[x1,x2]' inference.target_accept=0.95 output_dir="$OUT/tv" "$@"
$MMM forecast run="$OUT/fit" plan="$PLAN"
$MMM optimize run="$OUT/fit" plan="$PLAN"
$MMM design-test run="$OUT/fit" plan="$PLAN"   # which lift test would most improve that split
$MMM report run="$OUT/fit" validation_run="$OUT/holdout" timing_run="$OUT/tv"
$MMM forecast run="$OUT/holdout"      # the held-out weeks scored: interval coverage
.venv/bin/python scripts/truth_pymc_mmm_example.py "$OUT/fit" --plan "$PLAN" --tv-run "$OUT/tv" \
    --out "$OUT/results/truth_check.json"
.venv/bin/python scripts/baseline_ridge.py conf/data/pymc_mmm_example.yaml --holdout 13 \
    --boot "${RIDGE_BOOT:-200}" --out "$OUT/results"
cp "$OUT/fit/metrics.json" "$OUT/results/fit_metrics.json"
cp "$OUT/holdout/metrics.json" "$OUT/results/holdout_metrics.json"
cp "$OUT/holdout/forecast/forecast.json" "$OUT/results/holdout_forecast.json"
cp "$OUT/tv/metrics.json" "$OUT/results/tv_metrics.json"
cp "$OUT/fit/summary.csv" "$OUT/fit/optimize/allocation.csv" "$OUT/fit/optimize/outcomes.csv" \
    "$OUT/fit/forecast/forecast.csv" "$OUT/tv/time_varying.csv" "$OUT/fit/report/report.html" \
    "$OUT/fit/design/design.csv" "$OUT/results/"
