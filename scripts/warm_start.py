"""Warm start against the default start: one fit of the default simulated panel.

    python scripts/warm_start.py <median|svi> <warmup> [geos]

Prints one JSON line: init, warm-up, wall and user-CPU seconds (compilation included), max R-hat,
min bulk ESS, divergences, mean leapfrog steps per draw (4 chains x 1000 draws, seed 0).
Results in scripts/RESULTS.md (session 6).
"""
import os, sys, time, resource, json
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
from dataclasses import replace
import jax, numpy as np
from mmm_geo.config import FitConfig, InferenceConfig, SimulationConfig
from mmm_geo.run import load_data
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.model.hierarchical import time_bases
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.inference.trace import build_trace
from mmm_geo.inference import diagnostics
init, warmup = sys.argv[1], int(sys.argv[2]); geos=int(sys.argv[3]) if len(sys.argv)>3 else 10
cfg = FitConfig(simulation=SimulationConfig(geos=geos, weeks=104, channels=4))
ds, _ = load_data(cfg); sc = fit_scaling(ds)
data = model_data(ds, sc, np.float32, time_bases(ds.sizes["time"], cfg.model))
inf = replace(cfg.inference, chains=4, warmup=warmup, draws=1000, init=init, progress_bar=False)
c0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime; t0 = time.time()
fit = run_nuts(data, cfg.model, inf, jax.random.key(0))
cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
idata = build_trace(fit, ds, sc, data, cfg.model, jax.random.key(0), 500, {})
conv = diagnostics.convergence(idata)
print(json.dumps({"init": init, "warmup": warmup, "wall_s": round(time.time()-t0,1), "cpu_s": round(cpu,1),
  "rhat": round(conv["max_rhat"],4), "ess": round(conv["min_ess_bulk"]), "div": conv["divergences"],
  "leapfrog": round(conv["mean_leapfrog_steps"],1)}))
