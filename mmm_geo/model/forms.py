"""Media forms as pure ``jax.numpy`` functions: carryover (adstock) weights and saturation curves.

Every adstock form is a set of lag weights ``(lag, channel)`` over a fixed window, so carryover is
linear in exposure whatever the form (the optimizer's fast path relies on it, and
``mmm_geo.model.media`` applies them with one convolution). Every saturation curve is 0 at 0 and
normalised to 1 at ``x = 1``, the channel's typical exposure, so the media coefficient is the effect
at typical exposure and the shape parameters only bend the curve.

A form is one function plus one :class:`Form` entry (its parameter names and default priors) in
``ADSTOCKS`` or ``SATURATIONS``; configs name it by its ``kind``. Parameters are ``(channel,)``.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple

import jax.numpy as jnp

from mmm_geo.config import Prior

ATANH_HALF = 0.5493061443340549   # atanh(0.5): tanh(c x) is half its maximum at x = atanh(0.5) / c


class Form(NamedTuple):
    """A media form: ``fn`` and its parameters' default priors, in ``fn``'s argument order."""

    fn: Callable[..., jnp.ndarray]
    priors: Dict[str, Prior]


def safe_pow(x: jnp.ndarray, p: jnp.ndarray) -> jnp.ndarray:
    """``x ** p`` for ``x >= 0`` with a finite gradient at ``x = 0``."""
    positive = x > 0
    safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.exp(p * jnp.log(safe)), 0.0)


def _lags(max_lag: int, like: jnp.ndarray) -> jnp.ndarray:
    return jnp.arange(max_lag, dtype=like.dtype)[:, None]


def geometric(max_lag: int, alpha: jnp.ndarray) -> jnp.ndarray:
    """``alpha ** l``: a share ``alpha`` of the effect carries into each next period."""
    lags = _lags(max_lag, alpha)
    w = safe_pow(jnp.broadcast_to(alpha, (max_lag,) + alpha.shape), lags)
    return jnp.where(lags == 0, 1.0, w)


def delayed(max_lag: int, alpha: jnp.ndarray, peak: jnp.ndarray) -> jnp.ndarray:
    """``alpha ** ((l - peak) ** 2)``: the effect peaks ``peak`` periods after exposure."""
    lags = _lags(max_lag, alpha)
    return safe_pow(jnp.broadcast_to(alpha, (max_lag,) + alpha.shape), (lags - peak) ** 2)


def weibull_cdf(max_lag: int, shape: jnp.ndarray, scale: jnp.ndarray) -> jnp.ndarray:
    """Weibull survival ``exp(-(l / scale) ** shape)``: decay whose rate changes over time
    (``shape`` < 1 fast then slow, > 1 slow then fast); ``scale`` in periods."""
    lags = _lags(max_lag, shape)
    return jnp.exp(-safe_pow(lags / scale, shape))


def weibull_pdf(max_lag: int, shape: jnp.ndarray, scale: jnp.ndarray) -> jnp.ndarray:
    """Weibull density at ``l + 1`` (``shape`` > 1 gives a delayed peak), divided by its largest
    weight so the weights are at most 1."""
    z = (_lags(max_lag, shape) + 1.0) / scale
    w = safe_pow(z, shape - 1.0) * jnp.exp(-safe_pow(z, shape))
    return w / jnp.max(w, axis=0)


def gamma(max_lag: int, mean_lag: jnp.ndarray, shape: jnp.ndarray) -> jnp.ndarray:
    """The Gamma density of mean ``mean_lag`` and shape ``shape`` at the middle of each period,
    ``l + 1/2``, divided by its largest weight. ``shape`` 1 is geometric decay (``alpha =
    exp(-1 / mean_lag)``), below 1 a fast decay with a long tail, above 1 a delayed peak. Mean and
    shape are orthogonal parameters of the Gamma family (their Fisher information is diagonal), so
    the data's mean lag does not trade off against the shape as Weibull's scale and shape do."""
    rate = shape / mean_lag
    z = _lags(max_lag, shape) + 0.5
    log_w = (shape - 1.0) * jnp.log(z) - rate * z
    return jnp.exp(log_w - jnp.max(log_w, axis=0))


def binomial(max_lag: int, alpha: jnp.ndarray) -> jnp.ndarray:
    """``(1 - l / max_lag) ** (1 / alpha - 1)``: carryover that ends at the window's edge, flat as
    ``alpha`` -> 1 and immediate as ``alpha`` -> 0."""
    lags = _lags(max_lag, alpha)
    return safe_pow(1.0 - lags / max_lag, 1.0 / alpha - 1.0)


def hill(x: jnp.ndarray, half_saturation: jnp.ndarray, slope: jnp.ndarray) -> jnp.ndarray:
    """Hill curve ``x**s * (1 + K**s) / (x**s + K**s)``; ``s`` > 1 is S-shaped, large ``K`` nearly
    the power curve ``x**s``."""
    xs = safe_pow(x, slope)
    ks = safe_pow(half_saturation, slope)
    return xs * (1.0 + ks) / (xs + ks)


def hill_threshold(x: jnp.ndarray, half_saturation: jnp.ndarray, slope: jnp.ndarray,
                   threshold: jnp.ndarray) -> jnp.ndarray:
    """The Hill curve of ``max(x - t, 0) / (1 - t)``: no effect below the exposure ``t`` (< 1, a
    share of typical exposure), still 1 at ``x = 1``; ``t = 0`` is :func:`hill`."""
    return hill(jnp.maximum(x - threshold, 0.0) / (1.0 - threshold), half_saturation, slope)


def michaelis_menten(x: jnp.ndarray, half_saturation: jnp.ndarray) -> jnp.ndarray:
    """``x (1 + K) / (x + K)``: concave from the first unit, half its maximum at ``K``."""
    return x * (1.0 + half_saturation) / (x + half_saturation)


def logistic(x: jnp.ndarray, lam: jnp.ndarray) -> jnp.ndarray:
    """``(1 - exp(-lam x)) / (1 + exp(-lam x))`` normalised: ``tanh(lam x / 2) / tanh(lam / 2)``."""
    return jnp.tanh(0.5 * lam * x) / jnp.tanh(0.5 * lam)


def tanh(x: jnp.ndarray, half_saturation: jnp.ndarray) -> jnp.ndarray:
    """``tanh(c x) / tanh(c)`` with ``c = atanh(1/2) / K``: the logistic family parameterised by
    the exposure ``K`` at which the curve reaches half its maximum."""
    c = ATANH_HALF / half_saturation
    return jnp.tanh(c * x) / jnp.tanh(c)


def linear(x: jnp.ndarray) -> jnp.ndarray:
    """No saturation (reach & frequency channels saturate in frequency instead)."""
    return x


DECAY = Prior("beta", 2.0, 3.0)
HALF = Prior("lognormal", 0.0, 0.7)
SLOPE = Prior("lognormal", 0.2, 0.5)
ADSTOCKS: Dict[str, Form] = {
    "geometric": Form(geometric, {"alpha": DECAY}),
    "delayed": Form(delayed, {"alpha": DECAY, "peak": Prior("halfnormal", 2.0, 0.0)}),
    "weibull_cdf": Form(weibull_cdf, {"shape": Prior("lognormal", 0.0, 0.5),
                                      "scale": Prior("lognormal", 0.7, 0.7)}),
    "weibull_pdf": Form(weibull_pdf, {"shape": Prior("lognormal", 0.5, 0.5),
                                      "scale": Prior("lognormal", 0.7, 0.7)}),
    "gamma": Form(gamma, {"mean_lag": Prior("lognormal", 0.4, 0.7),
                          "shape": Prior("lognormal", 0.5, 1.0)}),
    "binomial": Form(binomial, {"alpha": DECAY}),
}
SATURATIONS: Dict[str, Form] = {
    "hill": Form(hill, {"half_saturation": HALF, "slope": SLOPE}),
    "hill_threshold": Form(hill_threshold, {"half_saturation": HALF, "slope": SLOPE,
                                            "threshold": Prior("beta", 1.0, 5.0)}),
    "michaelis_menten": Form(michaelis_menten, {"half_saturation": HALF}),
    "logistic": Form(logistic, {"lam": Prior("lognormal", 0.0, 1.0)}),
    "tanh": Form(tanh, {"half_saturation": HALF}),
    "linear": Form(linear, {}),
}
