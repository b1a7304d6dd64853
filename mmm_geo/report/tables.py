"""The report's tables as DataFrames, written as CSV and shown in the HTML (one source of numbers)."""

from __future__ import annotations

import itertools
from typing import Dict

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.report.analyse import Analysis

STATS = ("median", "lo", "hi")


def _frame(ds: xr.Dataset, names) -> pd.DataFrame:
    return ds[list(names)].to_dataframe().reset_index()


def ranking(a: Analysis) -> pd.DataFrame:
    """Per channel, best first: rank, verdict, ROI, marginal ROI, contribution, share (median and
    interval), P(ROI > 1), P(marginal ROI > 1), and cost per KPI for conversion KPIs."""
    r = a.ranking
    names = ["rank", "verdict", *[f"{m}_{s}" for m in ("roi", "mroi") for s in STATS],
             "p_roi_gt_1", "p_mroi_gt_1",
             *[f"{m}_{s}" for m in ("contribution", "contribution_share", "cost_per_kpi")
               for s in STATS if f"{m}_{s}" in r]]
    return _frame(r, names)


def summary_long(ds: xr.Dataset, value: str) -> pd.DataFrame:
    """A summary Dataset (mean, median, lo, hi over any dims) as a long table."""
    out = ds[["mean", *STATS]].to_dataframe().reset_index()
    return out.rename(columns={k: f"{value}_{k}" for k in ("mean", *STATS)})


def channels(a: Analysis) -> pd.DataFrame:
    """Per channel: the ranking columns plus the mean carryover lag and the spread across geos."""
    lag = summary_long(a.mean_lag, "mean_lag")[[dims.CHANNEL, *[f"mean_lag_{s}" for s in STATS]]]
    cv = summary_long(a.geo_var, "roi_geo_cv")[[dims.CHANNEL, *[f"roi_geo_cv_{s}" for s in STATS]]]
    spend = a.curves["spend"].sel(multiplier=1.0).to_series().rename("spend").reset_index()
    return ranking(a).merge(spend, on=dims.CHANNEL).merge(lag, on=dims.CHANNEL).merge(
        cv, on=dims.CHANNEL)


def decomposition(a: Analysis) -> pd.DataFrame:
    """Posterior mean of every component per geo and period, in KPI units (long)."""
    return a.components.rename("kpi").to_dataframe().reset_index()


def accuracy(a: Analysis) -> pd.DataFrame:
    """R^2, MAPE and NRMSE in-sample and on the held-out periods, next to the seasonal naive."""
    train = a.bands["train"].values
    rows = [{"window": f"in-sample ({int(train.sum())} weeks)", "forecast": "model",
             **{k: a.accuracy["fit"][k] for k in ("r2", "mape", "nrmse")}}]
    hold = a.accuracy.get("holdout")
    if hold:
        win = f"holdout ({hold['periods']} weeks)" + (" of the validation fit"
                                                      if a.holdout_source else "")
        rows.append({"window": win, "forecast": "model",
                     **{k: hold[k] for k in ("r2", "mape", "nrmse")}})
        rows.append({"window": win, "forecast": "seasonal naive",
                     **{k: hold[f"naive_{k}"] for k in ("r2", "mape", "nrmse")}})
    return pd.DataFrame(rows)


def fit_national(a: Analysis) -> pd.DataFrame:
    """National observed KPI, predictive mean and interval per period, and the training mask."""
    b = a.bands
    cols = {f"national_{k}": k for k in ("observed", "mean", "lo", "hi")}
    out = b[list(cols)].to_dataframe().rename(columns=cols)
    return out.assign(train=b["train"].values).reset_index()


def prior_posterior(a: Analysis) -> pd.DataFrame:
    """Per parameter element: prior and posterior mean and sd, shrinkage and shift."""
    if a.shift is None:
        return pd.DataFrame()
    rows = []
    for name, da in a.shift.data_vars.items():
        flat = da.transpose("stat", ...).values.reshape(da.sizes["stat"], -1)
        labels = _element_labels(da.isel(stat=0, drop=True))
        for j, label in enumerate(labels):
            rows.append({"parameter": name, "element": label,
                         **dict(zip(da["stat"].values, flat[:, j]))})
    return pd.DataFrame(rows)


def _element_labels(da: xr.DataArray) -> list:
    """"geo_00,tv"-style labels of a parameter's elements, in C order ("" for a scalar)."""
    coords = [[str(v) for v in da[d].values] for d in da.dims]
    return [",".join(t) for t in itertools.product(*coords)] if coords else [""]


def budget(a: Analysis) -> pd.DataFrame:
    """The optimizer's allocation per channel (empty when it has not been run)."""
    if a.optimizer is None:
        return pd.DataFrame()
    return a.optimizer["allocation"]


def gain(a: Analysis, prob: float, plan: str = "recommended") -> Dict[str, float]:
    """A plan's gain over the current one (default: the recommendation): mean, interval,
    P(gain > 0)."""
    g = a.optimizer["gains"][plan]
    lo, hi = np.quantile(g, [(1 - prob) / 2, (1 + prob) / 2])
    cur = a.optimizer["outcomes"].set_index("plan").loc["current", "mean"]
    return {"mean": float(g.mean()), "lo": float(lo), "hi": float(hi),
            "p_positive": float((g > 0).mean()), "relative": float(g.mean() / cur) if cur else np.nan}


def all_tables(a: Analysis) -> Dict[str, pd.DataFrame]:
    """Every CSV the report writes, by file stem."""
    out = {
        "channels": channels(a),
        "roi_geo": summary_long(a.roi_geo, "roi"),
        "component_share": summary_long(a.share, "share"),
        "decomposition": decomposition(a),
        "synergy": a.synergy,
        "time_varying": a.time_varying,
        "treatments": a.treatments,
        "response_curves": summary_long(a.curves, "revenue"),
        "adstock": summary_long(a.decay, "weight"),
        "accuracy": accuracy(a),
        "fit_national": fit_national(a),
        "prior_posterior": prior_posterior(a),
        "budget": budget(a),
    }
    if a.recovery is not None:
        out["recovery"] = a.recovery
    return {k: v for k, v in out.items() if len(v)}
