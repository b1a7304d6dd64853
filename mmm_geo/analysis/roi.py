"""ROI, marginal ROI, contribution and cost per KPI, per posterior draw, in the user's units.

Definitions (over the modelled window, nationally and per geo):

- contribution: KPI (and revenue) the channel drove = model mean minus the mean with the channel's
  media set to zero (a counterfactual difference, ``mmm_geo.model.media.counterfactual``, so it
  stays right when channels interact);
- ROI = revenue contribution / spend;
- marginal ROI = extra revenue from 1 % more of the channel's spend in every week / that 1 %;
- cost per KPI = spend / KPI contribution (for conversion KPIs);
- contribution per 1,000 exposures (revenue), for every channel: organic and impressions-only
  media (no spend) have it and a contribution, but NaN for ROI, marginal ROI and cost per KPI.

With a mediator (``model.mediation``) a channel's contribution holds the mediator as recorded
(its direct effect); ``mmm_geo.analysis.mediation`` adds the indirect and total effects.

With synergy pairs (``model.synergy``) the counterfactual ROI includes the whole interaction of
the channel's pairs (switching it off loses both); ``roi_own`` is the channel's own response
alone, and ``synergy_contribution`` (per pair) the interaction itself. Reach & frequency
channels add ``optimal_frequency`` (``mmm_geo.analysis.frequency``).
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import bounds, map_draws
from mmm_geo.analysis.frequency import optimal_frequency
from mmm_geo.analysis.mediation import METRICS as MEDIATION, mediation_metrics
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling, model_data
from mmm_geo.model import media as mm
from mmm_geo.model.media import MARGIN


def channel_effects(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    factors, batch: int = 500, over: int = -2) -> dict:
    """Per draw and factor ``f``, what each channel drove over the window against its exposure
    times ``f`` (``mmm_geo.model.media.counterfactual``): ``kpi`` and ``revenue`` (chain, draw,
    factor, geo, channel), in the user's units; ``over=-3`` sums over geos instead of periods
    (chain, draw, factor, time, channel)."""
    media, freq = _inputs(ds, scaling)
    sp = mm.spec(cfg, media.shape[-1])
    kpi_unit = jnp.asarray(scaling.kpi_scale * ds["population"].values)[:, None, None]
    rpk = jnp.asarray(ds["revenue_per_kpi"].values)[..., None]
    ones = jnp.ones(media.shape[-1], media.dtype)

    def per_draw(p):
        p = mm.with_frequency(p, freq)
        diff = jnp.stack([mm.counterfactual(sp, p, media, f * ones) for f in factors]) * kpi_unit
        return {"kpi": diff.sum(over), "revenue": (diff * rpk).sum(over)}

    return map_draws(per_draw, posterior, cfg, batch)


def _inputs(ds: xr.Dataset, scaling: Scaling):
    """The media component's inputs of the data: scaled exposure and frequency (or None)."""
    data = model_data(ds, scaling)
    return jnp.asarray(data.media), None if data.frequency is None else jnp.asarray(data.frequency)


def channel_metrics(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    batch: int = 500) -> xr.Dataset:
    """Per draw: contribution, ROI, marginal ROI (and cost per KPI), nationally and per geo.

    Returns:
        Dataset with dims (chain, draw, channel) for national and (chain, draw, geo, channel) for
        ``*_geo`` variables.
    """
    eff = channel_effects(posterior, ds, scaling, cfg, (0.0, 1.0 + MARGIN), batch)
    kpi, rev, marg = eff["kpi"][:, :, 0], eff["revenue"][:, :, 0], -eff["revenue"][:, :, 1]
    spend = _cost(ds["spend"].values.sum(axis=1))                # (geo, channel); NaN: no spend
    gdims = (dims.CHAIN, dims.DRAW, dims.GEO, dims.CHANNEL)
    cdims = (dims.CHAIN, dims.DRAW, dims.CHANNEL)
    national_spend = _cost(ds["spend"].values.sum(axis=(0, 1)))
    exposure = ds["exposure"].values.sum(axis=(0, 1))
    out = xr.Dataset(
        {
            "contribution_geo": (gdims, rev),
            "contribution": (cdims, rev.sum(axis=2)),
            "kpi_contribution": (cdims, kpi.sum(axis=2)),
            "roi_geo": (gdims, rev / spend),
            "roi": (cdims, rev.sum(axis=2) / national_spend),
            "mroi_geo": (gdims, marg / (MARGIN * spend)),
            "mroi": (cdims, marg.sum(axis=2) / (MARGIN * national_spend)),
            "contribution_share": (cdims, rev.sum(axis=2) / float((ds["kpi"] * ds["revenue_per_kpi"]).sum())),
            "contribution_per_1000": (cdims, 1000.0 * rev.sum(axis=2) / exposure),
        },
        coords={dims.GEO: ds.coords[dims.GEO].values, dims.CHANNEL: ds.coords[dims.CHANNEL].values},
    )
    if not ds.attrs.get("kpi_is_revenue", 1):
        out["cost_per_kpi"] = (cdims, national_spend / kpi.sum(axis=2))
    sp = mm.spec(cfg, ds.sizes[dims.CHANNEL])
    if sp.pairs:
        own, syn = _synergy_split(posterior, ds, scaling, cfg, batch)
        out["roi_own"] = (cdims, own / national_spend)
        out["synergy_contribution"] = ((dims.CHAIN, dims.DRAW, dims.PAIR), syn)
        out = out.assign_coords({dims.PAIR: mm.pair_names(sp, list(ds.coords[dims.CHANNEL].values))})
    best = optimal_frequency(posterior, ds, cfg, batch)
    if best is not None:
        out["optimal_frequency"] = best
    mediated = mediation_metrics(posterior, ds, scaling, cfg, batch)
    return out if mediated is None else out.merge(mediated)


