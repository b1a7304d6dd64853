"""Study 4: every answer of a fitted run on PyMC-Marketing's mmm_example.csv against its truth.

The generator (../shared/data/TRUTH.md, section 2) is known exactly: y = 1000 (2 + trend + season
+ 1.5 e1 + 2.5 e2 + 3 sat(ad(x1)) + 2 sat(ad(x2)) + eps), geometric adstock normalised over 8
weeks (alpha 0.4, 0.2), logistic saturation (lambda 4, 3). This script rebuilds it in numpy (and
checks the rebuild against the file: the residual must look like the N(0, 250) noise), then
compares with the run folder's outputs:

- efficiency: the true ROI (KPI per unit of x) and contribution of each channel against
  ``summary.csv`` (median, 90 % interval);
- impact: the true weekly contribution of each channel against the fit's (the same
  ``mmm_geo.analysis.contributions.decomposition`` the report shows): weeks inside the 90 % band;
- forecasting: the true expected KPI of each week of the plan against ``forecast/forecast.csv``;
- optimization: the true gain of the recommended split (``optimize/allocation.csv``) over the plan's
  own split, as a share of the best gain attainable under the true response (a grid over splits);
- timing (``--tv-run``, a fit with ``model.time_varying``): the truth has no change in media
  effectiveness over time, so the multiplier's band (``time_varying.csv``) should cover 1.

    .venv/bin/python scripts/truth_pymc_mmm_example.py experiments/pymc_mmm_example/fit \
        --plan experiments/pymc_mmm_example/plan_next13.csv --tv-run experiments/pymc_mmm_example/tv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "../shared/data/pymc_marketing/mmm_example.csv"
ALPHA, LAM, BETA, AMPLITUDE, N_DATA, MAX_LAG = (0.4, 0.2), (4.0, 3.0), (3.0, 2.0), 1000.0, 179, 8
CHANNELS = ("x1", "x2")


def adstock(x: np.ndarray, alpha: float) -> np.ndarray:
    w = alpha ** np.arange(MAX_LAG)
    w = w / w.sum()
    return np.array([sum(w[l] * x[t - l] for l in range(MAX_LAG) if t - l >= 0) for t in range(len(x))])


def effect(x: np.ndarray, c: int) -> np.ndarray:
    """Channel ``c``'s true weekly KPI effect of spend series ``x`` (from the data's first week)."""
    a = adstock(x, ALPHA[c])
    return AMPLITUDE * BETA[c] * (1 - np.exp(-LAM[c] * a)) / (1 + np.exp(-LAM[c] * a))


def base(dates: pd.DatetimeIndex, index: np.ndarray) -> np.ndarray:
    """True intercept + trend + seasonality (KPI units) at calendar indices ``index``."""
    trend = (index * 50.0 / (N_DATA - 1) + 10) ** 0.25 - 1
    doy = dates.day_of_year.values
    season = 0.5 * (-np.sin(4 * np.pi * doy / 365.5) + np.cos(2 * np.pi * doy / 365.5))
    return AMPLITUDE * (2.0 + trend + season)


def check_rebuild(df: pd.DataFrame) -> dict:
    mean = (base(pd.DatetimeIndex(df["date_week"]), np.arange(len(df)))
            + AMPLITUDE * (1.5 * df["event_1"].values + 2.5 * df["event_2"].values)
            + sum(effect(df[ch].values, c) for c, ch in enumerate(CHANNELS)))
    resid = df["y"].values - mean
    assert abs(resid.mean()) < 60 and 200 < resid.std() < 300, "the rebuild does not match the file"
    return {"residual_mean": float(resid.mean()), "residual_sd": float(resid.std())}


def efficiency(df: pd.DataFrame, run: Path) -> list:
    summary = pd.read_csv(run / "summary.csv")
    rows = []
    for c, ch in enumerate(CHANNELS):
        contribution = float(effect(df[ch].values, c).sum())
        row = {"channel": ch, "true_contribution": contribution,
               "true_roi": contribution / float(df[ch].sum())}
        for metric, true in (("roi", row["true_roi"]), ("contribution", contribution)):
            est = summary[(summary["channel"] == ch) & (summary["metric"] == metric)].iloc[0]
            row.update({f"{metric}_median": est["median"], f"{metric}_lo": est["p5"],
                        f"{metric}_hi": est["p95"],
                        f"{metric}_covered": bool(est["p5"] <= true <= est["p95"])})
        rows.append(row)
    return rows


def impact(df: pd.DataFrame, run: Path) -> dict:
    """Weekly contributions of the fit (``mmm_geo.analysis.contributions``) against the truth."""
    from mmm_geo.analysis import contributions
    from mmm_geo.analysis.accuracy import train_mask
    from mmm_geo.analysis.draws import summarize, thin
    from mmm_geo.run import load_run

    r = load_run(run)
    post = thin(r.idata.posterior[contributions.sites(r.idata.posterior)], 1000)
    media = contributions.decomposition(post, r.ds, r.scaling, r.config.model,
                                        train_mask(r.idata))["media"].sum("geo")
    band = summarize(media, 0.9)
    out = {}
    for c, ch in enumerate(CHANNELS):
        true = effect(df[ch].values, c)
        lo, hi, med = (band[k].sel(channel=ch).values for k in ("lo", "hi", "median"))
        out[ch] = {"weeks": len(true), "inside_90": float(((lo <= true) & (true <= hi)).mean()),
                   "mean_abs_error": float(np.abs(med - true).mean()),
                   "true_mean_weekly": float(true.mean())}
    return out


def plan_truth(df: pd.DataFrame, plan: pd.DataFrame, totals: dict | None = None) -> np.ndarray:
    """True expected KPI (no noise) of the plan's weeks and the carryover tail after them, with
    each channel's plan column rescaled to ``totals`` (keeping its weekly shape)."""
    h = len(plan)
    dates = pd.date_range(plan["date_week"].iloc[0], periods=h + MAX_LAG - 1, freq="7D")
    index = np.arange(N_DATA, N_DATA + h + MAX_LAG - 1)
    mean = base(dates, index)
    for c, ch in enumerate(CHANNELS):
        x = plan[ch].values.astype(float)
        if totals is not None:
            x = x * totals[ch] / x.sum() if x.sum() > 0 else np.full(h, totals[ch] / h)
        series = np.concatenate([df[ch].values, x, np.zeros(MAX_LAG - 1)])
        mean = mean + effect(series, c)[N_DATA:]
    return mean


