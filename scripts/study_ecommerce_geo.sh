#!/usr/bin/env bash
# Study 2, multi-region e-commerce (experiments/ecommerce_geo/README.md): one command reproduces it all.
#   bash scripts/study_ecommerce_geo.sh                   # into experiments/ecommerce_geo/
#   OUT=/tmp/s2 bash scripts/study_ecommerce_geo.sh inference.draws=300   # overrides go to every fit
# 1. the fit on all 113 weeks of the 25 geos (geo Z left out, conf/data/ecommerce_geo.yaml);
# 2. rolling-origin cross-validation: 3 folds of 13 test weeks, each fitted on the weeks before;
# 3. the budget of the next 13 weeks (the last 13 weeks' spend) reallocated across the three paid
#    channels and the 25 geos, each channel kept within 0.5-2x its current spend;
# 4. the report, and the last fold's forecast scored (interval coverage); 5. the impressions-only variant (Kaggle's copy without spend) fitted and reported;
# 6. the pooled log-ridge baseline with its per-geo mixed-effects check on the same folds
#    (scripts/baseline_log_ridge.py), on both files; 7. the small outputs copied to $OUT/results/
#    (committed; the run folders with trace.nc and the reports are not).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/ecommerce_geo}
MMM=.venv/bin/mmm-geo
SHORT=${SHORT:-"inference.warmup=500 inference.draws=500"}   # the folds and the variant: 4 x 500 draws
$MMM fit experiment=ecommerce_geo output_dir="$OUT/fit" inference.progress_bar=false "$@"
$MMM fit experiment=ecommerce_geo validation.holdout=13 validation.folds=3 output_dir="$OUT/cv" \
    inference.progress_bar=false $SHORT "$@"
$MMM optimize run="$OUT/fit" optimizer.decision=cell per_geo=true \
    'bounds={google:[0.5,2],facebook:[0.5,2],affiliates:[0.5,2]}'
$MMM report run="$OUT/fit" validation_run="$OUT/cv" currency='$'
$MMM forecast run="$OUT/cv"           # the last fold's held-out weeks scored: interval coverage
$MMM fit experiment=ecommerce_geo_impressions output_dir="$OUT/impressions" inference.progress_bar=false \
    $SHORT "$@"
$MMM report run="$OUT/impressions"
mkdir -p "$OUT/results" "$OUT/results/impressions"
.venv/bin/python scripts/baseline_log_ridge.py conf/data/ecommerce_geo.yaml --out "$OUT/results"
.venv/bin/python scripts/baseline_log_ridge.py conf/data/ecommerce_geo_impressions.yaml \
    --out "$OUT/results/impressions"
cp "$OUT/fit/metrics.json" "$OUT/results/fit_metrics.json"
cp "$OUT/cv/metrics.json" "$OUT/results/cv_metrics.json"
cp "$OUT/cv/forecast/forecast.json" "$OUT/results/holdout_forecast.json"
cp "$OUT/fit/summary.csv" "$OUT/fit/optimize/allocation.csv" "$OUT/fit/optimize/outcomes.csv" "$OUT/results/"
cp "$OUT/impressions/metrics.json" "$OUT/impressions/summary.csv" "$OUT/results/impressions/"
.venv/bin/python scripts/study_ecommerce_geo_check.py "$OUT" > "$OUT/results/geo_effects.md"
