"""Contribution decomposition over time: baseline, trend, seasonality, each control, each channel,
each synergy pair (``model.synergy``) and each non-media treatment (``data.treatments``).

The parts come from :func:`mmm_geo.model.hierarchical.components` (the one definition of the model
mean), evaluated per posterior draw and converted to the user's KPI units. They are additive: per
draw, geo and period their sum is the model mean of the KPI (``expected``), so on average over
draws it is the posterior mean prediction. With a multiplicative baseline, ``trend`` and
``seasonality`` are the baseline times the trend and seasonal terms (their own additive share).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE, map_draws, sites  # noqa: F401 (sites: re-exported)
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import ModelData, Scaling, excluded, model_data, window_end
from mmm_geo.model.hierarchical import components, time_bases

PARTS = ("baseline", "trend", "seasonality")
GROUPED = {"controls": dims.CONTROL, "media": dims.CHANNEL, "synergy": dims.PAIR,   # part: its dim
           "treatments": dims.TREATMENT}
SYNERGY = "synergy "      # label prefix of a synergy pair's component (by_component)


def inputs(ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
           train: Optional[np.ndarray] = None) -> ModelData:
    """The model's arrays for the whole window; the trend is fitted on the ``train`` periods
    (bool (time,), default all) and held flat after them, as in the fit."""
    n_time = ds.sizes[dims.TIME]
    n_train = n_time if train is None else window_end(train, excluded(ds))
    return model_data(ds, scaling, np.float32, time_bases(n_time, cfg, n_train), n_train)


def decomposition(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                  train: Optional[np.ndarray] = None, batch: int = 250) -> xr.Dataset:
    """Per draw, the additive parts of the mean KPI in the user's units.

    ``train`` is the fit's training mask (``mmm_geo.analysis.accuracy.train_mask(idata)``); the
    periods after it are forecasts.

    Returns:
        Dataset with ``baseline``, ``trend``, ``seasonality`` and ``expected`` (their sum with
        the controls and media) of dims (chain, draw, geo, time); ``controls`` (chain, draw, geo,
        time, control); ``media`` (chain, draw, geo, time, channel); with synergy pairs,
        ``synergy`` (chain, draw, geo, time, synergy_pair).
    """
    arrays = jax.tree.map(jnp.asarray, inputs(ds, scaling, cfg, train))
    unit = jnp.asarray(scaling.kpi_scale * ds["population"].values[:, None])          # (geo, 1)

    def per_draw(p):
        out = components(p, arrays, cfg)
        return {k: out[k] * (unit[..., None] if k in GROUPED else unit) for k in (*PARTS, *GROUPED)
                if k in out}

    full = map_draws(per_draw, posterior, cfg, batch)
    gt = (*SAMPLE, dims.GEO, dims.TIME)
    coords = {**{d: ds.coords[d].values for d in (dims.GEO, dims.TIME, dims.CHANNEL, dims.CONTROL)},
              **{d: posterior.coords[d].values for d in SAMPLE}}
    if dims.PAIR in posterior.coords:
        coords[dims.PAIR] = posterior.coords[dims.PAIR].values
    if dims.TREATMENT in ds.coords:
        coords[dims.TREATMENT] = ds.coords[dims.TREATMENT].values
    out = xr.Dataset({**{k: (gt, full[k]) for k in PARTS},
                      **{k: ((*gt, d), full[k]) for k, d in GROUPED.items() if d in coords}},
                     coords=coords)
    out["expected"] = total(out)
    return out


def total(parts: xr.Dataset) -> xr.DataArray:
    """Sum of all parts, (..., geo, time): the model mean of the KPI."""
    return (sum(parts[k] for k in PARTS)
            + sum(parts[k].sum(d) for k, d in GROUPED.items() if k in parts))


def by_component(parts: xr.Dataset) -> xr.DataArray:
    """The parts stacked along a ``component`` dim: baseline, trend, seasonality, each control,
    each channel, in that order; other dims kept."""
    pieces = [parts[k].expand_dims(component=[k]) for k in PARTS]
    for name, kind in GROUPED.items():
        if name in parts:
            da = parts[name].rename({kind: "component"}).drop_vars("component")
            label = SYNERGY if name == "synergy" else ""
            pieces.append(da.assign_coords(component=[label + str(c) for c in parts[name][kind].values]))
    order = ("component", *parts["baseline"].dims)
    return xr.concat([p.drop_vars(list(GROUPED.values()), errors="ignore").transpose(*order)
                      for p in pieces], dim="component")


def national(parts: xr.Dataset) -> xr.Dataset:
    """The parts summed over geos, dims (..., time)."""
    return parts.sum(dims.GEO)


def window_share(parts: xr.Dataset) -> xr.DataArray:
    """Each component's share of the modelled KPI over the window, per draw (chain, draw,
    component), nationally."""
    comp = by_component(parts).sum((dims.GEO, dims.TIME))
    return comp / parts["expected"].sum((dims.GEO, dims.TIME))
