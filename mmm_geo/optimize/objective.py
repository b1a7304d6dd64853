"""Objectives over posterior draws: a risk functional of the per-draw outcome of a plan.

The per-draw outcome (score) of a plan is its incremental ``metric`` (revenue or KPI) over the
evaluated weeks, or for ``profit`` its ``margin * revenue - spend``. Objectives:

- ``mean`` / ``profit``: the posterior mean;
- ``mean_sd``: mean - ``risk_lambda`` * standard deviation;
- ``cvar``: the mean of the worst ``alpha`` share of draws (conditional value at risk);
- ``quantile``: the lower ``alpha`` quantile.

All are deterministic functions of the fixed draws: nothing is resampled. Divided by the budget,
the objective's gradient in budget shares is a marginal return per currency unit.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mmm_geo.model import media as mm
from mmm_geo.optimize.response import DrawTerms, values
from mmm_geo.optimize.solver import Feasible, Settings, Solution, solve


class Spec(NamedTuple):
    """What to optimise (hashable, static under jit).

    Attributes:
        decision: "channel" (x = channel shares, split by ``geo_share``) or "cell" (x = G*C shares).
        media: the run's media spec (``mmm_geo.model.media.Spec``).
        objective: mean | mean_sd | cvar | quantile | profit.
        risk_lambda: weight of the standard deviation (mean_sd).
        alpha: tail level (cvar, quantile).
        margin: profit margin on revenue (profit).
    """

    decision: str
    media: mm.Spec
    objective: str = "mean"
    risk_lambda: float = 1.0
    alpha: float = 0.1
    margin: float = 1.0


class Args(NamedTuple):
    """Traced inputs of the objective.

    Attributes:
        terms: per-draw response terms (D, ...).
        weights: user units per unit of scaled KPI, (G, E).
        geo_share: split of channel totals across geos, (G, C).
        budget: the budget (currency), ().
    """

    terms: DrawTerms
    weights: jnp.ndarray
    geo_share: jnp.ndarray
    budget: jnp.ndarray


def to_cells(x: jnp.ndarray, args: Args, decision: str) -> jnp.ndarray:
    """Budget shares (n,) -> cell totals in currency (G, C)."""
    spend = x * args.budget
    if decision == "channel":
        return args.geo_share * spend[None, :]
    return spend.reshape(args.geo_share.shape)


def scores(x: jnp.ndarray, args: Args, spec: Spec) -> jnp.ndarray:
    """Per-draw outcome of the plan ``x`` (shares), (D,)."""
    out = values(to_cells(x, args, spec.decision), args.terms, args.weights, spec.media)
    if spec.objective == "profit":
        out = spec.margin * out - args.budget * jnp.sum(x)
    return out


def risk(s: jnp.ndarray, spec: Spec) -> jnp.ndarray:
    """The risk functional of per-draw outcomes ``s`` (D,), ()."""
    if spec.objective in ("mean", "profit"):
        return jnp.mean(s)
    if spec.objective == "mean_sd":
        return jnp.mean(s) - spec.risk_lambda * jnp.std(s)
    if spec.objective == "cvar":
        k = max(1, int(round(spec.alpha * s.shape[0])))
        return jnp.mean(jnp.sort(s)[:k])
    if spec.objective == "quantile":
        return jnp.quantile(s, spec.alpha)
    raise ValueError(f"unknown objective {spec.objective!r}")


def objective(x: jnp.ndarray, args: Args, spec: Spec) -> jnp.ndarray:
    """The objective of the plan ``x`` (shares) divided by the budget, ()."""
    return risk(scores(x, args, spec), spec) / args.budget


def with_offset(settings: Settings, spec: Spec) -> Settings:
    """Settings whose residual scale ignores the spend term of the profit objective."""
    return settings._replace(offset=1.0 if spec.objective == "profit" else 0.0)


@partial(jax.jit, static_argnames=("spec", "settings"))
def solve_plan(x0: jnp.ndarray, feas: Feasible, args: Args, spec: Spec,
               settings: Settings) -> Solution:
    """Jit-compiled :func:`~mmm_geo.optimize.solver.solve` of :func:`objective`."""
    return solve(partial(objective, spec=spec), x0, feas, args, with_offset(settings, spec))


@partial(jax.jit, static_argnames=("spec", "settings"))
def solve_each_draw(x0: jnp.ndarray, feas: Feasible, args: Args, spec: Spec,
                    settings: Settings) -> Solution:
    """The optimum of each draw on its own (its expected outcome), vmapped; fields (A, ...)."""
    own = spec._replace(objective="profit" if spec.objective == "profit" else "mean")
    one = lambda t: solve(partial(objective, spec=own), x0, feas,  # noqa: E731
                          args._replace(terms=jax.tree.map(lambda a: a[None], t)),
                          with_offset(settings, spec))
    return jax.vmap(one)(args.terms)


@partial(jax.jit, static_argnames=("spec",))
def plan_scores(x: jnp.ndarray, args: Args, spec: Spec) -> jnp.ndarray:
    """Jit-compiled :func:`scores`, (D,)."""
    return scores(x, args, spec)


@partial(jax.jit, static_argnames=("spec",))
def plan_gradient(x: jnp.ndarray, args: Args, spec: Spec) -> jnp.ndarray:
    """Gradient of :func:`objective` at ``x``: the marginal return of each coordinate, (n,)."""
    return jax.grad(objective)(x, args, spec)


def as_args(terms: DrawTerms, weights: np.ndarray, geo_share: np.ndarray, budget: float,
            dtype=jnp.float32) -> Args:
    """Pack the traced inputs, cast to ``dtype``."""
    return Args(terms, jnp.asarray(weights, dtype), jnp.asarray(geo_share, dtype),
                jnp.asarray(budget, dtype))
