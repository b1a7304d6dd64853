"""Prior registry: a config ``Prior(dist, a, b)`` -> a NumPyro distribution.

Add a distribution by adding an entry to ``PRIORS``; configs then name it.
"""

from __future__ import annotations

from typing import Callable, Dict

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from mmm_geo.config import Prior
from mmm_geo.errors import ConfigError

PRIORS: Dict[str, Callable[[float, float], dist.Distribution]] = {
    "normal": lambda a, b: dist.Normal(a, b),
    "lognormal": lambda a, b: dist.LogNormal(a, b),
    "halfnormal": lambda a, b: dist.HalfNormal(a),
    "truncnormal": lambda a, b: dist.TruncatedNormal(a, b, low=0.0),
    "beta": lambda a, b: dist.Beta(a, b),
    "gamma": lambda a, b: dist.Gamma(a, b),
    "exponential": lambda a, b: dist.Exponential(a),
}


def check_prior(name: str, prior: Prior) -> None:
    """Fail early, with the config key, on an unknown distribution name."""
    if prior.dist != "fixed" and prior.dist not in PRIORS:
        raise ConfigError(f"model prior '{name}': unknown dist '{prior.dist}'; "
                          f"use one of {sorted(PRIORS) + ['fixed']}")


def sample(name: str, prior: Prior, shape: tuple = ()) -> jnp.ndarray:
    """Sample site ``name`` from ``prior``; ``fixed`` gives the constant ``a`` (no site)."""
    if prior.dist == "fixed":
        return jnp.full(shape, prior.a)
    return numpyro.sample(name, PRIORS[prior.dist](prior.a, prior.b))
