"""Does the test ``mmm-geo design-test`` ranks first improve the budget decision more than other
tests of about the same cost? (issue 17, item 1; results in scripts/RESULTS_design.md)

Per seed: simulate a panel with known truth, fit it, rank the candidate tests, then for three
policies pick one test each:

- ``top``: the design's first-ranked test;
- ``random``: a random candidate whose cost is within a factor 2 of the top test's (the closest in
  cost when none is);
- ``widest``: the channel whose ROI has the widest 90 % interval, with its candidate closest in
  cost to the top test.

Each chosen test's lift is simulated from the TRUTH (the simulator's own response, plus noise of
the design's standard error), the panel is refitted with it as a lift test (``data.lift_tests``) and the budget re-optimised. Regret = true value of the true
optimal split - true value of the recommended split, both under the simulator's response at the
same budget and horizon. With ``--noise-draws K`` each chosen test is measured K times, with the
same K standard-normal draws for every test (common random numbers: two policies that pick one
test get the same result, and the policies differ only by their tests), in antithetic pairs (z
and -z: the part of the regret linear in the noise cancels), one refit each. The
candidates are spend cuts (go-dark and halving), which a lift-test
row on the recorded data expresses exactly.

    .venv/bin/python scripts/design_study.py --seeds 0 1 2 3 4 --out /tmp/design_study [--noise-draws 3]
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
import numpy as np
import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis.contributions import sites
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.config import (AdstockConfig, DataConfig, DesignConfig, FitConfig, InferenceConfig,
                            ModelConfig, OptimizeConfig, OptimizerConfig, SimulationConfig)
from mmm_geo.coverage import true_optimum, true_value
from mmm_geo.data.simulate import simulate, true_revenue
from mmm_geo.optimize.design import Candidate, candidate_frame, candidate_tests, design, noise_se
from mmm_geo.optimize.plan import plan_run
from mmm_geo.optimize.problem import cells
from mmm_geo.run import fit, load_run


def true_lift(run, cand: Candidate, n_train: int, truth: dict) -> float:
    """The candidate's lift under the simulator's TRUE response (``true_revenue``), KPI units: the
    revenue of the recorded spend minus that with the test's cells at ``1 + change`` times their
    spend, over the test's cells (as a lift test is read: ``mmm_geo.data.lift``)."""
    window = candidate_tests(run.ds, [cand], n_train)["lift_window"].values[0] > 0   # (geo, time)
    names = [str(c) for c in run.ds[dims.CHANNEL].values]
    spend = run.ds["spend"].values[..., [names.index(c) for c in truth["channels"]]]
    cut = spend.copy()
    j = list(truth["channels"]).index(cand.channel)
    cut[..., j] = np.where(window, spend[..., j] * (1 + cand.change), spend[..., j])
    diff = (true_revenue(spend, truth) - true_revenue(cut, truth)) / run.ds["revenue_per_kpi"].values
    return float(diff[window].sum())


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
    half = np.random.default_rng([seed, 99]).standard_normal((args.noise_draws + 1) // 2)
    noise = np.concatenate([half, -half])[:args.noise_draws]    # common to all tests, antithetic
    n_train = run.ds.sizes[dims.TIME]
    result = {"seed": seed, "true_optimum": best, "regret_before": regret0, "design_s": design_s,
              "candidates": len(table), "roi_width": width, "noise": noise.tolist(), "policies": {}}
    done = {}                    # (test, draw) -> regret after: policies that pick one test share it
    for name, row in pick(table, width, rng).items():
        cand = Candidate(row["channel"], row["geos"], int(row["weeks"]), float(row["change"]))
        cells_mask = candidate_tests(run.ds, [cand], n_train)["lift_window"].values > 0
        se = float(noise_se(run, cells_mask, n_train, dcfg.se_factor)[0])
        lift = true_lift(run, cand, n_train, truth)
        regrets = []
        for k, z in enumerate(noise):
            if (cand, k) not in done:
                slug = f"{cand.channel}_{cand.geos.replace('|', '+')}_x{1 + cand.change:g}_n{k}"
                folder = out / f"s{seed}" / slug
                folder.mkdir(parents=True, exist_ok=True)
                row_k = lift_row(run, cand, n_train, lift + se * z, se)
                pd.DataFrame([row_k]).to_csv(folder / "lift.csv", index=False)
                cfg = dataclasses.replace(base_cfg, data=DataConfig(lift_tests=str(folder / "lift.csv")))
                fit(cfg, folder / "run")
                done[cand, k] = best - value(plan_run(load_run(folder / "run"), opt).plans["recommended"])
                jax.clear_caches()
            regrets.append(done[cand, k])
        result["policies"][name] = {"channel": cand.channel, "geos": cand.geos, "change": cand.change,
                                    "cost": float(row["cost"]), "evsi": float(row["evsi"]),
                                    "true_lift": lift, "se": se, "regret_after": regrets,
                                    "reduction": float(regret0 - np.mean(regrets))}
        print(f"seed {seed} {name}: {cand.channel} {cand.geos} x{1 + cand.change:g}, cost "
              f"{row['cost']:,.0f}, regret {regret0:,.0f} -> {np.mean(regrets):,.0f} "
              f"(mean of {len(regrets)} noise draws)", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--geos", type=int, default=8)
    ap.add_argument("--weeks", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--outer", type=int, default=60)
    ap.add_argument("--noise-draws", type=int, default=1,
                    help="measured lifts per chosen test (lift + se * z_k, the same z_k for every "
                         "test: common random numbers; z and -z in pairs), each refitted; a policy's reduction is "
                         "the mean over them")
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
    for other in ("random", "widest"):     # paired by seed: top's reduction minus the other's
        diff = [r["policies"]["top"]["reduction"] - r["policies"][other]["reduction"] for r in rows]
        summary[f"top_minus_{other}"] = float(np.mean(diff))
        summary[f"top_minus_{other}_se"] = (float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
                                            if len(diff) > 1 else None)
    (args.out / "design_study.json").write_text(json.dumps({"seeds": rows, "mean": summary}, indent=2,
                                                           default=float))
    print("mean regret reduction:", json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
