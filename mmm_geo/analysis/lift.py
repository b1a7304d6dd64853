"""Agreement of the fitted model with lift tests (``mmm_geo.data.lift``), in the KPI's units.

For every lift test the model's posterior lift (``mmm_geo.model.media.lift``, the
same function the likelihood uses) is set against the measured lift. A test *agrees* when the
measured lift lies within the central 90 % of ``model lift + measurement noise`` (normal
approximation, standard deviation ``sqrt(posterior sd^2 + se^2)``). Tests the fit did not use
(measured in held-out periods) are an out-of-sample check of the media effects.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import bounds, map_draws
from mmm_geo.config import ModelConfig
from mmm_geo.data.lift import lift_kpi_units
from mmm_geo.data.scaling import Scaling, model_data
from mmm_geo.model import media as mm

Z90 = 1.6448536269514722


def lift_draws(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
               batch: int = 500) -> np.ndarray:
    """The model's lift of every test per posterior draw, (chain x draw, lift_test), KPI units."""
    data = model_data(ds, scaling)
    tests, media = jax.tree.map(jnp.asarray, data.lift), jnp.asarray(data.media)
    sp = mm.spec(cfg, media.shape[-1])
    freq = None if data.frequency is None else jnp.asarray(data.frequency)
    out = map_draws(lambda p: mm.lift(sp, mm.with_frequency(p, freq), media, tests), posterior, cfg, batch)
    return out.reshape(-1, out.shape[-1]) * lift_kpi_units(ds, scaling.kpi_scale)


def lift_agreement(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                   train: np.ndarray, prob: float = 0.9) -> Optional[pd.DataFrame]:
    """One row per lift test: where and when, measured lift and SE, the model's posterior median
    and ``prob`` interval, whether the fit used it and whether they agree (module docstring).
    None when the data have no lift tests."""
    if "lift_channel" not in ds:
        return None
    draws = lift_draws(posterior, ds, scaling, cfg)
    lo, hi = np.quantile(draws, bounds(prob), axis=0)
    window = ds["lift_window"].values > 0
    geos, times = ds[dims.GEO].values, pd.DatetimeIndex(ds[dims.TIME].values)
    measured, se = ds["lift_measured"].values, ds["lift_se"].values
    rows = []
    for i, chan in enumerate(ds["lift_channel"].values):
        in_geo, in_time = window[i].any(1), np.flatnonzero(window[i].any(0))
        rows.append({
            "test": i + 1, "channel": str(ds[dims.CHANNEL].values[chan]),
            "geo": "all" if in_geo.all() else "|".join(map(str, geos[in_geo])),
            "start": times[in_time[0]].date().isoformat(), "end": times[in_time[-1]].date().isoformat(),
            "measured": measured[i], "se": se[i], "model_median": float(np.median(draws[:, i])),
            "model_lo": lo[i], "model_hi": hi[i],
            "used_in_fit": bool(np.asarray(train)[in_time].all()),
            "agrees": bool(abs(measured[i] - draws[:, i].mean())
                           <= Z90 * np.hypot(draws[:, i].std(), se[i])),
        })
    return pd.DataFrame(rows)
