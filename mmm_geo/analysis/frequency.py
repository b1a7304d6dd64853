"""The optimal frequency of reach & frequency channels, per posterior draw.

With the budget fixed, a channel's impressions are fixed too, and buying them at frequency ``f``
reaches ``impressions / f`` people: the effect is ``impressions * hill(f) / f``
(``mmm_geo.model.media.frequency_response``). The optimal frequency maximises ``hill(f) / f``, the
effect per impression, over the frequencies the data saw (1 to the largest recorded), on a grid
of :data:`GRID` points: it is the same for every budget and every geo, and a draw with an S-shaped
curve in frequency (slope above 1) has its optimum inside, one with a concave curve at 1.
"""

from __future__ import annotations

from typing import Optional

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE, map_draws, summarize
from mmm_geo.config import ModelConfig
from mmm_geo.model import media as mm

GRID = 2001


def recorded(ds: xr.Dataset, channel: str) -> float:
    """A reach & frequency channel's average frequency over ``ds``: its impressions over its reach
    (1 where it reached no one)."""
    imp, f = (ds[v].sel({dims.CHANNEL: channel}).values for v in ("exposure", "frequency"))
    reach = np.where(f > 0, imp / np.where(f > 0, f, 1.0), 0.0).sum()
    return float(imp.sum() / reach) if reach > 0 else 1.0


def frequency_grid(ds: xr.Dataset, channels) -> np.ndarray:
    """:data:`GRID` frequencies from 1 to each channel's largest recorded one, (grid, channel)."""
    top = np.nanmax(ds["frequency"].transpose(..., dims.CHANNEL).values[..., list(channels)]
                    .reshape(-1, len(channels)), axis=0)
    return 1.0 + np.maximum(top - 1.0, 0.0) * np.linspace(0.0, 1.0, GRID)[:, None]


def optimal_frequency(posterior: xr.Dataset, ds: xr.Dataset, cfg: ModelConfig,
                      batch: int = 500) -> Optional[xr.DataArray]:
    """Each draw's optimal frequency, (chain, draw, channel), NaN for the channels without reach &
    frequency; None when there are none."""
    sp = mm.spec(cfg, ds.sizes[dims.CHANNEL])
    if not sp.rf_channels:
        return None
    grid = jnp.asarray(frequency_grid(ds, sp.rf_channels))
    cols = jnp.arange(len(sp.rf_channels))
    best = map_draws(lambda p: grid[jnp.argmax(mm.frequency_response(sp, p, grid), axis=0), cols],
                     posterior, cfg, batch)
    out = np.full(best.shape[:2] + (sp.n_channel,), np.nan)
    out[..., list(sp.rf_channels)] = best
    return xr.DataArray(out, dims=(*SAMPLE, dims.CHANNEL),
                        coords={**{d: posterior.coords[d].values for d in SAMPLE},
                                dims.CHANNEL: ds.coords[dims.CHANNEL].values})


def frequency_table(metrics: xr.Dataset, ds: xr.Dataset, prob: float = 0.9):
    """Per reach & frequency channel, the optimal frequency's median and central ``prob``
    interval beside the recorded average (impressions over reach); empty without such channels."""
    if "optimal_frequency" not in metrics:
        return pd.DataFrame()
    q = summarize(metrics["optimal_frequency"], prob)
    rows = []
    for ch in map(str, metrics[dims.CHANNEL].values):
        if np.isnan(float(q["median"].sel(channel=ch))):
            continue
        rows.append({"quantity": f"optimal frequency {ch} (recorded average {recorded(ds, ch):.2f})",
                     **{k: float(q[k].sel(channel=ch)) for k in ("median", "lo", "hi")}})
    return pd.DataFrame(rows)
