"""The deterministic response of a spend plan for one posterior draw, vmapped over draws.

For one draw, the incremental value of cell totals ``X`` (G, C) spread over the horizon by the
flighting pattern is::

    value(X) = sum_{g,e,c} w[g,e] * effect[g,c] * (sat(carry + X[g,c] * unit) - sat(carry))[g,e,c]

where ``carry`` is the adstocked exposure of the spend before the horizon and ``unit`` the adstocked
exposure of one currency unit of the cell's horizon total. Adstock is linear, so both are computed
once per draw with the model's own transforms (``mmm_geo.model.transforms`` via the registries) and
the plan enters only through the saturation: this is the model's ``media_response`` of the spliced
spend sequence, exactly, at a fraction of its cost. Nothing is sampled: the draws are fixed.
"""

from __future__ import annotations

from functools import partial
from typing import Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo.analysis.roi import flat_draws
from mmm_geo.config import ModelConfig
from mmm_geo.errors import RunError
from mmm_geo.model.hierarchical import SATURATION_PARAMS, params_from_samples
from mmm_geo.model.transforms import ADSTOCKS, SATURATIONS
from mmm_geo.optimize.problem import Problem

# Added to adstocked exposure so the saturation's gradient at zero spend is its limit, not 0
# (``_safe_pow`` has a zero gradient at exactly 0). It cancels in the incremental value.
FLOOR = 1e-12


class DrawTerms(NamedTuple):
    """Per-draw pieces of the response; a leading draw axis (D) when batched.

    Attributes:
        carry: adstocked exposure of the carried-in spend over the evaluated weeks, (G, E, C).
        unit: adstocked exposure per currency unit of each cell's horizon total, (G, E, C).
        effect: media effect per geo and channel (scaled KPI at typical exposure), (G, C).
        sat_args: saturation parameters, each (C,).
        base: value of the carry-in alone in the problem's units (subtracted), ().
    """

    carry: jnp.ndarray
    unit: jnp.ndarray
    effect: jnp.ndarray
    sat_args: Tuple[jnp.ndarray, ...]
    base: jnp.ndarray


def media_sites(model: ModelConfig) -> Tuple[str, ...]:
    """Posterior variables the response needs."""
    return ("adstock_alpha", "media_log_effect_geo", *SATURATION_PARAMS[model.saturation.kind])


def draw_params(posterior: xr.Dataset, model: ModelConfig, n_draws: Optional[int] = None,
                seed: int = 0) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """The media parameters of all posterior draws, or a seeded subsample of ``n_draws``.

    Args:
        posterior: the run's posterior group (chain, draw, ...).
        model: the run's model config.
        n_draws: how many draws (None or more than there are: all).
        seed: seed of the subsample.

    Returns:
        Parameters with a leading draw axis (D, ...) and the flat (chain x draw) indices used, (D,).
    """
    names = [n for n in media_sites(model) if n in posterior.data_vars]
    if "media_log_effect_geo" not in names:
        raise RunError("the trace has no media_log_effect_geo draws\n  fix: re-run the fit with "
                       "this version of mmm_geo")
    flat = flat_draws(posterior[names])
    total = next(iter(flat.values())).shape[0]
    if n_draws is None or n_draws >= total:
        ids = np.arange(total)
    else:
        ids = np.sort(np.random.default_rng(seed).choice(total, size=n_draws, replace=False))
    n_geo, n_ch = flat["media_log_effect_geo"].shape[1:]
    params = params_from_samples({k: v[ids] for k, v in flat.items()}, model, n_ch, n_geo)
    return {k: np.asarray(params[k]) for k in media_sites(model)}, ids


def _adstocked(x: jnp.ndarray, alpha: jnp.ndarray, n_pre: int, model: ModelConfig) -> jnp.ndarray:
    """Adstock of the spliced sequence (G, L-1+E, C), cut to the evaluated weeks (G, E, C)."""
    out = ADSTOCKS[model.adstock.kind](x, alpha, model.adstock.max_lag, model.adstock.normalize)
    return out[:, n_pre:, :]


