"""Monthly refreshes against independent refits on a simulated panel.

    python scripts/refresh_study.py [--out experiments/refresh_study] [--geos 4] [--channels 3]
        [--first 52] [--months 6] [--step 4] [--warmup 300] [--draws 300] [--widen W] [--[no-]joint]
        [--[no-]new-weeks] [--seed 0]     (defaults: RefreshConfig's)

One panel of ``first + months * step`` weeks (``mmm_geo.data.simulate``, seed 0) is cut into
growing windows: month 0 fits the first ``first`` weeks; month m adds ``step`` weeks. Each month is
fitted twice: independently (the configured priors, the window's own scaling) and as a refresh of
the previous month's refresh (``refresh_from``; month 1 refreshes month 0's fit, which both share).
Per approach over months 1..months: the share of (month, channel) true ROIs inside the 90 %
intervals, the mean absolute relative change of the ROI medians between consecutive months, the
mean interval width relative to the true ROI and the mean absolute relative error of the medians.
The true ROI of a window is the simulator's own response (``true_revenue``) over that window's
weeks with each channel's spend switched off, the model's definition of ROI. One fit at a time;
finished runs (with metrics.json) are reused, so an interrupted study resumes. Results in
scripts/RESULTS.md (session 7).
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig,  # noqa: E402
                            RefreshConfig, SimulationConfig)
from mmm_geo.data.simulate import channel_names, data_config, simulate, true_revenue  # noqa: E402
from mmm_geo.experiments.store import read_metrics  # noqa: E402
from mmm_geo.run import fit  # noqa: E402


def true_roi(frame: pd.DataFrame, truth: dict, channels: list, weeks: int) -> dict:
    """Each channel's true ROI over the first ``weeks`` weeks: the simulator's revenue with all
    spend minus with that channel's off, over its spend."""
    geos = sorted(frame["geo"].unique())
    spend = np.stack([np.stack([frame.loc[frame["geo"] == g, f"{c}_spend"].to_numpy()[:weeks]
                                for c in channels], -1) for g in geos])      # (geo, week, channel)
    full = true_revenue(spend, truth).sum()
    out = {}
    for j, ch in enumerate(channels):
        off = spend.copy()
        off[..., j] = 0.0
        out[ch] = float((full - true_revenue(off, truth).sum()) / spend[..., j].sum())
    return out


def fit_once(cfg: FitConfig, out: Path) -> dict:
    """Fit ``cfg`` into ``out`` unless a finished run is there; its metrics."""
    done = read_metrics(out)
    if done is None:
        fit(cfg, out)
        done = read_metrics(out)
    return done


def roi_rows(run: Path, month: int, weeks: int, approach: str, truth: dict, metrics: dict) -> list:
    summary = pd.read_csv(run / "summary.csv").query("metric == 'roi'")
    conv = metrics["convergence"]
    return [{"approach": approach, "month": month, "weeks": weeks, "channel": r.channel,
             "median": r.median, "p5": r.p5, "p95": r.p95, "true": truth[r.channel],
             "covered": r.p5 <= truth[r.channel] <= r.p95, "max_rhat": conv["max_rhat"],
             "divergences": conv["divergences"], "total_s": metrics["time"]["total_s"]}
            for r in summary.itertuples()]


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per approach over months >= 1: coverage, movement between consecutive months (month 0, the
    shared first fit, included as the start), interval width, error, convergence and time."""
    out = []
    for approach in ("independent", "refresh"):
        own = rows[(rows["approach"] == approach) | (rows["month"] == 0)]
        own = own.sort_values(["channel", "month"])
        prev = own.groupby("channel")["median"].shift(1)
        later = own[own["month"] >= 1]
        move = (own["median"] - prev).abs() / prev
        out.append({"approach": approach, "fits": later["month"].nunique(),
                    "coverage_90": later["covered"].mean(),
                    "median_move": move[own["month"] >= 1].mean(),
                    "width_rel": ((later["p95"] - later["p5"]) / later["true"]).mean(),
                    "abs_rel_error": ((later["median"] - later["true"]).abs()
                                      / later["true"]).mean(),
                    "max_rhat": later["max_rhat"].max(),
                    "divergences": int(later.drop_duplicates("month")["divergences"].sum()),
                    "fit_s": later.drop_duplicates("month")["total_s"].sum()})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="experiments/refresh_study")
    ap.add_argument("--geos", type=int, default=4)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--first", type=int, default=52)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--step", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--widen", type=float, default=RefreshConfig().widen)
    ap.add_argument("--joint", action=argparse.BooleanOptionalAction, default=RefreshConfig().correlated,
                    help="the joint prior (refresh.correlated), or per-site priors")
    ap.add_argument("--new-weeks", action=argparse.BooleanOptionalAction,
                    default=RefreshConfig().new_weeks,
                    help="the likelihood sees only the new weeks (refresh.new_weeks), or all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    sim = SimulationConfig(geos=args.geos, channels=args.channels, controls=1, seed=args.seed,
                           weeks=args.first + args.months * args.step)
    frame, truth = simulate(sim)
    channels = channel_names(sim.channels)
    whole = true_roi(frame, truth, channels, sim.weeks)
    assert all(abs(whole[c] / truth["national"][c]["roi"] - 1) < 1e-3 for c in channels), whole
    inference = InferenceConfig(chains=2, warmup=args.warmup, draws=args.draws, progress_bar=False)
    base = FitConfig(model=ModelConfig(adstock=AdstockConfig(max_lag=sim.max_lag)),
                     inference=inference, refresh=RefreshConfig(args.widen, args.new_weeks, args.joint),
                     name="refresh_study")
    rows, start = [], time.perf_counter()
    for month in range(args.months + 1):
        weeks = args.first + month * args.step
        path = out / "data" / f"weeks_{weeks}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        first_dates = sorted(frame["week"].unique())[:weeks]
        frame[frame["week"].isin(first_dates)].to_csv(path, index=False)
        cfg = replace(base, data=data_config(sim, str(path.resolve())))
        true = true_roi(frame, truth, channels, weeks)
        for approach in (("independent", "refresh") if month else ("first",)):
            run = out / approach / f"month_{month}"
            prev = out / ("first/month_0" if month == 1 else f"refresh/month_{month - 1}")
            own = replace(cfg, refresh_from=str(prev)) if approach == "refresh" else cfg
            metrics = fit_once(own, run)
            rows += roi_rows(run, month, weeks, approach, true, metrics)
            print(f"[{time.perf_counter() - start:.0f} s] month {month} ({weeks} weeks) "
                  f"{approach}: max R-hat {metrics['convergence']['max_rhat']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "rois.csv", index=False)
    result = summarise(table)
    result.to_csv(out / "summary.csv", index=False)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(result.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(json.dumps({"wall_s": round(time.perf_counter() - start), "widen": args.widen,
                      "correlated": args.joint, "new_weeks": args.new_weeks,
                      "panel": f"{sim.geos} geos x {sim.weeks} weeks x {sim.channels} channels"}))


if __name__ == "__main__":
    main()
