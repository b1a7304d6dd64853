"""The simulator's media forms in plain NumPy: lag weights (adstock) and saturation curves.

Written independently of ``mmm_geo.model`` (its own formulas, unnormalised curves), so the truth
of a simulated panel cannot inherit a bug of the model. Exposure ``x`` is per capita in units of
the channel's mean non-zero level (1 = a typical week of that channel).

Adstock: per channel, lag weights ``w_0 .. w_{L-1}`` normalised to sum to 1, and
``a[t] = sum_l w_l x[t - l]``:

- ``geometric`` (alpha): ``w_l ~ alpha^l``;
- ``delayed`` (alpha, peak): ``w_l ~ alpha^((l - peak)^2)``, a bell peaking at lag ``peak``;
- ``weibull`` (shape, scale): ``w_l ~`` the Weibull density at ``l + 1`` (shape < 1 decays from
  lag 0, shape > 1 peaks later);
- ``weibull_cdf`` (shape, scale): ``w_l ~ exp(-(l / scale)^shape)``, the Weibull survival;
- ``gamma`` (mean_lag, shape): ``w_l ~`` the Gamma density of that mean and shape at ``l + 1/2``;
- ``binomial`` (alpha): ``w_l ~ (1 - l / L)^(1 / alpha - 1)`` over the window of L lags.

Saturation of the adstocked exposure ``a``:

- ``hill`` (half_saturation K, slope s): ``a^s / (a^s + K^s)``;
- ``hill_offset`` (K, s, offset a0): the Hill curve of ``max(a - a0, 0)``, nothing below a0;
- ``michaelis_menten`` (K): ``a / (a + K)``;
- ``logistic`` (lam): ``(1 - exp(-lam a)) / (1 + exp(-lam a))``;
- ``tanh`` (K): ``tanh(a / K)``;
- ``exponential`` (exp_scale k): ``1 - exp(-a / k)``.
- ``linear``: ``a`` (reach & frequency channels, which saturate in frequency: ``sim_rf``).
"""

from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from mmm_geo.config import SimulationConfig
from mmm_geo.errors import ConfigError

ADSTOCKS: Dict[str, tuple] = {"geometric": ("alpha",), "delayed": ("alpha", "peak"),
                              "weibull": ("shape", "scale"), "weibull_cdf": ("shape", "scale"),
                              "gamma": ("mean_lag", "shape"), "binomial": ("alpha",)}
SATURATIONS: Dict[str, tuple] = {
    "hill": ("half_saturation", "slope"), "hill_offset": ("half_saturation", "slope", "offset"),
    "michaelis_menten": ("half_saturation",), "logistic": ("lam",), "tanh": ("half_saturation",),
    "exponential": ("exp_scale",), "linear": ()}


class Media(NamedTuple):
    """Everything the true media response needs, per channel (C) and geo (G).

    Attributes:
        adstock, saturation: the form of each channel, lists of C names.
        params: parameter name -> (C,) array (a form reads only its own parameters).
        weights: normalised lag weights, (L, C).
        beta_geo: the effect scale of each geo x channel (revenue per capita), (G, C).
        synergy: interacting pairs ``(i, j, kappa)``: each adds
            ``kappa * sqrt(beta_geo_i * beta_geo_j) * s_i * s_j`` (``s``: saturated carryover).
        time_mult: each week's multiplier of each channel's effect (time-varying effects); weeks
            beyond it keep its last row.
    """

    adstock: List[str]
    saturation: List[str]
    params: Dict[str, np.ndarray]
    weights: np.ndarray
    beta_geo: np.ndarray
    synergy: Tuple[Tuple[int, int, float], ...] = ()
    time_mult: Optional[np.ndarray] = None      # (T, C) effect multiplier per week (None: 1)


def check_forms(adstocks: Sequence[str], saturations: Sequence[str]) -> None:
    """ConfigError naming an unknown form."""
    for kind, known, what in [(a, ADSTOCKS, "adstock") for a in adstocks] + \
                              [(s, SATURATIONS, "saturation") for s in saturations]:
        if kind not in known:
            raise ConfigError(f"simulation: {what} {kind!r} is unknown; use one of "
                             f"{', '.join(known)}")


def _by_kind(kinds: Sequence[str], fn: Callable, shape: tuple) -> np.ndarray:
    """``fn(kind, idx)`` for each distinct kind, put together along the last (channel) axis.
    When one kind covers every channel, ``idx`` is ``slice(None)`` and the arrays are used whole."""
    if len(set(kinds)) == 1:
        return fn(kinds[0], slice(None))
    out = np.empty(shape)
    names = np.asarray(kinds)
    for kind in dict.fromkeys(kinds):
        idx = np.flatnonzero(names == kind)
        out[..., idx] = fn(kind, idx)
    return out


def _raw_lags(kind: str, p: Dict[str, np.ndarray], lags: np.ndarray) -> np.ndarray:
    if kind == "geometric":
        return p["alpha"] ** lags
    if kind == "delayed":
        return p["alpha"] ** ((lags - p["peak"]) ** 2)
    if kind == "weibull_cdf":
        return np.exp(-(lags / p["scale"]) ** p["shape"])
    if kind == "binomial":
        return (1.0 - lags / len(lags)) ** (1.0 / p["alpha"] - 1.0)
    if kind == "gamma":
        mid = lags + 0.5
        return mid ** (p["shape"] - 1.0) * np.exp(-p["shape"] * mid / p["mean_lag"])
    y = (lags + 1.0) / p["scale"]
    return y ** (p["shape"] - 1.0) * np.exp(-y ** p["shape"])


