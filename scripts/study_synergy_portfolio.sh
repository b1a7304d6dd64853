#!/usr/bin/env bash
# Study 3, a portfolio with a TV x online-video synergy (experiments/synergy_portfolio/README.md):
# one command reproduces it all.
#   bash scripts/study_synergy_portfolio.sh                 # into experiments/synergy_portfolio/
#   OUT=/tmp/s3 bash scripts/study_synergy_portfolio.sh inference.draws=300   # overrides go to every fit
# 1. the panel and its truth with mmm-geo simulate (conf/simulation/synergy_portfolio.yaml);
# 2. the fit on all 104 weeks; 3. the same fit with the last 13 weeks held out (scored against a
# seasonal-naive forecast, and the forecast's interval coverage); 4. the optimizer on the 13 weeks
# after the data with the scenario "move 10% tv to social"; 5. the report; 6. every answer of the
# model and of the ridge with a synergy term against the truth (scripts/study_synergy_check.py);
# 7. the ridge baseline on the same held-out weeks; 8. the small outputs copied to $OUT/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/synergy_portfolio}
MMM=.venv/bin/mmm-geo
$MMM simulate +simulation=synergy_portfolio out="$OUT/data"
$MMM fit experiment=synergy_portfolio output_dir="$OUT/fit" "$@"
$MMM fit experiment=synergy_portfolio validation.holdout=13 output_dir="$OUT/holdout" "$@"
$MMM optimize run="$OUT/fit" 'scenarios=["move 10% tv to social"]'
$MMM report run="$OUT/fit" validation_run="$OUT/holdout"
$MMM forecast run="$OUT/holdout"      # the held-out weeks scored: interval coverage
.venv/bin/python scripts/study_synergy_check.py "$OUT/fit" --data "$OUT/data" --out "$OUT/results" \
    --boot "${RIDGE_BOOT:-200}"
.venv/bin/python scripts/baseline_ridge.py "$OUT/data/data/simulated.yaml" --holdout 13 \
    --boot "${RIDGE_BOOT:-200}" --out "$OUT/results"
cp "$OUT/fit/metrics.json" "$OUT/results/fit_metrics.json"
cp "$OUT/holdout/metrics.json" "$OUT/results/holdout_metrics.json"
cp "$OUT/holdout/forecast/forecast.json" "$OUT/results/holdout_forecast.json"
cp "$OUT/fit/summary.csv" "$OUT/fit/optimize/allocation.csv" "$OUT/fit/optimize/outcomes.csv" \
    "$OUT/data/truth.json" "$OUT/results/"
