"""Response (saturation) curves, adstock decay curves and the spread of channel effects across geos.

- Response curve: the revenue a channel drives over the modelled window when its spend in every geo
  and week is multiplied by ``m`` (at the data's cost per exposure), per posterior draw. ``m = 1`` is
  the current spend, so the curve's value there is the channel's contribution and its slope the
  marginal ROI.
- Adstock decay: the share of a unit of exposure that acts ``lag`` weeks later (the response of the
  configured adstock to one impulse), per draw.
- Geo variation: how much a channel's ROI differs across geos, per draw.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE
from mmm_geo.analysis.roi import flat_draws, media_by_draw
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling
from mmm_geo.model.hierarchical import params_from_samples
from mmm_geo.model.transforms import ADSTOCKS

MULTIPLIERS = tuple(np.round(np.linspace(0.0, 2.0, 21), 2))


def response_curves(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    multipliers=MULTIPLIERS, batch: int = 100) -> xr.Dataset:
    """Per draw, revenue and KPI driven by each channel at ``multipliers`` times its spend.

    Returns:
        Dataset with ``revenue`` and ``kpi`` of dims (chain, draw, channel, multiplier) and the
        coordinate ``spend`` (channel, multiplier): the channel's total spend over the window at
        that multiplier. ``multiplier = 1`` is the current spend.
    """
    rpk = ds["revenue_per_kpi"].values[None, :, :, None]
    rev, kpi = [], []
    for parts in media_by_draw(posterior, ds, scaling, cfg, tuple(multipliers), batch):
        stack = np.stack(parts, axis=-1)                      # (batch, geo, time, channel, m)
        kpi.append(stack.sum(axis=(1, 2)))
        rev.append((stack * rpk[..., None]).sum(axis=(1, 2)))
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    spend = ds["spend"].values.sum(axis=(0, 1))
    dims_ = (*SAMPLE, dims.CHANNEL, "multiplier")
    return xr.Dataset(
        {"revenue": (dims_, np.concatenate(rev).reshape(shape + rev[0].shape[1:])),
         "kpi": (dims_, np.concatenate(kpi).reshape(shape + kpi[0].shape[1:]))},
        coords={**{d: posterior.coords[d].values for d in SAMPLE},
                dims.CHANNEL: ds.coords[dims.CHANNEL].values,
                "multiplier": np.asarray(multipliers, float),
                "spend": ((dims.CHANNEL, "multiplier"), spend[:, None] * np.asarray(multipliers)[None])},
    )


def adstock_decay(posterior: xr.Dataset, cfg: ModelConfig, n_channel: int) -> xr.DataArray:
    """Per draw, the share of one week's exposure that acts ``lag`` weeks later.

    Computed as the configured adstock's response to a unit impulse, so it holds for any form in
    ``ADSTOCKS``; with normalised weights the lags sum to 1.

    Returns:
        DataArray (chain, draw, channel, lag).
    """
    lags = cfg.adstock.max_lag
    impulse = jnp.zeros((lags, n_channel)).at[0].set(1.0)
    names = [v for v in ("adstock_alpha",) if v in posterior]
    flat = {k: jnp.asarray(v) for k, v in flat_draws(posterior[names]).items()} if names else {}
    n = posterior.sizes[dims.CHAIN] * posterior.sizes[dims.DRAW]
    if not flat:                      # a fixed decay: the same for every draw
        flat = {"_": jnp.zeros((n, 1))}
    p = params_from_samples(flat, cfg, n_channel, 1)
    fn = jax.vmap(lambda a: ADSTOCKS[cfg.adstock.kind](impulse, a, lags, cfg.adstock.normalize))
    out = np.asarray(fn(p["adstock_alpha"])).reshape(
        (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW], lags, n_channel))
    return xr.DataArray(out.transpose(0, 1, 3, 2), dims=(*SAMPLE, dims.CHANNEL, "lag"),
                        coords={**{d: posterior.coords[d].values for d in SAMPLE},
                                dims.CHANNEL: posterior.coords[dims.CHANNEL].values,
                                "lag": np.arange(lags)}, name="adstock_weight")


def mean_lag(decay: xr.DataArray) -> xr.DataArray:
    """Average delay in weeks between exposure and effect (lag weighted by the decay), per draw."""
    return (decay * decay["lag"]).sum("lag") / decay.sum("lag")


def geo_variation(metrics: xr.Dataset) -> xr.Dataset:
    """How much each channel's ROI differs across geos, per draw.

    Args:
        metrics: :func:`mmm_geo.analysis.roi.channel_metrics` output (needs ``roi_geo``).

    Returns:
        Dataset (chain, draw, channel): ``roi_geo_cv`` (standard deviation across geos / mean),
        ``roi_geo_min`` and ``roi_geo_max``; ``roi_geo`` itself is in ``metrics``.
    """
    roi = metrics["roi_geo"]
    return xr.Dataset({"roi_geo_cv": roi.std(dims.GEO) / roi.mean(dims.GEO),
                       "roi_geo_min": roi.min(dims.GEO), "roi_geo_max": roi.max(dims.GEO)})
