"""Study 3's answers against the truth, for the model and for the simpler method.

The model (a fitted run of ``experiment=synergy_portfolio``): every channel's counterfactual ROI
(synergy included), the TV x online-video synergy's contribution, and the scenario "move 10% tv
to social" over the 13 weeks after the data against the current mix, per posterior draw.

The simpler method: ridge regression on adstocked, saturated spend (``scripts/baseline_ridge.py``,
its decays, half-saturations and penalty tuned the same way) plus the product of the two
channels' features as the synergy term, with 90 % moving-block bootstrap intervals.

The truth: ``truth.json`` of ``mmm-geo simulate +simulation=synergy_portfolio`` (the same panel),
the scenario judged under the TRUE response (``mmm_geo.coverage.true_value``).

    python scripts/study_synergy_check.py <fit run> --data <simulate out> --out <results folder>
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from baseline_ridge import (Fit, bootstrap_coefs, load, media_features, spend_level,  # scripts/
                            tune, with_pairs)
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.config import OptimizeConfig, OptimizerConfig
from mmm_geo.coverage import true_optimum, true_value
from mmm_geo.optimize.problem import cells, to_decision
from mmm_geo.optimize.plan import plan_run
from mmm_geo.run import load_run

SCENARIO = "move 10% tv to social"
PAIR = ("tv", "online_video")


def interval(draws) -> dict:
    q = np.quantile(np.asarray(draws, float), [0.05, 0.5, 0.95])
    return {"median": float(q[1]), "p5": float(q[0]), "p95": float(q[2])}


def judged(est: dict, true: float) -> dict:
    return {**est, "true": true, "covered": bool(est["p5"] <= true <= est["p95"]),
            "error_pct": 100 * (est["median"] - true) / abs(true)}


def ridge_answers(data_cfg: str, plans: dict, args) -> dict:
    """The ridge's counterfactual ROI (its synergy term included for the pair), synergy
    contribution and scenario difference (``plans``: name -> spend (geo, time, channel) of the
    data's weeks, the 13 planned weeks and the carryover weeks after them), each the fit's own
    value with a 90 % moving-block bootstrap interval (``baseline_ridge.bootstrap_coefs``)."""
    kpi, spend, controls, channels, _ = load(data_cfg)
    n_time = kpi.shape[1]
    args.holdout = 13                  # tuned on the last 13 weeks, as baseline_ridge.py does
    decay, half, penalty = tune(kpi, spend, controls, n_time, args)
    pair = [(channels.index(PAIR[0]), channels.index(PAIR[1]))]
    fit = Fit(kpi, spend, controls, decay, half, penalty, n_time, args, pair)
    coefs = [fit.coef, *bootstrap_coefs(fit, kpi, n_time, penalty, args.boot, args.seed)]
    n_m, spent = fit.media.shape[-1], spend.sum(axis=(0, 1))
    level = spend_level(spend)
    features = {k: with_pairs(media_features(v, decay, half, args.max_lag, level), pair)
                for k, v in plans.items()}
    rows = []
    for coef in coefs:
        contrib = (fit.media * coef[-n_m:]).sum(axis=(0, 1))
        row = {ch: (contrib[c] + (contrib[-1] if c in pair[0] else 0.0)) / spent[c]
               for c, ch in enumerate(channels)}
        value = {k: float((f * coef[-n_m:]).sum()) for k, f in features.items()}
        rows.append({**row, "synergy": contrib[-1], "scenario": value[SCENARIO] - value["current"]})
    frame = pd.DataFrame(rows)
    est = {col: {**interval(frame[col].iloc[1:]), "median": float(frame[col].iloc[0])}
           for col in frame}
    return {"roi": {ch: est[ch] for ch in channels}, "synergy": est["synergy"],
            "scenario": est["scenario"],
            "hyper": {"decay": decay.tolist(), "half_saturation": half.tolist(), "penalty": penalty}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--data", required=True, help="the folder mmm-geo simulate wrote")
    p.add_argument("--out", required=True)
    p.add_argument("--boot", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lag", type=int, default=8)
    p.add_argument("--fourier", type=int, default=2)
    p.add_argument("--period", type=float, default=52.1775)
    args = p.parse_args()
    data = Path(args.data)
    truth = json.loads((data / "truth.json").read_text())
    run = load_run(Path(args.run))
    channels = [str(c) for c in run.ds.coords["channel"].values]

    post = channel_metrics(run.idata.posterior, run.ds, run.scaling, run.config.model)
    flat = lambda v: v.stack(sample=("chain", "draw"))  # noqa: E731
    nat = truth["national"]
    model = {"roi": {ch: judged(interval(flat(post["roi"].sel(channel=ch))),
                                nat[ch].get("roi_total", nat[ch]["roi"])) for ch in channels}}
    pair_key = ":".join(PAIR)
    syn = flat(post["synergy_contribution"]).values.reshape(-1)
    model["synergy"] = judged(interval(syn), truth["synergy"][pair_key]["contribution"])

    result = plan_run(run, OptimizeConfig(scenarios=[SCENARIO],
                                          optimizer=OptimizerConfig(allocation_draws=0)))
    pb = result.problem
    true = {k: true_value(result.plans[k], pb, run.ds, truth)
            for k in ("current", SCENARIO, "recommended")}
    value = lambda plan: true_value(plan, pb, run.ds, truth)  # noqa: E731
    start = [to_decision(pb, result.plans["recommended"])]
    true["true_optimum"] = value(cells(pb, true_optimum(pb, value, start) * pb.budget))
    model["recommendation"] = {
        "true_gain": true["recommended"] - true["current"],
        "true_attainable_gain": true["true_optimum"] - true["current"],
        "capture": (true["recommended"] - true["current"]) / (true["true_optimum"] - true["current"]),
        "model_gain": interval(result.value["recommended"] - result.value["current"])}
    true_diff = true[SCENARIO] - true["current"]
    model["scenario"] = judged(interval(result.value[SCENARIO] - result.value["current"]), true_diff)
    model["scenario"]["p_better"] = float(np.mean(result.value[SCENARIO] > result.value["current"]))

    spend_hist = run.ds["spend"].transpose("geo", "time", "channel").values
    tail = np.zeros((spend_hist.shape[0], args.max_lag - 1, spend_hist.shape[2]))
    weekly = {k: np.concatenate([spend_hist, result.plans[k][:, None, :] * pb.pattern, tail], 1)
              for k in ("current", SCENARIO)}
    simple = ridge_answers(str(data / "data" / "simulated.yaml"), weekly, args)
    simple["roi"] = {ch: judged(e, nat[ch].get("roi_total", nat[ch]["roi"]))
                     for ch, e in simple["roi"].items()}
    simple["synergy"] = judged(simple["synergy"], truth["synergy"][pair_key]["contribution"])
    simple["scenario"] = judged(simple["scenario"], true_diff)

    report = {"model": model, "ridge": simple, "scenario_weeks": [str(pb.weeks[0]), str(pb.weeks[-1])],
              "true_scenario": true}
    rows = []
    for who, res in (("model", model), ("ridge", simple)):
        for ch, e in res["roi"].items():
            rows.append({"method": who, "quantity": f"ROI {ch}", **{k: e[k] for k in
                         ("true", "median", "p5", "p95", "covered", "error_pct")}})
        for q in ("synergy", "scenario"):
            e = res[q]
            rows.append({"method": who, "quantity": q, **{k: e[k] for k in
                         ("true", "median", "p5", "p95", "covered", "error_pct")}})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    print("recommendation under the truth:", json.dumps(model["recommendation"], default=float))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth_check.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    table.to_csv(out / "truth_check.csv", index=False)


if __name__ == "__main__":
    main()
