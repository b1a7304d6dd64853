"""How much of the true attainable timing gain the weekly timing optimizer captures.

For each seed: simulate a panel with known truth (the default simulator), fit it with the
library, re-plan its last 13 weeks at their own budget with ``timing=true``, and judge under the
TRUE response (``mmm_geo.coverage.true_weekly_value``):

    capture = (true(timed) - true(history pattern)) / (true(best timing) - true(history pattern))

all at the recommended cell totals. The best timing under the truth is the timing optimizer run
with the truth as its only draw (``tests/test_timing.py`` checks it against SLSQP on the
simulator's own response on a small panel).

    python scripts/timing_study.py --seeds 0 1 2 [--week-cap 3] [--out /tmp/timing_study]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig, OptimizeConfig,
                            OptimizerConfig, SimulationConfig)
from mmm_geo.coverage import true_weekly_value, truth_as_draw
from mmm_geo.data.simulate import simulate
from mmm_geo.model import media as mm
from mmm_geo.optimize.objective import Spec
from mmm_geo.optimize.plan import plan_run, settings_of
from mmm_geo.optimize.response import build_terms
from mmm_geo.optimize.timing import optimize_timing
from mmm_geo.run import COMPLETE, fit, load_run


def study(seed: int, out: Path, week_cap, chains: int, draws: int) -> dict:
    sim = SimulationConfig(geos=10, weeks=104, channels=4, seed=seed)
    model = ModelConfig(adstock=AdstockConfig(max_lag=sim.max_lag))
    folder = out / f"seed{seed}"
    t0 = time.perf_counter()
    if not (folder / COMPLETE).exists():
        fit(FitConfig(simulation=sim, seed=seed, name=f"timing{seed}", model=model,
                      inference=InferenceConfig(chains=chains, warmup=draws, draws=draws,
                                                progress_bar=False)), folder)
    fit_s = time.perf_counter() - t0
    run = load_run(folder)
    _, truth = simulate(sim)
    times = pd.DatetimeIndex(run.ds.coords["time"].values)
    cfg = OptimizeConfig(window=[str(times[-13].date()), str(times[-1].date())], timing=True,
                         week_cap=week_cap, optimizer=OptimizerConfig(allocation_draws=0))
    result = plan_run(run, cfg)
    problem, timed = result.problem, result.timing
    true = lambda w: true_weekly_value(w, problem, run.ds, truth)  # noqa: E731
    terms = build_terms(truth_as_draw(truth, run.scaling), problem, model)
    best = optimize_timing(problem, terms, Spec("channel", mm.spec(model, 4)), settings_of(cfg),
                           result.plans["recommended"], week_cap)
    hist, got, top = true(timed.history), true(timed.weekly), true(best.weekly)
    conv = run.metrics["convergence"]
    return {"seed": seed, "max_rhat": conv["max_rhat"], "divergences": conv["divergences"],
            "true_history_pattern": hist, "true_timed": got, "true_best_timing": top,
            "attainable_pct": 100 * (top - hist) / hist, "capture": (got - hist) / (top - hist),
            "model_gain_mean": float((timed.value - timed.history_value).mean()),
            "model_kkt_ok": timed.status["kkt_ok"], "truth_kkt_ok": best.status["kkt_ok"],
            "fit_s": round(fit_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--week-cap", type=float, default=None)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--out", type=Path, default=Path("/tmp/timing_study"))
    a = ap.parse_args()
    rows = [study(s, a.out, a.week_cap, a.chains, a.draws) for s in a.seeds]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:,.4g}"))
    print(f"median capture {np.median(table['capture']):.3f}, min {table['capture'].min():.3f}")


if __name__ == "__main__":
    main()