def period_roi(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
               freq: str = "Y", prob: float = 0.9, batch: int = 500) -> pd.DataFrame:
    """National ROI per calendar period (``freq``: Y for years, Q for quarters) and channel:
    each period's counterfactual revenue contribution over its spend (carryover into the next
    period counts where it lands), median and central ``prob`` interval."""
    rev = channel_effects(posterior, ds, scaling, cfg, (0.0,), batch, over=-3)["revenue"][:, :, 0]
    times = pd.DatetimeIndex(ds.coords[dims.TIME].values)
    label = times.to_period(freq).astype(str)
    spend = ds["spend"].values.sum(axis=0)                       # (time, channel)
    rows = []
    lo, hi = bounds(prob)
    for period in dict.fromkeys(label):
        idx = np.flatnonzero(label == period)
        cost = spend[idx].sum(0)
        roi = rev[:, :, idx].sum(2) / np.where(cost > 0, cost, np.nan)          # (chain, draw, channel)
        flat = roi.reshape(-1, roi.shape[-1])
        for j, ch in enumerate(ds.coords[dims.CHANNEL].values):
            if cost[j] > 0:
                q = np.quantile(flat[:, j], [lo, 0.5, hi])
                rows.append({"period": period, "channel": str(ch), "spend": float(cost[j]),
                             "median": q[1], "lo": q[0], "hi": q[2]})
    return pd.DataFrame(rows)


def _cost(spend: np.ndarray) -> np.ndarray:
    """Spend with NaN where there is none (organic media have no ROI, not an infinite one)."""
    return np.where(spend > 0, spend, np.nan)


def _synergy_split(posterior, ds, scaling, cfg, batch):
    """Per draw, each channel's own revenue contribution (chain, draw, channel) and each synergy
    pair's (chain, draw, pair) over the window."""
    media, freq = _inputs(ds, scaling)
    sp = mm.spec(cfg, media.shape[-1])
    rev_unit = jnp.asarray(scaling.kpi_scale * ds["population"].values)[:, None, None] \
        * jnp.asarray(ds["revenue_per_kpi"].values)[..., None]

    def per_draw(p):
        unit = mm.unit_response(sp, mm.with_frequency(p, freq), media)
        return {"own": (mm.scale(p, unit) * rev_unit).sum((-3, -2)),
                "synergy": (mm.synergy(sp, p, unit) * rev_unit).sum((-3, -2))}

    out = map_draws(per_draw, posterior, cfg, batch)
    return out["own"], out["synergy"]


SUMMARY = ("roi", "mroi", "contribution", "roi_own", "synergy_contribution", "optimal_frequency",
           *MEDIATION)
ORGANIC_SUMMARY = SUMMARY + ("contribution_per_1000",)   # with organic or impressions-only media


def interval_table(metrics: xr.Dataset, names=SUMMARY, prob: float = 0.9) -> pd.DataFrame:
    """Posterior mean, median and central ``prob`` interval of national metrics, by channel (by
    pair for ``synergy_contribution``); metrics the model lacks, and channels a metric is
    undefined for (the ROI of organic media), are left out."""
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    rows = []
    for name in names:
        if name not in metrics:
            continue
        v = metrics[name].stack(sample=(dims.CHAIN, dims.DRAW))
        with warnings.catch_warnings():   # all NaN: a channel without the metric (skipped below)
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            q = v.quantile([lo, 0.5, hi], dim="sample").values
        (dim,) = [d for d in v.dims if d != "sample"]       # channel, or synergy_pair
        for j, ch in enumerate(metrics.coords[dim].values):
            x = v.isel({dim: j})
            if bool(x.isnull().all()):                       # e.g. the ROI of organic media
                continue
            rows.append({"metric": name, "channel": ch, "mean": float(x.mean()),
                         "median": q[1, j], f"p{lo * 100:g}": q[0, j], f"p{hi * 100:g}": q[2, j],
                         "p_gt_1": float((x > 1).mean()) if "roi" in name else np.nan})
    return pd.DataFrame(rows)
