"""When to spend: the weekly flighting of each geo x channel total inside the horizon.

``mmm-geo optimize ... timing=true`` first optimises the totals as usual, then keeps every cell's
(geo x channel) recommended total and chooses how it is spread over the horizon's weeks. The
decision is the spend of each cell in each week, (G, H, C), with::

    sum_h spend[g, h, c] = total[g, c],   0 <= spend[g, h, c] <= week_cap * total[g, c] / H

Its value for one posterior draw is the media component's total effect (``mmm_geo.model.media``,
through :func:`~mmm_geo.optimize.response.exposure_gross`) of ``pre | spend * conversion | 0``
minus that of no horizon spend, weighted by the problem's value weights: the same response as the
totals' optimizer, for every form, so carryover into later weeks (and after the horizon with
``carryover_after``), the carry-in from the weeks before, the week's cost per exposure
(``Problem.conversion``) and its revenue per KPI all count. Time-varying media effects are held at
the data's last week (as for the totals). The historical pattern (``Problem.pattern``) at the same
totals is the comparison and the solver's start.

The constraint set is a product of one simplex-with-box per cell, so its Euclidean projection is
exact (:func:`~mmm_geo.optimize.solver.project_box_sum` per cell), and the Optax solver of the
totals (:func:`~mmm_geo.optimize.solver.solve`) runs on it unchanged.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmm_geo.optimize.objective import Spec, risk, with_offset
from mmm_geo.optimize.problem import Problem
from mmm_geo.optimize.response import DrawTerms, exposure_gross
from mmm_geo.optimize.solver import Feasible, Settings, project_box_sum, solve

BOUND_TOL = 1e-6   # spend this close to a bound (as a share of the budget) counts as at the bound


class Timing(NamedTuple):
    """The weekly flighting found, in currency, (G, H, C) arrays.

    Attributes:
        weekly: the recommended spend per geo, week and channel.
        history: the same cell totals spread by the historical pattern.
        value: per-draw incremental value of ``weekly``, (D,).
        history_value: per-draw incremental value of ``history``, (D,).
        status: solver status, iterations, residual, per-cell optimality gap, week cap.
    """

    weekly: np.ndarray
    history: np.ndarray
    value: np.ndarray
    history_value: np.ndarray
    status: dict


class _Args(NamedTuple):
    terms: DrawTerms
    weights: jnp.ndarray
    conversion: jnp.ndarray
    budget: jnp.ndarray


def week_bounds(totals: np.ndarray, weeks: int, week_cap: Optional[float]) -> np.ndarray:
    """The largest spend of each cell in any week, (G, H, C): ``week_cap`` x its average week."""
    cap = np.inf if week_cap is None else float(week_cap)
    return np.broadcast_to((totals * cap / weeks)[:, None, :], (totals.shape[0], weeks,
                                                               totals.shape[1])).copy()


def weekly_values(spend: jnp.ndarray, args: _Args, sp) -> jnp.ndarray:
    """Per-draw incremental value of weekly spend (G, H, C) in currency, (D,)."""
    exposure = spend * args.conversion
    return jax.vmap(lambda t: exposure_gross(t, exposure, args.weights, sp) - t.base)(args.terms)


def _scores(x: jnp.ndarray, args: _Args, spec: Spec) -> jnp.ndarray:
    out = weekly_values(x.reshape(args.conversion.shape) * args.budget, args, spec.media)
    if spec.objective == "profit":
        out = spec.margin * out - args.budget * jnp.sum(x)
    return out


def _objective(x: jnp.ndarray, args: _Args, spec: Spec) -> jnp.ndarray:
    return risk(_scores(x, args, spec), spec) / args.budget


def project_cells(v: jnp.ndarray, hi: jnp.ndarray, totals: jnp.ndarray) -> jnp.ndarray:
    """Exact projection of flat weekly shares ``v`` (G*H*C,) onto the cells' simplices with box:
    each cell's weeks sum to its total share (``totals``, (G, C)) and lie in [0, ``hi``]."""
    g, c = totals.shape
    cells = v.reshape(g, -1, c).transpose(0, 2, 1)                       # (G, C, H)
    caps = hi.reshape(g, -1, c).transpose(0, 2, 1)
    one = lambda x, h, t: project_box_sum(x, jnp.zeros_like(x), h, t)  # noqa: E731
    out = jax.vmap(jax.vmap(one))(cells, caps, totals)
    return out.transpose(0, 2, 1).reshape(-1)


