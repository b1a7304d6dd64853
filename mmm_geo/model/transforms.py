"""Media transforms as pure ``jax.numpy`` functions: adstock (carryover) and saturation.

Shapes: media is ``(..., time, channel)``; per-channel parameters are ``(channel,)`` or broadcast
against it. New forms are added to the registries ``ADSTOCKS`` and ``SATURATIONS``; the model and
the optimizer look them up by the name in the config.
"""

from __future__ import annotations

from typing import Callable, Dict

import jax.numpy as jnp


def _safe_pow(x: jnp.ndarray, p: jnp.ndarray) -> jnp.ndarray:
    """``x ** p`` for ``x >= 0`` with a finite gradient at ``x = 0``."""
    positive = x > 0
    safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.exp(p * jnp.log(safe)), 0.0)


def lag_stack(x: jnp.ndarray, max_lag: int) -> jnp.ndarray:
    """Lagged copies of ``x`` (..., time, channel) -> (lag, ..., time, channel), zeros before the start."""
    pads = [(0, 0)] * (x.ndim - 2)
    lags = [jnp.pad(x, pads + [(lag, 0), (0, 0)])[..., : x.shape[-2], :] for lag in range(max_lag)]
    return jnp.stack(lags)


def geometric_weights(alpha: jnp.ndarray, max_lag: int, normalize: bool = True) -> jnp.ndarray:
    """Weights ``alpha ** l`` for l = 0..max_lag-1, shape (lag, channel); sum to 1 if ``normalize``."""
    lags = jnp.arange(max_lag, dtype=alpha.dtype)[:, None]
    w = _safe_pow(jnp.broadcast_to(alpha, (max_lag,) + alpha.shape), lags)
    w = jnp.where(lags == 0, 1.0, w)
    return w / w.sum(axis=0) if normalize else w


def geometric_adstock(x: jnp.ndarray, alpha: jnp.ndarray, max_lag: int,
                      normalize: bool = True) -> jnp.ndarray:
    """Geometric carryover of media ``x`` (..., time, channel) with decay ``alpha`` (channel,)."""
    w = geometric_weights(alpha, max_lag, normalize)
    return jnp.einsum("l...tc,lc->...tc", lag_stack(x, max_lag), w)


def hill(x: jnp.ndarray, half_saturation: jnp.ndarray, slope: jnp.ndarray) -> jnp.ndarray:
    """Hill curve normalised to 1 at ``x = 1`` (the channel's typical exposure).

    ``x**s * (1 + K**s) / (x**s + K**s)``. Normalising at the typical level makes the media
    coefficient the effect at typical spend, which the data pins down, and leaves ``K`` only the
    curvature: this removes most of the coefficient-vs-half-saturation ridge that slows NUTS.
    As ``K`` grows the curve tends to the straight line ``x**s``.
    """
    xs = _safe_pow(x, slope)
    ks = _safe_pow(half_saturation, slope)
    return xs * (1.0 + ks) / (xs + ks)


def logistic(x: jnp.ndarray, lam: jnp.ndarray, _unused: jnp.ndarray | None = None) -> jnp.ndarray:
    """Logistic saturation ``(1 - exp(-lam x)) / (1 + exp(-lam x))`` normalised to 1 at ``x = 1``."""
    return jnp.tanh(0.5 * lam * x) / jnp.tanh(0.5 * lam)


ADSTOCKS: Dict[str, Callable[..., jnp.ndarray]] = {"geometric": geometric_adstock}
SATURATIONS: Dict[str, Callable[..., jnp.ndarray]] = {"hill": hill, "logistic": logistic}
