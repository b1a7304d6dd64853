"""The deterministic response of a spend plan for one posterior draw, vmapped over draws.

For one draw, the incremental value of cell totals ``X`` (G, C) spread over the horizon by the
flighting pattern is the media component's total effect (``mmm_geo.model.media.total``) of the
spliced exposure sequence ``pre | X * unit_exposure | 0`` minus that of ``pre | 0 | 0``, weighted
by ``w[g, e]`` (user units per unit of scaled KPI) over the evaluated weeks. That general path holds
for every form and order.

The fast path, for separable media that adstock before they saturate: adstock is linear, so::

    value(X) = sum_{g,e,c} w[g,e] * effect[g,c] * (sat(carry + X[g,c] * unit) - sat(carry))[g,e,c]

with ``carry`` the adstocked exposure of the spend before the horizon and ``unit`` the adstocked
exposure of one currency unit of the cell's horizon total, both computed once per draw with the
media component's own carryover. The plan then enters only through the saturation. A contract test
checks the two paths agree for every adstock x saturation form. Nothing is sampled.
"""

from __future__ import annotations

from functools import partial
from typing import Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from mmm_geo.analysis.draws import draw_params as posterior_params
from mmm_geo.analysis.draws import n_samples
from mmm_geo.config import ModelConfig
from mmm_geo.errors import RunError
from mmm_geo.model import media as mm
from mmm_geo.model import time_varying as tv
from mmm_geo.optimize.problem import Problem

# Added to adstocked exposure so the saturation's gradient at zero spend is its limit, not 0
# (``safe_pow`` has a zero gradient at exactly 0). It cancels in the incremental value.
FLOOR = 1e-12


class DrawTerms(NamedTuple):
    """Per-draw pieces of the response; a leading draw axis (D) when batched.

    Attributes:
        carry: adstocked exposure of the carried-in spend over the evaluated weeks, (G, E, C).
        unit: adstocked exposure per currency unit of each cell's horizon total, (G, E, C).
        params: the draw's media parameters (``mmm_geo.model.media``).
        pre: scaled exposure before the horizon, (G, L-1, C) (general path).
        unit_exposure: scaled exposure per currency unit of a cell total, (G, H, C) (general path).
        base: value of the carry-in alone in the problem's units (subtracted), ().
    """

    carry: jnp.ndarray
    unit: jnp.ndarray
    params: Dict[str, jnp.ndarray]
    pre: jnp.ndarray
    unit_exposure: jnp.ndarray
    base: jnp.ndarray


def fast(sp: mm.Spec) -> bool:
    """Whether the fast path applies: separable media, adstock before saturation."""
    return sp.separable and sp.order == "adstock_first"


def pick(total: int, n_draws: Optional[int] = None, seed: int = 0) -> np.ndarray:
    """Flat indices of all ``total`` draws, or of a seeded subsample of ``n_draws``, sorted."""
    if n_draws is None or n_draws >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n_draws, replace=False))


def media_params(posterior: xr.Dataset, model: ModelConfig,
                 ids: np.ndarray) -> Dict[str, np.ndarray]:
    """The media parameters of the draws ``ids`` (flat chain x draw indices), (D, ...)."""
    if "media_log_effect_geo" not in posterior.data_vars:
        raise RunError("the trace has no media_log_effect_geo draws\n  fix: re-run the fit with "
                       "this version of mmm_geo")
    params = posterior_params(posterior, model, ids)
    sp = mm.spec(model, posterior.sizes["channel"])
    out = {k: np.asarray(params[k]) for k in mm.param_names(sp)}
    if tv.SITE in out:     # time-varying effects: held at the data's last period over any horizon
        out["media_log_effect_geo"] = out["media_log_effect_geo"] + out.pop(tv.SITE)[:, -1:, :]
    return out


def draw_params(posterior: xr.Dataset, model: ModelConfig, n_draws: Optional[int] = None,
                seed: int = 0) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """The media parameters of all posterior draws, or a seeded subsample of ``n_draws``.

    Returns:
        Parameters with a leading draw axis (D, ...) and the flat (chain x draw) indices used, (D,).
    """
    ids = pick(n_samples(posterior), n_draws, seed)
    return media_params(posterior, model, ids), ids


def _sequence(pre: jnp.ndarray, horizon: jnp.ndarray, tail: int) -> jnp.ndarray:
    zeros = jnp.zeros((pre.shape[0], tail, pre.shape[2]), pre.dtype)
    return jnp.concatenate([pre, horizon, zeros], 1)


def _fast_gross(t: DrawTerms, cells: jnp.ndarray, weights: jnp.ndarray, sp: mm.Spec) -> jnp.ndarray:
    """sum_{g,e,c} w * effect * sat(carry + cells * unit): the gross media value, ()."""
    a = t.carry + cells[:, None, :] * t.unit + FLOOR
    effect = jnp.exp(t.params["media_log_effect_geo"])
    return jnp.einsum("ge,gc,gec->", weights, effect, mm.saturate(sp, t.params, a))


