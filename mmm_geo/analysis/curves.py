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

import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE, map_draws
from mmm_geo.analysis.roi import channel_effects
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling
from mmm_geo.model import media as mm

MULTIPLIERS = tuple(np.round(np.linspace(0.0, 2.0, 21), 2))


def response_curves(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    multipliers=MULTIPLIERS, batch: int = 100) -> xr.Dataset:
    """Per draw, revenue and KPI driven by each channel at ``multipliers`` times its spend (the
    total media effect at that spend minus that at none, other channels as recorded).

    Returns:
        Dataset with ``revenue`` and ``kpi`` of dims (chain, draw, channel, multiplier) and the
        coordinate ``spend`` (channel, multiplier): the channel's total spend over the window at
        that multiplier. ``multiplier = 1`` is the current spend.
    """
    eff = channel_effects(posterior, ds, scaling, cfg, (0.0, *multipliers), batch)
    curve = {k: np.moveaxis((v[:, :, :1] - v[:, :, 1:]).sum(axis=3), 2, -1) for k, v in eff.items()}
    spend = ds["spend"].values.sum(axis=(0, 1))
    dims_ = (*SAMPLE, dims.CHANNEL, "multiplier")
    return xr.Dataset(
        {"revenue": (dims_, curve["revenue"]), "kpi": (dims_, curve["kpi"])},
        coords={**{d: posterior.coords[d].values for d in SAMPLE},
                dims.CHANNEL: ds.coords[dims.CHANNEL].values,
                "multiplier": np.asarray(multipliers, float),
                "spend": ((dims.CHANNEL, "multiplier"), spend[:, None] * np.asarray(multipliers)[None])},
    )


def adstock_decay(posterior: xr.Dataset, cfg: ModelConfig, n_channel: int) -> xr.DataArray:
    """Per draw, the share of one week's exposure that acts ``lag`` weeks later: the carryover's
    response to a unit impulse (``mmm_geo.model.media.carry``), so it holds for every form; with
    normalised weights the lags sum to 1.

    Returns:
        DataArray (chain, draw, channel, lag).
    """
    sp = mm.spec(cfg, n_channel)
    impulse = jnp.zeros((sp.max_lag, n_channel)).at[0].set(1.0)
    out = map_draws(lambda p: mm.carry(sp, p, impulse), posterior, cfg)
    return xr.DataArray(out.transpose(0, 1, 3, 2), dims=(*SAMPLE, dims.CHANNEL, "lag"),
                        coords={**{d: posterior.coords[d].values for d in SAMPLE},
                                dims.CHANNEL: posterior.coords[dims.CHANNEL].values,
                                "lag": np.arange(sp.max_lag)}, name="adstock_weight")


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
