"""Posterior draws: the one map over draws, deterministic thinning and interval summaries.

Every summary runs over the sample dims ``(chain, draw)`` and keeps every other dim, so a
per-draw ``DataArray`` ``(chain, draw, geo, channel)`` summarises to ``(geo, channel)``.
"""

from __future__ import annotations

import warnings
from typing import Callable, Dict, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import ModelConfig
from mmm_geo.model.hierarchical import params_from_samples

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


def take(posterior: XR, ids: np.ndarray) -> XR:
    """The draws ``ids`` (flat chain x draw indices, as ``flat_draws`` lays them out) as one chain,
    in that order."""
    flat = posterior.stack(sample_=(dims.CHAIN, dims.DRAW)).isel(sample_=np.asarray(ids))
    flat = flat.drop_vars(["sample_", dims.CHAIN, dims.DRAW]).rename(sample_=dims.DRAW)
    return flat.expand_dims(dims.CHAIN).transpose(dims.CHAIN, dims.DRAW, ...)


def bounds(prob: float) -> tuple[float, float]:
    """Lower and upper quantile of a central ``prob`` interval."""
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must be in (0, 1), got {prob}")
    return (1 - prob) / 2, 1 - (1 - prob) / 2


def summarize(values: xr.DataArray, prob: float = 0.9) -> xr.Dataset:
    """Posterior mean, median and central ``prob`` interval (``lo``, ``hi``) over (chain, draw)."""
    lo, hi = bounds(prob)
    with warnings.catch_warnings():   # a channel with no ROI (organic) is all NaN: NaN, quietly
        warnings.filterwarnings("ignore", "All-NaN slice|Mean of empty slice", RuntimeWarning)
        q = values.quantile([lo, 0.5, hi], dim=SAMPLE)
        mean = values.mean(SAMPLE)
    out = xr.Dataset({"mean": mean, "median": q.isel(quantile=1, drop=True),
                      "lo": q.isel(quantile=0, drop=True), "hi": q.isel(quantile=2, drop=True)})
    out.attrs["prob"] = prob
    return out


def prob_above(values: xr.DataArray, threshold: float) -> xr.DataArray:
    """Posterior probability that ``values`` exceeds ``threshold``, dims other than (chain, draw)."""
    return (values > threshold).mean(SAMPLE)


def n_samples(values: XR) -> int:
    """Number of posterior samples (chains x draws)."""
    return int(values.sizes[dims.CHAIN] * values.sizes[dims.DRAW])


DERIVED = ("roi", "mroi", "contribution", "kpi_contribution", "cost_per_kpi")


def sites(posterior: xr.Dataset) -> list:
    """Names of the model's sites in a posterior (not the derived ROI / contribution metrics)."""
    return [str(v) for v in posterior.data_vars
            if not any(v == d or str(v).startswith(d + "_") for d in DERIVED)]


def flat_draws(posterior: xr.Dataset) -> Dict[str, np.ndarray]:
    """Posterior variables as arrays with one leading (chain x draw) axis."""
    out = {}
    for name, var in posterior.data_vars.items():
        v = var.transpose(dims.CHAIN, dims.DRAW, ...).values
        out[name] = v.reshape((-1,) + v.shape[2:])
    return out


def draw_params(posterior: xr.Dataset, cfg: ModelConfig,
                ids: Optional[np.ndarray] = None) -> Dict[str, jnp.ndarray]:
    """The model's parameters of the draws ``ids`` (flat chain x draw indices; None: all), with a
    leading draw axis, fixed priors filled in (``params_from_samples``)."""
    flat = flat_draws(posterior[sites(posterior)])
    return _params({k: v if ids is None else v[ids] for k, v in flat.items()}, cfg)


def _params(flat: Dict[str, np.ndarray], cfg: ModelConfig) -> Dict[str, jnp.ndarray]:
    n_geo, n_channel = flat["media_log_effect_geo"].shape[1:]
    return params_from_samples({k: jnp.asarray(v) for k, v in flat.items()}, cfg, n_channel, n_geo)


def map_draws(fn: Callable, posterior: xr.Dataset, cfg: ModelConfig, batch: int = 500):
    """``fn(params)`` of every posterior draw, jit-compiled and vmapped over batches of draws, as
    a pytree of NumPy arrays laid out (chain, draw, ...). The one loop over draws."""
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    flat = flat_draws(posterior[sites(posterior)])
    jitted = jax.jit(jax.vmap(fn))
    outs = [jax.tree.map(np.asarray, jitted(_params({k: v[s:s + batch] for k, v in flat.items()}, cfg)))
            for s in range(0, shape[0] * shape[1], batch)]
    return jax.tree.map(lambda *xs: np.concatenate(xs).reshape(shape + xs[0].shape[1:]), *outs)