def exposure_gross(t: DrawTerms, exposure: jnp.ndarray, weights: jnp.ndarray,
                   sp: mm.Spec) -> jnp.ndarray:
    """sum_{g,e} w * total media effect over the evaluated weeks of the spliced sequence
    ``pre | exposure | 0``, for any horizon exposure (G, H, C) (scaled), ()."""
    n_pre, tail = t.pre.shape[1], weights.shape[1] - exposure.shape[1]
    seq = _sequence(t.pre, exposure, tail)
    return jnp.einsum("ge,ge->", weights, mm.total(sp, t.params, seq)[:, n_pre:])


def _general_gross(t: DrawTerms, cells: jnp.ndarray, weights: jnp.ndarray,
                   sp: mm.Spec) -> jnp.ndarray:
    """The gross value of cell totals spread by the flighting, through :func:`exposure_gross`."""
    return exposure_gross(t, cells[:, None, :] * t.unit_exposure, weights, sp)


def gross(t: DrawTerms, cells: jnp.ndarray, weights: jnp.ndarray, sp: mm.Spec) -> jnp.ndarray:
    """The gross media value of cell totals for one draw, by the fast path where it applies."""
    return (_fast_gross if fast(sp) else _general_gross)(t, cells, weights, sp)


def draw_terms(params: Dict[str, jnp.ndarray], pre: jnp.ndarray, unit_exposure: jnp.ndarray,
               weights: jnp.ndarray, tail: int, sp: mm.Spec) -> DrawTerms:
    """The :class:`DrawTerms` of one draw.

    Args:
        params: one draw's media parameters, unbatched.
        pre: scaled exposure before the horizon, (G, L-1, C).
        unit_exposure: scaled exposure per currency unit of a cell total, (G, H, C).
        weights: user units per unit of scaled KPI, (G, E).
        tail: evaluated weeks after the horizon.
        sp: the run's media spec.
    """
    n_pre = pre.shape[1]
    cut = lambda x: mm.carry(sp, params, mm.reach_frequency(sp, params, x))[:, n_pre:, :]  # noqa: E731
    carry = cut(_sequence(pre, jnp.zeros_like(unit_exposure), tail))
    unit = cut(_sequence(jnp.zeros_like(pre), unit_exposure, tail))
    t = DrawTerms(carry, unit, params, pre, unit_exposure, jnp.zeros(()))
    return t._replace(base=gross(t, jnp.zeros((pre.shape[0], pre.shape[2]), unit.dtype), weights, sp))


def build_terms(params: Dict[str, np.ndarray], problem: Problem, model: ModelConfig,
                dtype=jnp.float32) -> DrawTerms:
    """:func:`draw_terms` for every draw, jit-compiled and vmapped; arrays (D, ...)."""
    sp = mm.spec(model, problem.pre.shape[2])
    fn = jax.jit(jax.vmap(partial(draw_terms, tail=problem.tail, sp=sp),
                          in_axes=(0, None, None, None)))
    cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    if problem.frequency is not None:    # the plan's frequency, the same for every draw
        n = len(next(iter(params.values())))
        params = {**params, mm.FREQUENCY: np.broadcast_to(problem.frequency, (n, len(problem.frequency)))}
    return fn({k: cast(v) for k, v in params.items()}, cast(problem.pre),
              cast(problem.unit_exposure), cast(problem.weights))


def draw_value(cells: jnp.ndarray, t: DrawTerms, weights: jnp.ndarray, sp: mm.Spec) -> jnp.ndarray:
    """Incremental value of cell totals (G, C) for ONE draw, in the problem's units, ()."""
    return gross(t, cells, weights, sp) - t.base


def values(cells: jnp.ndarray, terms: DrawTerms, weights: jnp.ndarray, sp: mm.Spec) -> jnp.ndarray:
    """:func:`draw_value` for every draw, (D,) (``cells`` shared by all draws)."""
    return jax.vmap(lambda t: draw_value(cells, t, weights, sp))(terms)


def cell_gradients(cells: jnp.ndarray, terms: DrawTerms, weights: jnp.ndarray,
                   sp: mm.Spec) -> jnp.ndarray:
    """Marginal value of one more currency unit in each cell, per draw, (D, G, C)."""
    return jax.vmap(lambda t: jax.grad(draw_value)(cells, t, weights, sp))(terms)


def take(terms: DrawTerms, ids: np.ndarray) -> DrawTerms:
    """The draws ``ids`` of batched terms."""
    return jax.tree.map(lambda x: x[jnp.asarray(ids)], terms)
