"""Simulated reach & frequency channels with known truth (``simulation.rf``).

Plain NumPy, written apart from ``mmm_geo.model.media``. An R&F channel's impressions are those
of the panel; each geo-week's average frequency is drawn around ``rf_frequency``,

    f[g,t] = 1 + (rf_frequency - 1) * a_g * b_t * e[g,t]     (log-normal a, b, e; 0 with no impressions)

and the channel acts through ``reach * H(f)`` with ``reach = impressions / f`` and the Hill curve
``H(f) = f**s / (f**s + K**s)`` (``rf_half_saturation`` K, ``rf_slope`` s): its exposure enters
the panel's adstock as ``x * H(f) / f`` (normalised to 1 at f = 1), with no saturation after it,
as in Meridian. The true optimal frequency maximises ``H(f) / f``: ``K (s - 1) ** (1 / s)`` for
``s > 1`` (else 1), within the frequencies drawn. Drawn from their own random stream, so the rest
of the panel is the same with or without them.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from mmm_geo.config import SimulationConfig
from mmm_geo.errors import ConfigError


def check(cfg: SimulationConfig, names: list) -> None:
    """R&F channels are paid channels of the panel, with a frequency above 1 and a positive curve."""
    paid = names[:cfg.channels - cfg.organic]
    bad = [c for c in cfg.rf if c not in paid or c == cfg.mediation.mediator]
    if bad or len(set(cfg.rf)) != len(cfg.rf) or cfg.rf_frequency <= 1 \
            or cfg.rf_half_saturation <= 0 or cfg.rf_slope <= 0:
        raise ConfigError(f"simulation.rf={list(cfg.rf)} (not paid channels of the panel: {bad}), "
                          f"rf_frequency={cfg.rf_frequency}, rf_half_saturation="
                          f"{cfg.rf_half_saturation}, rf_slope={cfg.rf_slope}\n  fix: name paid "
                          f"channels of {paid} once each, with rf_frequency > 1 and a positive curve")


def per_impression(f: np.ndarray, k: float, s: float) -> np.ndarray:
    """``H(f) / f`` normalised to 1 at ``f = 1``: the effect per impression at frequency ``f``."""
    return (f ** (s - 1) / (f ** s + k ** s)) * (1 + k ** s)


def optimal(k: float, s: float, top: float) -> float:
    """The frequency in [1, top] that maximises ``H(f) / f``."""
    return float(np.clip(k * (s - 1) ** (1 / s), 1.0, top)) if s > 1 else 1.0


def draw(cfg: SimulationConfig, x: np.ndarray, channels: list) -> Tuple[np.ndarray, Optional[np.ndarray], dict]:
    """The response exposure of the panel (R&F channels' ``x * H(f) / f``), the frequencies
    (geo, time, channel; NaN for the other channels; None without R&F) and their truth."""
    if not cfg.rf:
        return x, None, {}
    rng = np.random.default_rng([cfg.seed, 7])
    g, t, _ = x.shape
    freq = np.full(x.shape, np.nan)
    out, truth = x.copy(), {}
    for name in cfg.rf:
        j = channels.index(name)
        spread = rng.lognormal(0, 0.3, (g, 1)) * rng.lognormal(0, 0.35, (1, t)) * rng.lognormal(0, 0.25, (g, t))
        f = np.where(x[..., j] > 0, 1 + (cfg.rf_frequency - 1) * spread, 0.0)
        freq[..., j] = f
        out[..., j] = np.where(f > 0, x[..., j] * per_impression(np.maximum(f, 1.0), cfg.rf_half_saturation,
                                                                   cfg.rf_slope), 0.0)
        truth[name] = {"half_saturation": cfg.rf_half_saturation, "slope": cfg.rf_slope,
                       "optimal_frequency": optimal(cfg.rf_half_saturation, cfg.rf_slope, float(f.max()))}
    return out, freq, truth


def add_truth(truth: dict, rf: dict) -> None:
    """Put the R&F channels' truth (:func:`draw`) into a panel's truth: ``rf`` and each channel's
    national ``optimal_frequency``."""
    for ch, own in rf.items():
        truth["national"][ch]["optimal_frequency"] = own["optimal_frequency"]
    if rf:
        truth["rf"] = rf
