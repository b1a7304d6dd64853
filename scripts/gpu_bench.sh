#!/usr/bin/env bash
# Run the fit benchmarks on a GPU machine that has JAX but not this project's other dependencies.
# Expects .bench/wheels (pip download of arviz, hydra-core, omegaconf, antlr4, h5netcdf,
# xarray-einstats) and .bench/geo_media.csv carried next to the repo. Writes JSON lines to $OUT.
set -uo pipefail
python3 -m pip install -q --no-deps --no-index .bench/wheels/* 2>&1 | tail -2
export PYTHONPATH=$PWD XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, numpyro; print('jax', jax.__version__, 'numpyro', numpyro.__version__, jax.devices())"
out=${OUT:-/tmp}/bench_gpu.jsonl
run() { echo "+ $*"; python3 scripts/benchmark.py "$@" 2>>"${OUT:-/tmp}/bench_gpu.err" | tail -1 | tee -a "$out"; }
run --data conf/data/meridian_geo_media.yaml --path .bench/geo_media.csv
run --geos 10 --weeks 104 --channels 4
run --geos 40 --weeks 156 --channels 10
