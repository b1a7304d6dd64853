"""Does the test ``mmm-geo design-test`` ranks first improve the budget decision more than other
tests of about the same cost? (issue 17, item 1; results in scripts/RESULTS_design.md)

Per seed: simulate a panel with known truth, fit it, rank the candidate tests, then for three
policies pick one test each:

- ``top``: the design's first-ranked test;
- ``random``: a random candidate whose cost is within a factor 2 of the top test's (the closest in
  cost when none is);
- ``widest``: the channel whose ROI has the widest 90 % interval, with its candidate closest in
  cost to the top test.

Each chosen test's lift is simulated from the TRUTH (the model's lift function at the simulator's
true parameters, plus noise of the design's standard error), the panel is refitted with it as a
lift test (``data.lift_tests``) and the budget re-optimised. Regret = true value of the true
optimal split - true value of the recommended split, both under the simulator's response at the
same budget and horizon. The candidates are spend cuts (go-dark and halving), which a lift-test
row on the recorded data expresses exactly.

    .venv/bin/python scripts/design_study.py --seeds 0 1 2 3 4 --out /tmp/design_study
    (one JSON per seed in --out, written as each finishes; a re-run skips finished seeds. Run a
    seed's compiled programs are freed after it: without that, 19 fits in one process reached the
    kernel's limit of 65,530 memory maps and LLVM failed with "Cannot allocate memory".)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis.contributions import sites
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.config import (AdstockConfig, DataConfig, DesignConfig, FitConfig, InferenceConfig,
                            ModelConfig, OptimizeConfig, OptimizerConfig, SimulationConfig)
from mmm_geo.coverage import true_optimum, true_value, truth_as_draw
from mmm_geo.data.lift import lift_kpi_units
from mmm_geo.data.scaling import model_data
from mmm_geo.data.simulate import simulate
from mmm_geo.model import media as mm
from mmm_geo.optimize.design import Candidate, candidate_frame, candidate_tests, design, noise_se
from mmm_geo.optimize.plan import plan_run
from mmm_geo.optimize.problem import cells
from mmm_geo.run import fit, load_run


def true_lift(run, cand: Candidate, n_train: int, truth: dict) -> float:
    """The candidate's lift under the simulator's true parameters, KPI units."""
    one = candidate_tests(run.ds, [cand], n_train)
    one = one.assign(lift_spend=one["lift_spend"] * abs(cand.change))
    data = model_data(one, run.scaling, np.float64)
    params = {k: jnp.asarray(v[0]) for k, v in truth_as_draw(truth, run.scaling).items()}
    with jax.enable_x64(True):
        got = mm.lift(mm.spec(run.config.model, data.media.shape[-1]), params,
                      jnp.asarray(data.media), jax.tree.map(jnp.asarray, data.lift))
    return float(np.asarray(got)[0] * lift_kpi_units(one, run.scaling.kpi_scale)[0])


def lift_row(run, cand: Candidate, n_train: int, measured: float, se: float) -> dict:
    frame = candidate_frame([cand], run.ds, n_train)
    recorded = candidate_tests(run.ds, [cand], n_train)["lift_spend"].values.sum()
    return {"channel": cand.channel, "geo": cand.geos, "start": str(frame["start"][0].date()),
            "end": str(frame["end"][0].date()), "lift": measured, "lift_se": se,
            "spend": abs(cand.change) * float(recorded)}


def pick(table: pd.DataFrame, roi_width: dict, rng) -> dict:
    top = table.iloc[0]
    near = table[(table["cost"] >= top["cost"] / 2) & (table["cost"] <= top["cost"] * 2)]
    near = near if len(near) else table.iloc[[int(np.argmin(np.abs(table["cost"] - top["cost"])))]]
    widest_ch = max(roi_width, key=roi_width.get)
    pool = table[table["channel"] == widest_ch]
    widest = pool.iloc[int(np.argmin(np.abs(pool["cost"].to_numpy() - top["cost"])))]
    return {"top": top, "random": near.iloc[int(rng.integers(len(near)))], "widest": widest}


def one_seed(seed: int, out: Path, args) -> dict:
    sim = SimulationConfig(geos=args.geos, weeks=104, channels=4, seed=seed)
    model = ModelConfig(adstock=AdstockConfig(max_lag=sim.max_lag))
    infer = InferenceConfig(chains=2, warmup=args.warmup, draws=args.warmup, progress_bar=False,
                            ess_min=50)
    base_cfg = FitConfig(simulation=sim, seed=seed, name=f"design{seed}", model=model, inference=infer)
    fit(base_cfg, out / f"s{seed}" / "base")
    run = load_run(out / f"s{seed}" / "base")
    _, truth = simulate(sim)
    opt = OptimizeConfig(horizon_weeks=13, optimizer=OptimizerConfig(allocation_draws=0))
    dcfg = DesignConfig(horizon_weeks=13, draws=args.draws, outer_draws=args.outer,
                        test_weeks=[args.weeks], changes=[-1.0, -0.5], seed=seed,
                        optimizer=OptimizerConfig(allocation_draws=0))
    t0 = time.perf_counter()
    table = design(run, dcfg)
    design_s = time.perf_counter() - t0
    before = plan_run(run, opt)
    problem = before.problem
    value = lambda plan: true_value(plan, problem, run.ds, truth)  # noqa: E731
    best = value(cells(problem, true_optimum(problem, value) * problem.budget))
    regret0 = best - value(before.plans["recommended"])
    q = channel_metrics(run.idata.posterior[sites(run.idata.posterior)], run.ds, run.scaling,
                        run.config.model)["roi"].quantile([0.05, 0.95], dim=(dims.CHAIN, dims.DRAW))
    width = {str(c): float(q.sel(quantile=0.95, channel=c) - q.sel(quantile=0.05, channel=c))
             for c in q[dims.CHANNEL].values}
    rng = np.random.default_rng(1000 + seed)
    n_train = run.ds.sizes[dims.TIME]
    result = {"seed": seed, "true_optimum": best, "regret_before": regret0, "design_s": design_s,
              "candidates": len(table), "roi_width": width, "policies": {}}
    for name, row in pick(table, width, rng).items():
        cand = Candidate(row["channel"], row["geos"], int(row["weeks"]), float(row["change"]))
        cells_mask = candidate_tests(run.ds, [cand], n_train)["lift_window"].values > 0
        se = float(noise_se(run, cells_mask, n_train, dcfg.se_factor)[0])
        lift = true_lift(run, cand, n_train, truth)
        measured = lift + se * rng.standard_normal()
        folder = out / f"s{seed}" / name
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([lift_row(run, cand, n_train, measured, se)]).to_csv(folder / "lift.csv", index=False)
        cfg = dataclasses.replace(base_cfg, data=DataConfig(lift_tests=str(folder / "lift.csv")))
        fit(cfg, folder / "run")
        after = plan_run(load_run(folder / "run"), opt)
        regret = best - value(after.plans["recommended"])
        result["policies"][name] = {"channel": cand.channel, "geos": cand.geos, "change": cand.change,
                                    "cost": float(row["cost"]), "evsi": float(row["evsi"]),
                                    "true_lift": lift, "measured": measured, "se": se,
                                    "regret_after": regret, "reduction": regret0 - regret}
        print(f"seed {seed} {name}: {cand.channel} {cand.geos} x{1 + cand.change:g}, cost "
              f"{row['cost']:,.0f}, regret {regret0:,.0f} -> {regret:,.0f}", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--geos", type=int, default=8)
    ap.add_argument("--weeks", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--outer", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path("/tmp/design_study"))
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:      # one JSON per seed, written as it finishes; a re-run resumes
        path = args.out / f"seed_{seed}.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(one_seed(seed, args.out, args), indent=2, default=float))
            jax.clear_caches()   # each fit's compiled programs hold ~2,500 memory maps
        rows.append(json.loads(path.read_text()))
    summary = {p: float(np.mean([r["policies"][p]["reduction"] for r in rows]))
               for p in ("top", "random", "widest")}
    summary["regret_before"] = float(np.mean([r["regret_before"] for r in rows]))
    (args.out / "design_study.json").write_text(json.dumps({"seeds": rows, "mean": summary}, indent=2,
                                                           default=float))
    print("mean regret reduction:", json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
