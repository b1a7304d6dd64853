"""Benchmark the budget optimizer on synthetic posterior draws (no MCMC).

A simulated panel gives the data side (history, flighting, costs); the draws of the media parameters
are synthetic (log effects, decays and half-saturations spread around plausible values). Times:

- ``compile_s``: the first solve (jit compilation included) minus the second;
- ``solve_s``: the second solve of the same problem (the optimum over all draws);
- ``optimize_s``: the full optimizer (solve, optimality check, outcome distributions of the current
  and recommended mix, marginal returns per draw, and ``--allocation-draws`` per-draw optima).

Prints one JSON line. Results are recorded in scripts/RESULTS_optimize.md. Example::

    python scripts/benchmark_optimize.py --draws 1000 --geos 40 --channels 10 --horizon 13
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from mmm_geo.config import (AdstockConfig, ModelConfig, OptimizeConfig, OptimizerConfig,
                            SimulationConfig)
from mmm_geo.data.load import to_dataset
from mmm_geo.data.scaling import fit_scaling
from mmm_geo.data.simulate import data_config, simulate
from mmm_geo.optimize.objective import as_args, solve_plan
from mmm_geo.optimize.plan import feasible, optimize, settings_of, spec_of
from mmm_geo.optimize.problem import build_problem, current_mix, to_decision
from mmm_geo.optimize.response import build_terms


def synthetic_draws(n_draws: int, n_geo: int, n_ch: int, seed: int = 0) -> dict:
    """Media parameters (D, ...) as a posterior might hold them."""
    rng = np.random.default_rng(seed)
    centre = np.log(rng.uniform(0.01, 0.08, n_ch))
    log_eff = centre + 0.3 * rng.standard_normal((n_draws, 1, n_ch)) \
        + 0.25 * rng.standard_normal((n_draws, n_geo, n_ch))
    noise = lambda sd: sd * rng.standard_normal((n_draws, n_ch))  # noqa: E731
    return {"adstock_alpha": np.clip(rng.uniform(0.2, 0.7, n_ch) + noise(0.05), 0.01, 0.95),
            "saturation_half_saturation": rng.uniform(0.6, 1.8, n_ch) * np.exp(noise(0.2)),
            "saturation_slope": np.ones((n_draws, n_ch)),
            "media_log_effect_geo": log_eff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--geos", type=int, default=40)
    ap.add_argument("--channels", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=13)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--decision", default="channel", choices=["channel", "cell"])
    ap.add_argument("--objective", default="mean")
    ap.add_argument("--allocation-draws", type=int, default=100)
    a = ap.parse_args()

    sim = SimulationConfig(geos=a.geos, weeks=a.weeks, channels=a.channels, seed=0)
    frame, _ = simulate(sim)
    ds = to_dataset(frame, data_config(sim), "benchmark panel")
    scaling = fit_scaling(ds)
    model = ModelConfig(adstock=AdstockConfig(max_lag=sim.max_lag))
    cfg = OptimizeConfig(horizon_weeks=a.horizon, optimizer=OptimizerConfig(
        decision=a.decision, objective=a.objective, allocation_draws=a.allocation_draws))
    problem = build_problem(ds, scaling, model, cfg)
    start = time.perf_counter()
    params = synthetic_draws(a.draws, a.geos, a.channels)
    terms = jax.block_until_ready(build_terms(params, problem, model))
    terms_s = time.perf_counter() - start

    spec = spec_of(cfg, model, a.channels)
    settings = settings_of(cfg)
    args = as_args(terms, problem.weights, problem.geo_share, problem.budget)
    x0 = jnp.asarray(to_decision(problem, current_mix(problem)) / problem.budget, jnp.float32)
    feas = feasible(problem)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        sol = jax.block_until_ready(solve_plan(x0, feas, args, spec, settings))
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    result = optimize(problem, terms, spec, settings, a.allocation_draws, 0)
    optimize_s = time.perf_counter() - start
    out = {
        "draws": a.draws, "geos": a.geos, "channels": a.channels, "horizon_weeks": a.horizon,
        "evaluated_weeks": len(problem.weeks) + problem.tail, "decision": a.decision,
        "objective": a.objective, "terms_s": round(terms_s, 3),
        "compile_s": round(times[0] - times[1], 3), "solve_s": round(times[1], 3),
        "iterations": int(sol.iterations), "status": result.status["status"],
        "kkt_gap": result.status["kkt_gap"], "allocation_draws": a.allocation_draws,
        "optimize_s": round(optimize_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