def _saturated(t: DrawTerms, cells: jnp.ndarray, weights: jnp.ndarray, kind: str) -> jnp.ndarray:
    """sum_{g,e,c} w * effect * sat(carry + cells * unit): the gross media value, ()."""
    a = t.carry + cells[:, None, :] * t.unit + FLOOR
    sat = SATURATIONS[kind](a, *t.sat_args)
    return jnp.einsum("ge,gc,gec->", weights, t.effect, sat)


def draw_terms(params: Dict[str, jnp.ndarray], pre: jnp.ndarray, unit_exposure: jnp.ndarray,
               weights: jnp.ndarray, tail: int, model: ModelConfig) -> DrawTerms:
    """The :class:`DrawTerms` of one draw.

    Args:
        params: one draw's media parameters (``media_sites``), unbatched.
        pre: scaled exposure before the horizon, (G, L-1, C).
        unit_exposure: scaled exposure per currency unit of a cell total, (G, H, C).
        weights: user units per unit of scaled KPI, (G, E).
        tail: evaluated weeks after the horizon.
        model: the run's model config.
    """
    n_geo, n_pre, n_ch = pre.shape
    zeros = lambda n: jnp.zeros((n_geo, n, n_ch), unit_exposure.dtype)  # noqa: E731
    horizon = unit_exposure.shape[1]
    alpha = params["adstock_alpha"]
    carry = _adstocked(jnp.concatenate([pre, zeros(horizon + tail)], 1), alpha, n_pre, model)
    unit = _adstocked(jnp.concatenate([zeros(n_pre), unit_exposure, zeros(tail)], 1), alpha, n_pre,
                      model)
    sat_args = tuple(params[name] for name in SATURATION_PARAMS[model.saturation.kind])
    t = DrawTerms(carry, unit, jnp.exp(params["media_log_effect_geo"]), sat_args, jnp.zeros(()))
    base = _saturated(t, jnp.zeros((n_geo, n_ch), unit.dtype), weights, model.saturation.kind)
    return t._replace(base=base)


def build_terms(params: Dict[str, np.ndarray], problem: Problem, model: ModelConfig,
                dtype=jnp.float32) -> DrawTerms:
    """:func:`draw_terms` for every draw, jit-compiled and vmapped; arrays (D, ...)."""
    fn = jax.jit(jax.vmap(partial(draw_terms, tail=problem.tail, model=model),
                          in_axes=(0, None, None, None)))
    cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    return fn({k: cast(v) for k, v in params.items()}, cast(problem.pre),
              cast(problem.unit_exposure), cast(problem.weights))


def draw_value(cells: jnp.ndarray, t: DrawTerms, weights: jnp.ndarray, kind: str) -> jnp.ndarray:
    """Incremental value of cell totals (G, C) for ONE draw, in the problem's units, ()."""
    return _saturated(t, cells, weights, kind) - t.base


def values(cells: jnp.ndarray, terms: DrawTerms, weights: jnp.ndarray, kind: str) -> jnp.ndarray:
    """:func:`draw_value` for every draw, (D,) (``cells`` shared by all draws)."""
    return jax.vmap(draw_value, in_axes=(None, 0, None, None))(cells, terms, weights, kind)


def cell_gradients(cells: jnp.ndarray, terms: DrawTerms, weights: jnp.ndarray,
                   kind: str) -> jnp.ndarray:
    """Marginal value of one more currency unit in each cell, per draw, (D, G, C)."""
    grad = jax.grad(draw_value)
    return jax.vmap(grad, in_axes=(None, 0, None, None))(cells, terms, weights, kind)


def take(terms: DrawTerms, ids: np.ndarray) -> DrawTerms:
    """The draws ``ids`` of batched terms."""
    return jax.tree.map(lambda x: x[jnp.asarray(ids)], terms)
