"""Time-varying media effects: a channel's effect times ``exp(f_c(t))``, ``f`` a Gaussian process.

``model.time_varying.channels`` names the channels. Each gets ``f_c ~ GP(0, k)`` with a squared-
exponential kernel of amplitude ``a_c ~ model.time_varying.amplitude`` and length scale
``model.time_varying.lengthscale`` periods, in the Hilbert-space approximation (HSGP) with
``basis`` Laplacian eigenfunctions on ``[-L, L]``, ``L = 1.5`` x half the data's length::

    f_c(t) = sum_j sqrt(S(sqrt(lambda_j))) * phi_j(t) * z_jc,   z_jc ~ Normal(0, 1)

plus a linear part ``b_c * s(t)``, ``s`` rising from -1/2 at the first training period to 1/2 at
the last and ``b_c ~ model.time_varying.trend`` (the log change over the training window; normal(0,
0.5); ``fixed`` 0 leaves it out): a steady drift is then not left to a kernel that reverts to the
mean within a length scale (session 5: with the kernel alone the fitted multiplier of a halving
effect reverted towards 1 at the end of the panel). ``f_c`` is then centred over the training periods, so the multiplier has geometric mean 1 there:
the channel's ROI prior and geo effects keep their meaning, and ``exp(f_c(t))`` says how much more
or less effective the channel was in period ``t`` than on average. Beyond the data the optimizer
holds each multiplier at its last training period's value.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from mmm_geo import dims
from mmm_geo.model import priors

SITE = "media_time_effect"          # log multiplier (time, channel); 0 for constant channels


def basis(n_time: int, n_basis: int, lengthscale: float) -> np.ndarray:
    """HSGP eigenfunctions times the square-root spectral density of a unit-amplitude squared-
    exponential kernel, (time, basis)."""
    t = np.arange(n_time, dtype=float) - (n_time - 1) / 2.0
    half = 1.5 * max((n_time - 1) / 2.0, 1.0)
    j = np.arange(1, n_basis + 1, dtype=float)
    sqrt_lambda = np.pi * j / (2 * half)
    phi = np.sin(sqrt_lambda[None, :] * (t[:, None] + half)) / np.sqrt(half)
    spectral = np.sqrt(2 * np.pi) * lengthscale * np.exp(-0.5 * (lengthscale * sqrt_lambda) ** 2)
    return phi * np.sqrt(spectral)[None, :]


def ramp(train: jnp.ndarray) -> jnp.ndarray:
    """``s(t)``: -1/2 at the first training period (``train`` > 0), 1/2 at the last, linear in
    between and beyond, (time,)."""
    t = jnp.arange(train.shape[0], dtype=train.dtype)
    first = jnp.argmax(train > 0)
    last = train.shape[0] - 1 - jnp.argmax(train[::-1] > 0)
    return (t - first) / jnp.maximum(last - first, 1) - 0.5


def sample(sp, n_time: int, train: jnp.ndarray) -> jnp.ndarray:
    """Sample the log multipliers (inside the model) and record them as :data:`SITE`, (time,
    channel); ``train`` weights the periods they are centred over, (time,)."""
    chans = sp.tv_channels
    phi = jnp.asarray(basis(n_time, sp.tv_basis, sp.tv_lengthscale))
    dim = dims.CHANNEL if len(chans) == sp.n_channel else "time_varying_channel"
    prior = sp.tv_amplitude
    with numpyro.plate(dim, len(chans), dim=-1):
        amp = numpyro.sample("media_time_amplitude", priors.PRIORS[prior.dist](prior.a, prior.b))
        with numpyro.plate("time_basis", sp.tv_basis, dim=-2):
            z = numpyro.sample("media_time_z", dist.Normal(0.0, 1.0))
        trend = priors.sample("media_time_trend", sp.tv_trend, (len(chans),))
    f = (phi @ z) * amp + trend * ramp(train)[:, None]                # (time, tv channels)
    w = train / train.sum()
    f = f - (w[:, None] * f).sum(0, keepdims=True)
    full = jnp.zeros((n_time, sp.n_channel), f.dtype).at[:, jnp.asarray(chans)].set(f)
    with numpyro.plate(dims.CHANNEL, sp.n_channel, dim=-1), numpyro.plate(dims.TIME, n_time, dim=-2):
        return numpyro.deterministic(SITE, full)
