"""What the priors imply before any data are seen: the numbers of the prior predictive check.

The inputs are prior draws laid out as a fitted trace (``mmm_geo.inference.trace.prior_trace``:
dims (chain, draw, ...)), so ROI and the rest come from the same functions as for a posterior.

- :func:`channel_quantiles`: per channel, the median and 5, 25, 75 and 95 % quantiles of ROI,
  marginal ROI and contribution share (share of revenue) under the prior, and P(ROI > 1);
- :func:`kpi_band`: the prior predictive national KPI per period (the same quantiles) next to the
  observed one;
- :func:`kpi_range`: the prior predictive KPI against the observed, per geo-week and per national
  week: the observed minimum, median and maximum, the prior's quantiles pooled over draws and
  periods, and the share of observed values inside their own 50 % and 90 % prior intervals.
"""

from __future__ import annotations

import arviz as az
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE, prob_above

QUANTILES = {"p5": 0.05, "p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}
ORDER = ("median", "p5", "p25", "p75", "p95")           # the column order of the tables
METRICS = {"roi": "roi", "mroi": "mroi", "share": "contribution_share"}   # column prefix: metric


def quantiles(values: xr.DataArray, over=SAMPLE) -> xr.Dataset:
    """The :data:`QUANTILES` of ``values`` over the dims ``over`` (other dims kept)."""
    q = values.quantile(list(QUANTILES.values()), dim=over)
    return xr.Dataset({k: q.sel(quantile=v, drop=True) for k, v in QUANTILES.items()})


def channel_quantiles(metrics: xr.Dataset) -> pd.DataFrame:
    """One row per channel: ``<metric>_<median|p5|p25|p75|p95>`` for ROI, marginal ROI and
    contribution share, and ``roi_p_gt_1``, from per-draw ``channel_metrics`` (chain, draw,
    channel)."""
    out = {dims.CHANNEL: [str(c) for c in metrics[dims.CHANNEL].values]}
    for prefix, name in METRICS.items():
        q = quantiles(metrics[name])
        out.update({f"{prefix}_{k}": q[k].values for k in ORDER})
        if prefix == "roi":
            out["roi_p_gt_1"] = prob_above(metrics["roi"], 1.0).values
    return pd.DataFrame(out)


def _national(idata: az.InferenceData) -> tuple[xr.DataArray, xr.DataArray]:
    pp, obs = idata.posterior_predictive["kpi"], idata.observed_data["kpi"]
    return pp.sum(dims.GEO), obs.sum(dims.GEO)


def kpi_band(idata: az.InferenceData) -> xr.Dataset:
    """Per period (time): the prior predictive national KPI's quantiles and the ``observed``."""
    pp, obs = _national(idata)
    return quantiles(pp).assign(observed=obs)


def _range_row(level: str, pp: xr.DataArray, obs: xr.DataArray) -> dict:
    pooled, own = quantiles(pp, pp.dims), quantiles(pp)
    return {"level": level, "observed_min": float(obs.min()),
            "observed_median": float(obs.median()), "observed_max": float(obs.max()),
            **{k: float(pooled[k]) for k in ORDER},
            "observed_in_50": float(((obs >= own["p25"]) & (obs <= own["p75"])).mean()),
            "observed_in_90": float(((obs >= own["p5"]) & (obs <= own["p95"])).mean())}


def kpi_range(idata: az.InferenceData) -> pd.DataFrame:
    """The prior predictive KPI range against the observed one: a ``geo-week`` and a
    ``national week`` row (see the module docstring)."""
    pp, obs = idata.posterior_predictive["kpi"], idata.observed_data["kpi"]
    return pd.DataFrame([_range_row("geo-week", pp, obs),
                         _range_row("national week", *_national(idata))])
