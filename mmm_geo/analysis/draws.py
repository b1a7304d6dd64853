"""Posterior draws: deterministic thinning and interval summaries, dims kept.

Every summary runs over the sample dims ``(chain, draw)`` and keeps every other dim, so a
per-draw ``DataArray`` ``(chain, draw, geo, channel)`` summarises to ``(geo, channel)``.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import xarray as xr

from mmm_geo import dims

SAMPLE = (dims.CHAIN, dims.DRAW)
XR = Union[xr.DataArray, xr.Dataset]


def thin(posterior: XR, max_draws: int | None) -> XR:
    """Keep at most ``max_draws`` draws in all (evenly spaced within every chain; deterministic)."""
    if not max_draws:
        return posterior
    n_chain, n_draw = posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW]
    keep = max(1, max_draws // n_chain)
    if keep >= n_draw:
        return posterior
    idx = np.unique(np.linspace(0, n_draw - 1, keep).round().astype(int))
    return posterior.isel({dims.DRAW: idx})


def bounds(prob: float) -> tuple[float, float]:
    """Lower and upper quantile of a central ``prob`` interval."""
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must be in (0, 1), got {prob}")
    return (1 - prob) / 2, 1 - (1 - prob) / 2


def summarize(values: xr.DataArray, prob: float = 0.9) -> xr.Dataset:
    """Posterior mean, median and central ``prob`` interval (``lo``, ``hi``) over (chain, draw)."""
    lo, hi = bounds(prob)
    q = values.quantile([lo, 0.5, hi], dim=SAMPLE)
    out = xr.Dataset({"mean": values.mean(SAMPLE), "median": q.isel(quantile=1, drop=True),
                      "lo": q.isel(quantile=0, drop=True), "hi": q.isel(quantile=2, drop=True)})
    out.attrs["prob"] = prob
    return out


def prob_above(values: xr.DataArray, threshold: float) -> xr.DataArray:
    """Posterior probability that ``values`` exceeds ``threshold``, dims other than (chain, draw)."""
    return (values > threshold).mean(SAMPLE)


def n_samples(values: XR) -> int:
    """Number of posterior samples (chains x draws)."""
    return int(values.sizes[dims.CHAIN] * values.sizes[dims.DRAW])
