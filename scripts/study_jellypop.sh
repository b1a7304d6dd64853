#!/usr/bin/env bash
# Study 1, the candy maker JellyPop (experiments/jellypop/README.md): one command reproduces it all.
#   bash scripts/study_jellypop.sh                      # into experiments/jellypop/
#   OUT=/tmp/jp bash scripts/study_jellypop.sh inference.draws=300   # extra overrides go to both fits
# 1. the fit on all 113 weeks; 2. the same fit with the last 13 weeks held out (its forecast is
# scored against a seasonal-naive one); 3. the client's $1M over the 13 weeks after the data
# (2024-03-04 to 2024-05-27) split by the optimizer; 4. the report; 5. the ridge baseline
# (scripts/baseline_ridge.py) on the same held-out weeks; 6. the small outputs copied to
# $OUT/results/ (committed; the run folders with trace.nc are not).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/jellypop}
MMM=.venv/bin/mmm-geo
$MMM fit experiment=jellypop output_dir="$OUT/fit" "$@"
$MMM fit experiment=jellypop validation.holdout=13 output_dir="$OUT/holdout" "$@"
$MMM optimize run="$OUT/fit" budget=1000000 start=2024-03-04 weeks=13
$MMM report run="$OUT/fit" validation_run="$OUT/holdout" currency='$'
$MMM forecast run="$OUT/holdout"      # the held-out weeks scored: interval coverage
.venv/bin/python scripts/baseline_ridge.py conf/data/jellypop.yaml --holdout 13 \
    --boot "${RIDGE_BOOT:-200}" --out "$OUT/results"
cp "$OUT/fit/metrics.json" "$OUT/results/fit_metrics.json"
cp "$OUT/holdout/metrics.json" "$OUT/results/holdout_metrics.json"
cp "$OUT/holdout/forecast/forecast.json" "$OUT/results/holdout_forecast.json"
cp "$OUT/fit/summary.csv" "$OUT/fit/optimize/allocation.csv" "$OUT/fit/optimize/outcomes.csv" \
    "$OUT/fit/report/report.html" "$OUT/results/"
