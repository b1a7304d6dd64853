#!/usr/bin/env bash
# Run a Hydra sweep as batch jobs, one job per sweep point, through submitit.
#
#   scripts/sweep_gpu.sh experiment=meridian_geo_media model.saturation.kind=hill,logistic \
#       hydra.launcher.partition=gpu
#       Slurm GPU jobs (conf/hydra/launcher/slurm_gpu.yaml), GPUS GPUs per job (default 1).
#   GPUS=0 scripts/sweep_gpu.sh ...
#       the same sweep as Slurm CPU jobs (JAX forced onto the CPU).
#   LAUNCHER=local_jobs GPUS=0 scripts/sweep_gpu.sh ...
#       the same jobs as processes on this machine (submitit's local executor), to try a sweep first.
#
# Any other argument is a Hydra override (hydra.launcher.timeout_min=60, hydra.sweep.dir=...).
# Runs land in <hydra.sweep.dir>/<run_id>/ (default experiments/<name>/); submitting the same sweep
# again skips completed runs and re-runs killed or failed ones. Compare them with
#   mmm-geo compare experiments/<name>
#
# JAX memory: XLA_PYTHON_CLIENT_PREALLOCATE=false (set here unless you set it) makes JAX allocate
# GPU memory as it needs it instead of reserving 75 % of the device at start-up. See README,
# "Experiments at scale", for the other settings.
set -euo pipefail
LAUNCHER=${LAUNCHER:-slurm_gpu}
GPUS=${GPUS:-1}
if [ -z "${MMM_GEO:-}" ]; then
  if command -v mmm-geo >/dev/null; then MMM_GEO=mmm-geo; else MMM_GEO="python -m mmm_geo.cli"; fi
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
if [ "$GPUS" = 0 ]; then
  export JAX_PLATFORMS=cpu
fi
# shellcheck disable=SC2086  # MMM_GEO may be a command with arguments
exec $MMM_GEO fit --multirun "hydra/launcher=$LAUNCHER" "hydra.launcher.gpus_per_node=$GPUS" "$@"