@partial(jax.jit, static_argnames=("spec", "settings"))
def _solve(x0, hi, totals, args, spec: Spec, settings: Settings):
    proj = lambda v: project_cells(v, hi, totals)  # noqa: E731
    feas = Feasible(jnp.zeros_like(x0), hi)
    return solve(partial(_objective, spec=spec), x0, feas, args, with_offset(settings, spec),
                 proj=proj)


def cell_gap(g: np.ndarray, x: np.ndarray, hi: np.ndarray, totals: np.ndarray) -> float:
    """Largest per-cell imbalance of marginal returns across its free weeks, and gain from moving
    spend off a bound, relative to the mean absolute marginal return (0 at a KKT point). Spend
    within ``BOUND_TOL`` of the budget from a bound counts as at it, as for the totals."""
    scale = np.mean(np.abs(g)) + 1e-30
    tol = BOUND_TOL * float(totals.sum())
    worst = 0.0
    for gi in range(totals.shape[0]):
        for ci in range(totals.shape[1]):
            if totals[gi, ci] <= 0:
                continue
            gc, xc, hc = g[gi, :, ci], x[gi, :, ci], hi[gi, :, ci]
            at_lo, at_hi = xc <= tol, xc >= hc - tol
            free = ~(at_lo | at_hi)
            if free.any():
                lam = float(np.mean(gc[free]))
                gaps = [np.ptp(gc[free]), np.max(gc[at_lo] - lam, initial=0.0),
                        np.max(lam - gc[at_hi], initial=0.0)]
            else:           # every week at a bound: no week at zero may return more than a capped one
                gaps = [max(np.max(gc[at_lo], initial=-np.inf) - np.min(gc[at_hi], initial=np.inf), 0.0)]
            worst = max(worst, float(max(gaps)))
    return worst / scale


def optimize_timing(problem: Problem, terms: DrawTerms, spec: Spec, settings: Settings,
                    totals: np.ndarray, week_cap: Optional[float] = None,
                    kkt_tol: float = 0.02) -> Timing:
    """The best weekly spread of the cell totals ``totals`` (G, C) over the problem's horizon.

    Args:
        problem: the planning problem (horizon, carry-in, conversion, weights, pattern).
        terms: per-draw response terms (``mmm_geo.optimize.response.build_terms``).
        spec: the objective (its risk functional is applied to the per-draw outcome).
        settings: solver settings.
        totals: the cell totals kept, in currency (the recommendation).
        week_cap: the largest week as a multiple of a cell's average week (None: open).
        kkt_tol: the largest relative per-cell marginal-return gap the check accepts.
    """
    weeks = problem.pattern.shape[1]
    b = float(totals.sum())
    if b <= 0:
        raise ValueError("optimize_timing: the plan has no spend")
    history = totals[:, None, :] * problem.pattern
    hi = week_bounds(totals, weeks, week_cap)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    args = _Args(terms, f32(problem.weights), f32(problem.conversion), f32(b))
    x0 = np.minimum(history, hi) / b
    sol = _solve(f32(x0.ravel()), f32((hi / b).ravel()), f32(totals / b), args, spec, settings)
    x = np.asarray(project_cells(sol.x, f32((hi / b).ravel()), f32(totals / b)), np.float64)
    weekly = _exact(x.reshape(history.shape) * b, hi, totals)
    grad = np.asarray(jax.grad(_objective)(f32(weekly.ravel() / b), args, spec), float)
    gap = cell_gap(grad.reshape(history.shape), weekly, hi, totals)
    value = np.asarray(weekly_values(f32(weekly), args, spec.media), float)
    history_value = np.asarray(weekly_values(f32(history), args, spec.media), float)
    status = {"status": ("converged" if bool(sol.converged) else "stalled" if bool(sol.stalled)
                         else "max_iter"),
              "iterations": int(sol.iterations), "residual": float(sol.residual),
              "kkt_gap": gap, "kkt_ok": gap <= kkt_tol, "kkt_tol": kkt_tol, "week_cap": week_cap,
              "smooth": spec.objective not in ("quantile", "cvar")}
    return Timing(weekly, history, value, history_value, status)


def _exact(weekly: np.ndarray, hi: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """``weekly`` in float64 within [0, hi], each cell summing to its total exactly: the float32
    rounding is spread over the cell's weeks strictly inside their bounds."""
    out = np.clip(weekly, 0.0, hi)
    gap = totals - out.sum(1)                                            # (G, C)
    free = (out > 0) & (out < hi)
    n = free.sum(1)
    out = out + np.where(free, (gap / np.maximum(n, 1))[:, None, :], 0.0)
    return np.clip(out, 0.0, hi)
