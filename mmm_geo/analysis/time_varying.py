"""The time-varying media multipliers of a fit (``model.time_varying``), per channel and period."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE, bounds
from mmm_geo.model.time_varying import SITE


def multiplier_table(posterior: xr.Dataset, channels, prob: float = 0.9,
                     truth: Optional[dict] = None) -> pd.DataFrame:
    """Per time-varying channel and period: the effect multiplier ``exp(f(t))`` (geometric mean 1
    over the training periods), its median and central ``prob`` interval, and on simulated panels
    the true multiplier and whether the interval covers it. Empty without time-varying channels."""
    if SITE not in posterior:
        return pd.DataFrame()
    lo, hi = bounds(prob)
    mult = np.exp(posterior[SITE].sel({dims.CHANNEL: list(channels)}))
    q = mult.quantile([lo, 0.5, hi], dim=SAMPLE)
    rows = []
    for ch in channels:
        v = q.sel({dims.CHANNEL: ch}).transpose("quantile", dims.TIME).values
        frame = pd.DataFrame({"channel": ch, "time": mult[dims.TIME].values, "median": v[1],
                              "lo": v[0], "hi": v[2]})
        if truth and ch in truth.get("time_varying", {}):
            frame["true"] = np.asarray(truth["time_varying"][ch])[: len(frame)]
            frame["covered"] = (frame["lo"] <= frame["true"]) & (frame["true"] <= frame["hi"])
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)
