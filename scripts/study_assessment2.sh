#!/usr/bin/env bash
# Study 5, social -> search mediation with price and promotions (experiments/assessment2/README.md):
# one command reproduces it all.
#   bash scripts/study_assessment2.sh                 # into experiments/assessment2/
#   OUT=/tmp/s5 bash scripts/study_assessment2.sh inference.draws=300   # overrides go to every fit
# 1. the fit on all weeks (the eight weeks of revenue 1 excluded, conf/data/assessment2.yaml);
# 2. rolling-origin cross-validation: 3 folds of 13 test weeks, each fitted on the weeks before;
# 3. the report; 4. the two-stage baseline on the same folds (scripts/baseline_two_stage.py);
# 5. the small outputs copied to $OUT/results/ (committed; the run folders are not).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/assessment2}
MMM=.venv/bin/mmm-geo
$MMM fit experiment=assessment2 output_dir="$OUT/fit" "$@"
$MMM fit experiment=assessment2 validation.holdout=13 validation.folds=3 output_dir="$OUT/cv" "$@"
$MMM report run="$OUT/fit" validation_run="$OUT/cv"
mkdir -p "$OUT/results"
.venv/bin/python scripts/baseline_two_stage.py conf/data/assessment2.yaml --holdout 13 --folds 3 \
    --out "$OUT/results"
cp "$OUT/fit/metrics.json" "$OUT/results/fit_metrics.json"
cp "$OUT/cv/metrics.json" "$OUT/results/cv_metrics.json"
cp "$OUT/fit/summary.csv" "$OUT/fit/report/report.html" "$OUT/results/"
