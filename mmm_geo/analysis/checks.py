"""Why to trust a fit: posterior predictive checks, prior vs posterior, recovery of known truth.

- :func:`predictive_bands`: observed KPI next to the posterior predictive mean and central
  interval, per geo and period (``train`` marks the periods the fit saw; the rest are forecasts).
- :func:`coverage`: the share of observations inside their predictive interval (about ``prob``
  for a well-calibrated model), in-sample and on held-out periods.
- :func:`prior_posterior`: for each parameter, prior and posterior mean and sd, the shrinkage
  ``1 - var_post / var_prior`` (how much the data taught) and the shift of the mean in prior sds.
- :func:`recovery`: true values of a simulated panel next to their posterior intervals.
"""

from __future__ import annotations

from typing import Iterable, Optional

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.accuracy import holdout_mask, train_mask
from mmm_geo.analysis.draws import SAMPLE, bounds, summarize
from mmm_geo.analysis import mediation

STATS = ("prior_mean", "prior_sd", "post_mean", "post_sd", "shrinkage", "shift")


def predictive_bands(idata: az.InferenceData, prob: float = 0.9) -> xr.Dataset:
    """Observed KPI and the posterior predictive mean, median and ``prob`` interval.

    Returns:
        Dataset (geo, time) with ``observed``, ``mean``, ``median``, ``lo``, ``hi``, ``train`` and
        ``holdout`` (``mmm_geo.analysis.accuracy``);
        the same summed over geos (per draw first, so the national interval is correct) as
        ``national_*`` (time).
    """
    pp = idata.posterior_predictive["kpi"]
    local = summarize(pp, prob)
    nat = summarize(pp.sum(dims.GEO), prob).rename({k: f"national_{k}" for k in local.data_vars})
    obs = idata.observed_data["kpi"]
    out = xr.merge([local, nat, obs.rename("observed"), obs.sum(dims.GEO).rename("national_observed")])
    out["train"] = ((dims.TIME,), train_mask(idata))
    out["holdout"] = ((dims.TIME,), holdout_mask(idata))
    out.attrs["prob"] = prob
    return out


def coverage(bands: xr.Dataset) -> dict:
    """Share of observed cells inside the predictive interval: ``in_sample`` and ``holdout``."""
    inside = (bands["observed"] >= bands["lo"]) & (bands["observed"] <= bands["hi"])
    train = bands["train"].values
    out = {"prob": float(bands.attrs["prob"]),
           "in_sample": float(inside.isel({dims.TIME: train}).mean())}
    hold = bands["holdout"].values
    if hold.any():
        out["holdout"] = float(inside.isel({dims.TIME: hold}).mean())
    return out


def _moments(values: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    return values.mean(SAMPLE), values.std(SAMPLE)


def prior_posterior(idata: az.InferenceData,
                    var_names: Optional[Iterable[str]] = None) -> Optional[xr.Dataset]:
    """Prior vs posterior of every parameter in both groups (None when the trace has no prior).

    Returns:
        Dataset with one variable per parameter, dims (stat, *parameter dims), ``stat`` in
        prior_mean, prior_sd, post_mean, post_sd, shrinkage, shift.
    """
    if "prior" not in idata.groups():
        return None
    prior, post = idata.prior, idata.posterior
    names = [n for n in (var_names or prior.data_vars) if n in post and n in prior]
    out = {}
    for name in names:
        pm, ps = _moments(prior[name])
        qm, qs = _moments(post[name])
        ratio = xr.where(ps > 0, (qs / ps.where(ps > 0)) ** 2, np.nan)
        shift = xr.where(ps > 0, abs(qm - pm) / ps.where(ps > 0), np.nan)
        out[name] = xr.concat([pm, ps, qm, qs, 1 - ratio, shift], dim="stat").assign_coords(
            stat=list(STATS))
    return xr.Dataset(out)


def prior_posterior_table(shift: xr.Dataset) -> pd.DataFrame:
    """One row per parameter: its size, mean shrinkage and largest shift over its elements."""
    rows = []
    for name, da in shift.data_vars.items():
        size = int(np.prod([da.sizes[d] for d in da.dims if d != "stat"]))
        rows.append({"parameter": name, "size": size,
                     "shrinkage_mean": float(da.sel(stat="shrinkage").mean()),
                     "shrinkage_min": float(da.sel(stat="shrinkage").min()),
                     "shift_max": float(da.sel(stat="shift").max())})
    return pd.DataFrame(rows)


def true_metric(truth: dict, metric: str, name: str) -> float:
    """A simulated panel's true national ``metric`` of channel (or synergy pair) ``name``, as the
    model's metric of that name defines it: the model's counterfactual ``roi``, ``mroi`` and
    ``contribution`` are the truth's ``*_total`` where the panel has synergy (else its own), the
    model's ``roi_own`` the truth's own ``roi``."""
    if metric in mediation.METRICS:
        return mediation.true_value(truth, metric, name)
    if metric == "synergy_contribution":
        return float(truth["synergy"][name]["contribution"])
    nat = truth["national"][name]
    return float(nat["roi"] if metric == "roi_own" else nat.get(f"{metric}_total", nat[metric]))


def recovery(metrics: xr.Dataset, truth: dict, prob: float = 0.9,
             names=("roi", "mroi", "contribution")) -> pd.DataFrame:
    """True national ``names`` of a simulated panel next to their posterior median and interval.

    Args:
        metrics: :func:`mmm_geo.analysis.roi.channel_metrics` output.
        truth: the run's ``truth.json`` (``national`` -> channel -> metric).
    """
    lo, hi = bounds(prob)
    rows = []
    for name in names:
        q = metrics[name].quantile([lo, 0.5, hi], dim=SAMPLE)
        for ch in metrics[dims.CHANNEL].values:
            true = true_metric(truth, name, str(ch))
            v = q.sel({dims.CHANNEL: ch}).values
            rows.append({"metric": name, "channel": str(ch), "true": true, "median": float(v[1]),
                         "lo": float(v[0]), "hi": float(v[2]),
                         "covered": bool(v[0] <= true <= v[2]),
                         "rel_error": float(v[1] / true - 1) if true else np.nan})
    return pd.DataFrame(rows)


def geo_recovery(metrics: xr.Dataset, truth: dict, prob: float = 0.9) -> dict:
    """Share of geo x channel ROI intervals that cover the true geo ROI, and the correlation of
    posterior medians with the truth."""
    lo, hi = bounds(prob)
    q = metrics["roi_geo"].quantile([lo, 0.5, hi], dim=SAMPLE)
    geos, chans = metrics[dims.GEO].values, metrics[dims.CHANNEL].values
    true = np.array([[truth["geo"][str(g)][str(c)]["roi"] for c in chans] for g in geos])
    v = q.transpose("quantile", dims.GEO, dims.CHANNEL).values
    return {"prob": prob, "coverage": float(((v[0] <= true) & (true <= v[2])).mean()),
            "corr": float(np.corrcoef(v[1].ravel(), true.ravel())[0, 1]), "cells": int(true.size)}
