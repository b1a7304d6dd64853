"""ROI, marginal ROI, contribution and cost per KPI, per posterior draw, in the user's units.

Definitions (over the modelled window, nationally and per geo):

- contribution: KPI (and revenue) the channel drove = model mean minus the mean with the channel's
  media set to zero (the model is additive in media, so this is the channel's media term);
- ROI = revenue contribution / spend;
- marginal ROI = extra revenue from 1 % more spend in every week / that extra 1 % of spend;
- cost per KPI = spend / KPI contribution (for conversion KPIs).
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling, model_data
from mmm_geo.model.hierarchical import media_response, params_from_samples

MARGIN = 0.01


def flat_draws(posterior: xr.Dataset) -> Dict[str, np.ndarray]:
    """Posterior variables as arrays with one leading (chain x draw) axis."""
    out = {}
    for name, var in posterior.data_vars.items():
        v = var.transpose(dims.CHAIN, dims.DRAW, ...).values
        out[name] = v.reshape((-1,) + v.shape[2:])
    return out


def media_by_draw(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                  scales=(1.0,), batch: int = 500):
    """Yield, batch of draws by batch, the media effect (batch, geo, time, channel) in KPI units
    with the data's media multiplied by each of ``scales`` (one tuple entry per scale)."""
    data = model_data(ds, scaling)
    n_geo, _, n_channel = data.media.shape
    media = jnp.asarray(data.media)[None] * jnp.asarray(scales, data.media.dtype)[:, None, None, None]
    flat = flat_draws(posterior)
    n = next(iter(flat.values())).shape[0]
    per_draw = jax.vmap(lambda p, m: media_response(p, m, cfg), in_axes=(None, 0))
    fn = jax.jit(jax.vmap(per_draw, in_axes=(0, None)))
    unit = (scaling.kpi_scale * ds["population"].values)[:, None, None]
    for start in range(0, n, batch):
        part = {k: jnp.asarray(v[start:start + batch]) for k, v in flat.items()}
        out = np.asarray(fn(params_from_samples(part, cfg, n_channel, n_geo), media)) * unit
        yield tuple(out[:, i] for i in range(len(scales)))


def channel_metrics(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    batch: int = 500) -> xr.Dataset:
    """Per draw: contribution, ROI, marginal ROI (and cost per KPI), nationally and per geo.

    Returns:
        Dataset with dims (chain, draw, channel) for national and (chain, draw, geo, channel) for
        ``*_geo`` variables.
    """
    rpk = ds["revenue_per_kpi"].values[None, :, :, None]
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    parts = {k: [] for k in ("kpi", "revenue", "marginal")}
    for now, more in media_by_draw(posterior, ds, scaling, cfg, (1.0, 1.0 + MARGIN), batch):
        parts["kpi"].append(now.sum(axis=2))
        parts["revenue"].append((now * rpk).sum(axis=2))
        parts["marginal"].append(((more - now) * rpk).sum(axis=2))
    kpi, rev, marg = (np.concatenate(parts[k]).reshape(shape + parts[k][0].shape[1:]) for k in parts)
    spend = ds["spend"].values.sum(axis=1)                       # (geo, channel)
    gdims = (dims.CHAIN, dims.DRAW, dims.GEO, dims.CHANNEL)
    cdims = (dims.CHAIN, dims.DRAW, dims.CHANNEL)
    out = xr.Dataset(
        {
            "contribution_geo": (gdims, rev),
            "contribution": (cdims, rev.sum(axis=2)),
            "kpi_contribution": (cdims, kpi.sum(axis=2)),
            "roi_geo": (gdims, rev / spend),
            "roi": (cdims, rev.sum(axis=2) / spend.sum(axis=0)),
            "mroi_geo": (gdims, marg / (MARGIN * spend)),
            "mroi": (cdims, marg.sum(axis=2) / (MARGIN * spend.sum(axis=0))),
            "contribution_share": (cdims, rev.sum(axis=2) / float((ds["kpi"] * ds["revenue_per_kpi"]).sum())),
        },
        coords={dims.GEO: ds.coords[dims.GEO].values, dims.CHANNEL: ds.coords[dims.CHANNEL].values},
    )
    if not ds.attrs.get("kpi_is_revenue", 1):
        out["cost_per_kpi"] = (cdims, spend.sum(axis=0) / kpi.sum(axis=2))
    return out


def interval_table(metrics: xr.Dataset, names=("roi", "mroi", "contribution"), prob: float = 0.9) -> pd.DataFrame:
    """Posterior mean, median and central ``prob`` interval of national metrics, by channel."""
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    rows = []
    for name in names:
        if name not in metrics:
            continue
        v = metrics[name].stack(sample=(dims.CHAIN, dims.DRAW))
        q = v.quantile([lo, 0.5, hi], dim="sample").values
        for j, ch in enumerate(metrics.coords[dims.CHANNEL].values):
            rows.append({"metric": name, "channel": ch, "mean": float(v.isel(channel=j).mean()),
                         "median": q[1, j], f"p{lo * 100:g}": q[0, j], f"p{hi * 100:g}": q[2, j],
                         "p_gt_1": float((v.isel(channel=j) > 1).mean()) if "roi" in name else np.nan})
    return pd.DataFrame(rows)