def lag_weights(kinds: Sequence[str], params: Dict[str, np.ndarray], max_lag: int) -> np.ndarray:
    """Normalised lag weights (max_lag, C) of channels with adstock forms ``kinds``."""
    lags = np.arange(max_lag)[:, None]
    w = _by_kind(kinds, lambda k, i: _raw_lags(k, {n: params[n][i] for n in ADSTOCKS[k]}, lags),
                 (max_lag, len(kinds)))
    return w / w.sum(axis=0)


def mean_lag(weights: np.ndarray) -> np.ndarray:
    """Mean lag in periods of each channel's weights (L, C)."""
    return (np.arange(weights.shape[0])[:, None] * weights).sum(axis=0)


def adstock(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Carried-over exposure over axis -2 of (geo, time, channel); the panel starts from zero."""
    out = np.zeros_like(x)
    for lag in range(weights.shape[0]):
        out[:, lag:, :] += weights[lag] * x[:, : x.shape[1] - lag, :]
    return out


def _curve(kind: str, a: np.ndarray, p: Dict[str, np.ndarray]) -> np.ndarray:
    if kind == "hill":
        return a ** p["slope"] / (a ** p["slope"] + p["half_saturation"] ** p["slope"])
    if kind == "hill_offset":
        return _curve("hill", np.maximum(a - p["offset"], 0.0), p)
    if kind == "michaelis_menten":
        return a / (a + p["half_saturation"])
    if kind == "logistic":
        return (1 - np.exp(-p["lam"] * a)) / (1 + np.exp(-p["lam"] * a))
    if kind == "tanh":
        return np.tanh(a / p["half_saturation"])
    if kind == "linear":
        return a
    return 1.0 - np.exp(-a / p["exp_scale"])


def saturate(a: np.ndarray, kinds: Sequence[str], params: Dict[str, np.ndarray]) -> np.ndarray:
    """Saturation curves of adstocked exposure ``a`` (..., C), channel by channel."""
    return _by_kind(kinds, lambda k, i: _curve(k, a[..., i], {n: params[n][i] for n in SATURATIONS[k]}),
                    a.shape)


def _scale(media: Media, n_time: int) -> np.ndarray:
    """Each geo and channel's effect scale per week, (geo, 1 or time, channel)."""
    if media.time_mult is None:
        return media.beta_geo[:, None, :]
    m = np.asarray(media.time_mult)
    m = np.concatenate([m, np.repeat(m[-1:], max(n_time - len(m), 0), axis=0)])[:n_time]
    return media.beta_geo[:, None, :] * m[None]


def _saturated(x: np.ndarray, media: Media) -> np.ndarray:
    return saturate(adstock(x, media.weights), media.saturation, media.params)


def media_effect(x: np.ndarray, media: Media) -> np.ndarray:
    """True media effect per capita (geo, time, channel) of scaled exposure ``x`` (same shape),
    each channel's own (without synergy)."""
    return _scale(media, x.shape[1]) * _saturated(x, media)


def synergy_effect(x: np.ndarray, media: Media, sat: Optional[np.ndarray] = None) -> np.ndarray:
    """True synergy effect per capita (geo, time, pair) of scaled exposure ``x`` (``sat``: its
    saturated carryover, when already computed)."""
    sat = _saturated(x, media) if sat is None else sat
    b = _scale(media, x.shape[1])
    out = [k * np.sqrt(b[..., i] * b[..., j]) * sat[..., i] * sat[..., j] for i, j, k in media.synergy]
    return np.stack(out, axis=-1) if out else np.zeros(x.shape[:-1] + (0,))


def total_effect(x: np.ndarray, media: Media) -> np.ndarray:
    """True whole media effect per capita (geo, time): every channel's own plus every synergy."""
    sat = _saturated(x, media)
    return (_scale(media, x.shape[1]) * sat).sum(-1) + synergy_effect(x, media, sat).sum(-1)


def channel_params(media: Media, j: int) -> dict:
    """Channel ``j``'s forms and their own parameters, as plain numbers."""
    own = lambda names: {n: float(media.params[n][j]) for n in names}  # noqa: E731
    a, s = media.adstock[j], media.saturation[j]
    return {"adstock": a, "adstock_params": own(ADSTOCKS[a]), "saturation": s,
            "saturation_params": own(SATURATIONS[s]),
            "lag_weights": media.weights[:, j].tolist(), "mean_lag": float(mean_lag(media.weights)[j])}


def used_params(media: Media) -> List[str]:
    """The parameter names some channel's forms read."""
    names = [n for k in media.adstock for n in ADSTOCKS[k]] + \
            [n for k in media.saturation for n in SATURATIONS[k]]
    return list(dict.fromkeys(names))


def time_multiplier(cfg: SimulationConfig, channels) -> Optional[np.ndarray]:
    """Weekly effect multipliers (time, channel): ``simulation.time_varying`` channels change
    log-linearly by the factor ``tv_change`` from the first week to the last (geometric mean 1)."""
    if not cfg.time_varying:
        return None
    log_m = np.log(cfg.tv_change) * (np.arange(cfg.weeks) / max(cfg.weeks - 1, 1) - 0.5)
    out = np.ones((cfg.weeks, cfg.channels))
    for ch in cfg.time_varying:
        out[:, channels.index(ch)] = np.exp(log_m)
    return out
