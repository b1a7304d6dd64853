"""Stacking against the LOO-best single model on pairs with one misspecified model.

    python scripts/stacking_study.py [--out experiments/stacking_study] [--seeds 0 1 2 3 4]
        [--geos 4] [--weeks 104] [--channels 3] [--warmup 300] [--draws 300]
        [--wrong max_lag=1] [--family default]

Per seed, one simulated panel (``mmm_geo.data.simulate``: geometric carryover over 8 weeks) is
fitted twice: by the model with the simulator's carryover (``adstock.max_lag=8``) and by a
misspecified one (``--wrong``: ``max_lag=1``, no carryover at all, or ``max_lag=K``, or
``kind=<form>`` for a wrong lag form over the same 8 weeks). The pair is stacked as
``mmm-geo compare --stack`` does (``mmm_geo.experiments.stack.build``, 600 draws, seed 0). The
weights are checked against ``arviz.compare(method="stacking")`` computed here from each trace's
full InferenceData (an independent read of the log-likelihood). Per (seed, channel): whether the
true ROI (the simulator's ``truth['national'][ch]['roi']``: revenue with all spend minus with
that channel's off, over its spend, the model's definition) lies in the 90 % interval of the
stacked posterior, of the model LOO ranks best, and of the correct model; and their errors.
One fit at a time; finished runs (metrics.json) are reused. Results in scripts/RESULTS.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import arviz as az  # noqa: E402
import pandas as pd  # noqa: E402

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig,  # noqa: E402
                            SimulationConfig)
from mmm_geo.data.simulate import channel_names, data_config, simulate  # noqa: E402
from mmm_geo.experiments import compare, stack  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refresh_study import fit_once  # noqa: E402


def wrong_adstock(spec: str, right: AdstockConfig) -> AdstockConfig:
    """``max_lag=K`` or ``kind=<form>``: the misspecified model's adstock."""
    key, _, value = spec.partition("=")
    if key == "max_lag":
        return replace(right, max_lag=int(value))
    if key == "kind":
        return replace(right, kind=value)
    raise SystemExit(f"--wrong {spec!r}: give max_lag=K or kind=<adstock form>")


def arviz_weights(paths) -> dict:
    """Stacking weights from ``arviz.compare`` over each trace's own InferenceData."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = {str(p): az.from_netcdf(p / "trace.nc", engine="h5netcdf") for p in paths}
        cmp = az.compare(data, ic="loo", method="stacking")
    return {k: float(cmp.loc[k, "weight"]) for k in data}


def one_seed(seed: int, out: Path, args) -> list:
    sim = SimulationConfig(geos=args.geos, weeks=args.weeks, channels=args.channels, controls=1,
                           seed=seed, family=args.family,
                           **({"max_lag": 13} if args.family == "wide" else {}))
    frame, truth = simulate(sim)
    path = out / f"seed_{seed}" / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    inference = InferenceConfig(chains=2, warmup=args.warmup, draws=args.draws,
                                progress_bar=False)
    right = AdstockConfig(max_lag=sim.max_lag)
    runs, metrics = {}, {}
    for name, adstock in (("correct", right), ("wrong", wrong_adstock(args.wrong, right))):
        cfg = FitConfig(data=data_config(sim, str(path.resolve())),
                        model=ModelConfig(adstock=adstock), inference=inference,
                        name=f"stacking_{name}", seed=seed)
        runs[name] = out / f"seed_{seed}" / name
        metrics[name] = fit_once(cfg, runs[name])
    entries = compare.summarize_runs(list(runs.values()))
    table = compare.rank(entries)
    result = stack.build(entries, table, n_draws=args.stack_draws, seed=0)
    ours = {Path(p).name: w for p, w in zip(result.weights["path"], result.weights["weight"])}
    theirs = {Path(p).name: w for p, w in arviz_weights(list(runs.values())).items()}
    scored = table.dropna(subset=["elpd_loo"])
    best = str(scored.iloc[0]["run"])
    labels = dict(zip(result.weights["run"], result.weights["label"]))
    roi = result.answers.query("metric == 'roi'")
    per_seed = {"seed": seed, "loo_best": best, "w_correct": ours["correct"], "w_wrong": ours["wrong"],
                "w_gap_arviz": max(abs(ours[k] - theirs[k]) for k in ours),
                "elpd_diff": float(scored.iloc[1]["elpd_diff"]),
                "max_rhat": max(m["convergence"]["max_rhat"] for m in metrics.values()),
                "divergences": sum(m["convergence"]["divergences"] for m in metrics.values())}
    rows = []
    for ch in channel_names(sim.channels):
        true = truth["national"][ch]["roi"]
        row = {**per_seed, "channel": ch, "true": true}
        for tag, model in (("stacked", stack.st.STACKED), ("best", labels[best]),
                           ("correct", labels["correct"]), ("wrong", labels["wrong"])):
            r = roi[(roi["model"] == model) & (roi["channel"] == ch)].iloc[0]
            row.update({f"{tag}_median": r["median"], f"{tag}_p5": r["p5"], f"{tag}_p95": r["p95"],
                        f"{tag}_covered": bool(r["p5"] <= true <= r["p95"]),
                        f"{tag}_err": abs(r["median"] - true) / true})
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="experiments/stacking_study")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--geos", type=int, default=4)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--stack-draws", type=int, default=600)
    ap.add_argument("--wrong", default="max_lag=1")
    ap.add_argument("--family", default="default", choices=("default", "wide"))
    args = ap.parse_args()
    out, start, rows = Path(args.out), time.perf_counter(), []
    for seed in args.seeds:
        rows += one_seed(seed, out, args)
        print(f"[{time.perf_counter() - start:.0f} s] seed {seed} done", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "rois.csv", index=False)
    pd.set_option("display.width", 250)
    cols = ["seed", "channel", "true", "w_correct", "loo_best", "stacked_median", "stacked_p5",
            "stacked_p95", "stacked_covered", "best_covered", "correct_covered", "wrong_covered"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    summary = {tag: {"covered": f"{int(table[f'{tag}_covered'].sum())}/{len(table)}",
                     "mean_abs_rel_error": round(float(table[f"{tag}_err"].mean()), 3)}
               for tag in ("stacked", "best", "correct", "wrong")}
    per_seed = table.drop_duplicates("seed")
    print(json.dumps({"summary": summary, "wrong": args.wrong, "family": args.family,
                      "correct_weight": [round(w, 3) for w in per_seed["w_correct"]],
                      "loo_best": list(per_seed["loo_best"]),
                      "max_weight_gap_vs_arviz": float(table["w_gap_arviz"].max()),
                      "max_rhat": float(table["max_rhat"].max()),
                      "divergences": int(per_seed["divergences"].sum()),
                      "wall_s": round(time.perf_counter() - start)}, indent=1))


if __name__ == "__main__":
    main()