def forecasting(df: pd.DataFrame, plan: pd.DataFrame, run: Path) -> dict:
    fc = pd.read_csv(run / "forecast" / "forecast.csv")
    fc = fc[fc["geo"] == "total"].sort_values("week").head(len(plan))
    true = plan_truth(df, plan)[: len(plan)]
    return {"weeks": len(plan), "true_total": float(true.sum()),
            "forecast_total": float(fc["expected_mean"].sum()),
            "true_inside_90": float(((fc["kpi_p5"].values <= true) & (true <= fc["kpi_p95"].values)).mean()),
            "true_inside_50": float(((fc["kpi_p25"].values <= true) & (true <= fc["kpi_p75"].values)).mean()),
            "mean_abs_pct_error": float(np.mean(np.abs(fc["expected_mean"].values - true) / true))}


def optimization(df: pd.DataFrame, plan: pd.DataFrame, run: Path) -> dict:
    alloc = pd.read_csv(run / "optimize" / "allocation.csv").set_index("channel")
    current = {ch: float(plan[ch].sum()) for ch in CHANNELS}
    budget = sum(current.values())
    rec = {ch: float(alloc.loc[ch, "recommended"]) for ch in CHANNELS}
    value = {name: float(plan_truth(df, plan, t).sum()) for name, t in (("current", current), ("recommended", rec))}
    grid = np.linspace(0, 1, 201)
    best = [plan_truth(df, plan, {"x1": s * budget, "x2": (1 - s) * budget}).sum() for s in grid]
    k = int(np.argmax(best))
    attainable = best[k] - value["current"]
    return {"budget": budget, "current": current, "recommended": rec,
            "true_best": {"x1": grid[k] * budget, "x2": (1 - grid[k]) * budget},
            "true_gain_recommended": value["recommended"] - value["current"],
            "true_gain_best": attainable,
            "capture": (value["recommended"] - value["current"]) / attainable if attainable > 0 else None}


def timing(tv_run: Path) -> dict:
    tv = pd.read_csv(tv_run / "time_varying.csv")
    out = {}
    for ch, part in tv.groupby("channel"):
        out[ch] = {"weeks": len(part), "covers_1": float(((part["lo"] <= 1) & (1 <= part["hi"])).mean()),
                   "median_min": float(part["median"].min()), "median_max": float(part["median"].max())}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--plan", type=Path, required=True)
    p.add_argument("--tv-run", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="default: <run>/truth_check.json")
    args = p.parse_args()
    df = pd.read_csv(DATA)
    plan = pd.read_csv(args.plan)
    result = {"rebuild": check_rebuild(df), "efficiency": efficiency(df, args.run),
              "impact": impact(df, args.run), "forecasting": forecasting(df, plan, args.run),
              "optimization": optimization(df, plan, args.run)}
    if args.tv_run:
        result["timing"] = timing(args.tv_run)
    text = json.dumps(result, indent=1, default=float)
    print(text)
    out = args.out or args.run / "truth_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
