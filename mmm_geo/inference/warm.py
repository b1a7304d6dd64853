"""Warm starts for NUTS: a short variational fit gives each chain its starting point and the
sampler its first mass matrix (``inference.init=svi``).

The approximation is a mean-field normal over NUTS's own unconstrained coordinates (the
model's reparameterised sites included), fitted to the model's potential by maximising the ELBO
with Adam for ``inference.svi_steps`` steps (written over the flat vector rather than with
NumPyro's autoguides, which reject the model's geo plate at two plate dims). Each chain starts
from its own draw of it, so the chains stay dispersed over the approximate posterior and R-hat
keeps its meaning; its variances are the initial (diagonal) inverse mass matrix, which windowed
adaptation then refines. Mean-field fits understate posterior variances: they only start the
sampler, which still adapts and samples the true posterior.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_median
from numpyro.infer.util import initialize_model

from mmm_geo.config import InferenceConfig
from mmm_geo.errors import ConfigError
from mmm_geo.model.hierarchical import model

INITS = ("median", "svi")
PARTICLES = 4      # draws per ELBO gradient
Start = Tuple[Optional[Dict[str, jnp.ndarray]], Optional[Dict[tuple, jnp.ndarray]]]


def check(cfg: InferenceConfig) -> None:
    if cfg.init not in INITS:
        raise ConfigError(f"inference.init={cfg.init!r} is unknown; use one of {list(INITS)}")
    if cfg.init == "svi" and (cfg.svi_steps < 1 or cfg.svi_lr <= 0):
        raise ConfigError(f"inference.svi_steps={cfg.svi_steps}, svi_lr={cfg.svi_lr}: give at "
                          "least 1 step and a positive rate")


def mean_field(potential, z0: jnp.ndarray, steps: int, lr: float, key: jax.Array):
    """(loc, scale) of the normal ``q`` that maximises ``E_q[-potential] + H(q)`` over flat
    unconstrained vectors, from ``z0`` with Adam (reparameterised gradients, the rate decaying
    to 5 % so that the last iterate is not left noisy)."""
    def loss(params, k):
        loc, log_scale = params
        z = loc + jnp.exp(log_scale) * jax.random.normal(k, (PARTICLES,) + loc.shape)
        return jnp.mean(jax.vmap(potential)(z)) - log_scale.sum()

    opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))   # ends near the optimum
    params = (z0, jnp.full_like(z0, jnp.log(0.1)))

    def step(carry, k):
        params, state = carry
        grad = jax.grad(loss)(params, k)
        updates, state = opt.update(grad, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
    return params[0], jnp.exp(params[1])


def svi_start(cfg: InferenceConfig, key: jax.Array, args: tuple) -> Start:
    """Per-chain unconstrained starting points (leading axis: chain) and the diagonal inverse
    mass matrix (one block per site), from ``cfg.svi_steps`` Adam steps on the ELBO; (None, None)
    unless ``cfg.init == 'svi'``. ``args``: the model's arguments (data, model config)."""
    check(cfg)
    if cfg.init != "svi":
        return None, None
    key_init, key_fit, key_draw = jax.random.split(key, 3)
    info = initialize_model(key_init, model, model_args=args, model_kwargs={"y": args[0].y},
                            init_strategy=init_to_median(num_samples=15))
    flat, unravel = ravel_pytree(info.param_info.z)
    loc, scale = mean_field(lambda z: info.potential_fn(unravel(z)), flat, cfg.svi_steps,
                            cfg.svi_lr, key_fit)
    starts = loc + scale * jax.random.normal(key_draw, (cfg.chains,) + loc.shape)
    init = jax.vmap(unravel)(starts) if cfg.chains > 1 else unravel(starts[0])
    inverse_mass = {(site,): jnp.ravel(v) for site, v in unravel(scale ** 2).items()}
    return init, inverse_mass
