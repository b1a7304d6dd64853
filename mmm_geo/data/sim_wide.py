"""The simulator's wide family of channels, and the class labels of a panel's channels.

``family=wide`` draws every channel's forms and parameters from a family wider than the model
assumes (its own random stream, ``default_rng([seed, 2])``):

- sizes: typical weekly spend in geometric steps from 1 to ``spend_ratio`` (x30) across the
  channels, in random order;
- flighting: a channel is seasonal (its national spend follows the KPI's seasonal cycle, peaking
  when the baseline peaks) or runs a yearly cycle a quarter out of phase with it; always-on
  (no dark week) or paused in ``dark_min`` .. ``dark_max`` of the weeks;
- carryover: adstock forms drawn from ``adstocks`` (geometric, delayed, weibull), long (decay
  0.6-0.85, peak 2-4 weeks, Weibull scale 3.5-6) or short;
- saturation: forms drawn from ``saturations`` (hill, exponential, hill_offset), Hill slopes
  spread over 0.7-2.5 (one per stratum of that range);
- size of the effect: true ROI 0.3-0.9 for weak channels, 1.2-4 for the others.

Each of weak, always-on, seasonal and long carryover is drawn for a channel with probability
``class_share``, at least one channel per panel each. The labels (:func:`channel_classes`) are
measured on the panel itself, not taken from the draw.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple

import numpy as np

from mmm_geo.data.sim_forms import Media, mean_lag

CLASSES = ("small", "weak", "always_on", "long_carryover", "seasonal_flighting")
SMALL_SHARE = 0.10      # small: at most this share of all spend
LONG_LAG = 2.0          # long carryover: mean lag of at least this many weeks ...
LONG_DECAY = 0.6        # ... or a geometric decay of at least this
SEASONAL_CORR = 0.5     # seasonal flighting: |corr(national spend, seasonal cycle)| at least this
YEAR = 52.18


class Wide(NamedTuple):
    """One wide-family draw: spend level (C,: the mean $ per capita per week, exactly), national
    flighting (T, C) and paused weeks (T, C) before the geo split, the forms (C names each) and
    the parameters ((C,) arrays)."""

    level: np.ndarray
    national: np.ndarray
    dark: np.ndarray
    adstock: List[str]
    saturation: List[str]
    params: Dict[str, np.ndarray]


def draw_wide(cfg, season: np.ndarray) -> Wide:
    """The wide family's channels of ``cfg`` (a SimulationConfig), with the KPI's seasonal
    cycle ``season`` (T,)."""
    rng = np.random.default_rng([cfg.seed, 2])
    c, t = cfg.channels, len(season)
    designed = rng.uniform(size=(4, c)) < cfg.class_share
    for row in designed:
        if not row.any():
            row[rng.integers(c)] = True
    weak, always_on, seasonal, long = designed

    def u(lo, hi):
        return rng.uniform(lo, hi, size=c)

    steps = cfg.spend_ratio ** (rng.permutation(c) / max(c - 1, 1))
    level = 0.5 * c * steps / steps.sum()                        # mean 0.5 $ per capita per week
    weeks = np.arange(t)[:, None]
    phase = np.where(u(0, 1) < 0.5, 0.5, 1.5) * np.pi + u(-0.3, 0.3)
    cycle = np.where(seasonal, 1 + u(0.6, 0.95) * (season / np.abs(season).max())[:, None],
                     1 + 0.4 * np.sin(2 * np.pi * weeks / YEAR + phase))
    national = cycle * rng.lognormal(0, 0.25, size=(t, c))
    dark = rng.uniform(size=(t, c)) < np.where(always_on, 0.0, u(cfg.dark_min, cfg.dark_max))
    adstock = [str(k) for k in rng.choice(list(cfg.adstocks), size=c)]
    saturation = [str(k) for k in rng.choice(list(cfg.saturations), size=c)]
    params = {
        "alpha": np.where(long, u(0.6, 0.85), u(0.1, 0.5)),
        "peak": np.where(long, u(2.0, 4.0), u(0.5, 1.5)),
        "shape": np.where(long, u(1.5, 3.0), u(0.7, 1.5)),
        "scale": np.where(long, u(3.5, 6.0), u(0.8, 2.0)),
        "half_saturation": u(0.5, 2.0),
        "slope": 0.7 + 1.8 * (rng.permutation(c) + u(0, 1)) / c,
        "offset": u(0.1, 0.4),
        "exp_scale": u(0.5, 2.0),
        "lam": u(0.8, 2.5),
        "roi_target": np.where(weak, u(0.3, 0.9), u(1.2, 4.0)),
    }
    return Wide(level, national, dark, adstock, saturation, params)


def channel_classes(spend: np.ndarray, season: np.ndarray, media: Media, roi: np.ndarray,
                    channels: List[str]) -> Dict[str, dict]:
    """Per channel: its measured descriptors and class labels (see :data:`CLASSES`).

    Args:
        spend: spend (geo, time, channel).
        season: the KPI's seasonal cycle (time,).
        media: the true media forms.
        roi: the true national ROI (channel,).
        channels: the channel names.
    """
    share = spend.sum(axis=(0, 1)) / spend.sum()
    national = spend.sum(axis=0)
    lag = mean_lag(media.weights)
    out = {}
    for j, name in enumerate(channels):
        corr = float(np.corrcoef(national[:, j], season)[0, 1])
        decay = media.params["alpha"][j] if media.adstock[j] == "geometric" else 0.0
        flags = {"small": share[j] <= SMALL_SHARE, "weak": roi[j] < 1,
                 "always_on": bool((national[:, j] > 0).all()),
                 "long_carryover": lag[j] >= LONG_LAG or decay >= LONG_DECAY,
                 "seasonal_flighting": abs(corr) >= SEASONAL_CORR}
        out[name] = {"spend_share": float(share[j]), "dark_share": float((national[:, j] <= 0).mean()),
                     "seasonal_corr": corr, "mean_lag": float(lag[j]),
                     "classes": [k for k in CLASSES if flags[k]]}
    return out
