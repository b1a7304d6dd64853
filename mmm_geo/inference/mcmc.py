"""NUTS over the model with NumPyro: the same code on CPU and GPU.

Chains are spread over devices when there is one per chain (``chain_method='parallel'``; on CPU the
CLI exposes several host devices), otherwise vectorised on one device.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Dict, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_median

from mmm_geo.config import InferenceConfig, ModelConfig
from mmm_geo.data.scaling import ModelData
from mmm_geo.errors import ConfigError
from mmm_geo.inference import shard, warm
from mmm_geo.model.hierarchical import model

EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy",
                "adapt_state.step_size")


class FitResult(NamedTuple):
    """Posterior draws and sampler statistics, each array shaped (chain, draw, ...)."""

    samples: Dict[str, np.ndarray]
    stats: Dict[str, np.ndarray]
    compile_s: float
    sample_s: float
    chain_method: str


def chain_method(cfg: InferenceConfig) -> str:
    """The method the chains really run with: ``auto`` is parallel if each chain can have its own
    device, else vectorised; one chain is simply run (``sequential``, whatever was asked); and
    ``parallel`` with fewer devices than chains is run sequentially (as NumPyro does)."""
    allowed = ("auto", "parallel", "vectorized", "sequential")
    if cfg.chain_method not in allowed:
        raise ConfigError(f"inference.chain_method={cfg.chain_method!r}; use one of {allowed}")
    if cfg.chains == 1:
        return "sequential"
    if cfg.chain_method == "auto":
        return "parallel" if jax.local_device_count() >= cfg.chains else "vectorized"
    if cfg.chain_method == "parallel" and jax.local_device_count() < cfg.chains:
        return "sequential"
    return cfg.chain_method


def _mcmc(model_cfg: ModelConfig, cfg: InferenceConfig, warmup: int, draws: int, method: str,
          progress: bool, inverse_mass=None) -> MCMC:
    kernel = NUTS(partial(model, cfg=model_cfg), target_accept_prob=cfg.target_accept,
                  max_tree_depth=cfg.max_tree_depth, dense_mass=cfg.dense_mass,
                  init_strategy=init_to_median(num_samples=15),
                  inverse_mass_matrix=None if cfg.dense_mass else inverse_mass)
    return MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=cfg.chains,
                chain_method=method, progress_bar=progress, jit_model_args=cfg.shard == "geo")


def run_nuts(data: ModelData, model_cfg: ModelConfig, cfg: InferenceConfig,
             key: jax.Array, measure_compile: bool = False) -> FitResult:
    """Sample the posterior of ``model(data, model_cfg)`` given ``data.y``.

    Args:
        data: scaled arrays.
        model_cfg: the model structure and priors.
        cfg: sampler settings.
        key: JAX PRNG key.
        measure_compile: first run a 2-iteration fit and report its wall time as the compile time
            (benchmarks); otherwise ``compile_s`` is 0 and ``sample_s`` includes compilation.

    Returns:
        A :class:`FitResult`.
    """
    if cfg.chains < 1 or cfg.draws < 1 or cfg.warmup < 1:
        raise ConfigError("inference.chains, warmup and draws must all be >= 1")
    shard.check(cfg.shard)
    if cfg.shard == "geo":   # one program over the devices: the chains are vectorised on them
        method, args = "vectorized", (shard.shard_geos(data), model_cfg)
    else:
        method, args = chain_method(cfg), (jax.tree.map(jnp.asarray, data), model_cfg)
    compile_s = 0.0
    if measure_compile:
        t0 = time.perf_counter()
        probe = _mcmc(model_cfg, cfg, 1, 1, method, progress=False)
        probe.run(key, args[0], y=args[0].y, extra_fields=EXTRA_FIELDS)
        jax.block_until_ready(probe.get_samples())
        compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    init, inverse_mass = warm.svi_start(cfg, jax.random.fold_in(key, 1), args)
    mcmc = _mcmc(model_cfg, cfg, cfg.warmup, cfg.draws, method,
                 progress=cfg.progress_bar, inverse_mass=inverse_mass)
    mcmc.run(key, args[0], y=args[0].y, extra_fields=EXTRA_FIELDS, init_params=init)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    sample_s = time.perf_counter() - t0
    stats = mcmc.get_extra_fields(group_by_chain=True)
    return FitResult(
        samples={k: np.asarray(v) for k, v in samples.items()},
        stats={k.replace("adapt_state.", ""): np.asarray(v) for k, v in stats.items()},
        compile_s=compile_s,
        sample_s=sample_s,
        chain_method=method,
    )
