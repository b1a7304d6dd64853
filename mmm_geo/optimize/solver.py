"""Projected Optax solver over budget shares, with the budget and every bound kept exact.

The decision ``x`` is the plan in shares of the budget (n,). The feasible set is::

    lo <= x <= hi,  sum(x) = 1  (or <= 1 with a budget cap),  group_lo <= M x <= group_hi

for families of disjoint groups ``M`` (the channel and geo totals of channel x geo cells).

- Box + budget: exact Euclidean projection ``clip(v - tau, lo, hi)``, with ``tau`` found in closed
  form: the sum is piecewise linear in ``tau`` with kinks at ``v - lo`` and ``v - hi``; evaluate it
  at every kink and interpolate linearly inside the bracketing pair. No iteration, no tolerance.
- With group families, Dykstra's alternating projections, the box + budget set last, so the budget
  and the per-cell bounds always hold exactly and group bounds up to Dykstra's convergence
  (the final plan is projected with many more passes and its violation reported).

Each step feeds the gradient mapping ``G = (P(x + eta g) - x) / eta`` of the normalised gradient to
``optax.adam`` (decaying learning rate) and projects the update. ``G = 0`` exactly at a KKT point,
so its size is the stopping rule: the largest imbalance of marginal returns across the coordinates
not held at a bound, relative to the mean absolute marginal return. Non-smooth objectives (quantile,
CVaR) may instead stop when the objective stalls (``ftol``); the status says which.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax


class Feasible(NamedTuple):
    """The feasible set, in shares of the budget.

    Attributes:
        lo, hi: per-coordinate bounds, (n,); ``hi`` may be inf.
        members: group families, each a 0/1 matrix (K, n) of disjoint groups.
        group_lo, group_hi: bounds of each family's group sums, each (K,).
    """

    lo: jnp.ndarray
    hi: jnp.ndarray
    members: Tuple[jnp.ndarray, ...] = ()
    group_lo: Tuple[jnp.ndarray, ...] = ()
    group_hi: Tuple[jnp.ndarray, ...] = ()


class Settings(NamedTuple):
    """Solver settings (hashable: a static argument of the jit-compiled solver).

    Attributes:
        learning_rate: Adam's initial step as a multiple of the mean share 1/n (n coordinates).
        halflife: iterations over which the step halves.
        max_iter: iteration limit.
        tol: stop when the relative marginal-return imbalance (KKT residual) is below this.
        projection_iter: Dykstra passes per projection (only with group families).
        cap: the budget is a ceiling (sum(x) <= 1) rather than exact.
        ftol: also stop ("stalled") when the objective moved less than this, relative, over the
            last ``window`` iterations: the non-smooth objectives (quantile, CVaR) may never bring
            the residual below ``tol``.
        window: iterations between the objective comparisons.
        offset: added to the gradient for its scale only: the residual is relative to
            ``mean|g + offset|`` (1 for profit, whose spend term adds -1 to every marginal return).
    """

    learning_rate: float = 0.2
    halflife: float = 100.0
    max_iter: int = 3000
    tol: float = 1e-3
    projection_iter: int = 60
    cap: bool = False
    ftol: float = 1e-7
    window: int = 50
    offset: float = 0.0


class Solution(NamedTuple):
    """Solver output: the optimum (shares), its objective, iterations used, the final KKT
    residual, whether it met ``tol`` (converged) or ``ftol`` (stalled); neither: it stopped at
    ``max_iter``."""

    x: jnp.ndarray
    value: jnp.ndarray
    iterations: jnp.ndarray
    residual: jnp.ndarray
    converged: jnp.ndarray
    stalled: jnp.ndarray


def project_box_sum(v: jnp.ndarray, lo: jnp.ndarray, hi: jnp.ndarray, total, cap: bool = False):
    """Exact Euclidean projection of ``v`` (n,) onto {lo <= x <= hi, sum(x) = total} (<= with cap).

    Requires sum(lo) <= total (and sum(hi) >= total without cap); callers check feasibility.
    """
    tau_hi = jnp.max(v - lo)                                 # sum = sum(lo) <= total here
    tau_lo = jnp.min(v - lo) - total - 1.0                   # sum >= total here
    kinks = jnp.concatenate([v - lo, v - hi, jnp.stack([tau_lo, tau_hi])])
    pts = jnp.sort(jnp.clip(kinks, tau_lo, tau_hi))          # sum is linear between these
    sums = jnp.clip(v[None, :] - pts[:, None], lo, hi).sum(1)  # non-increasing
    k = jnp.clip(jnp.sum(sums >= total) - 1, 0, pts.shape[0] - 2)
    t0, t1, s0, s1 = pts[k], pts[k + 1], sums[k], sums[k + 1]
    gap = s0 - s1
    tau = jnp.where(gap > 0, t0 + (s0 - total) * (t1 - t0) / jnp.where(gap > 0, gap, 1.0), t0)
    if cap:
        tau = jnp.maximum(tau, 0.0)
    return jnp.clip(v - tau, lo, hi)


def project_groups(v: jnp.ndarray, members: jnp.ndarray, lo: jnp.ndarray, hi: jnp.ndarray):
    """Exact projection onto {lo <= members @ x <= hi} for disjoint groups (rows of ``members``)."""
    sums = members @ v
    excess = sums - jnp.clip(sums, lo, hi)
    return v - members.T @ (excess / jnp.maximum(members.sum(1), 1.0))


def project(v: jnp.ndarray, feas: Feasible, passes: int, cap: bool = False) -> jnp.ndarray:
    """Projection onto the feasible set (Dykstra over the group families, box + budget last)."""
    box = lambda x: project_box_sum(x, feas.lo, feas.hi, 1.0, cap)  # noqa: E731
    if not feas.members:
        return box(v)
    sets = [lambda x, i=i: project_groups(x, feas.members[i], feas.group_lo[i], feas.group_hi[i])
            for i in range(len(feas.members))] + [box]

    def one_pass(_, carry):
        x, incs = carry
        new = []
        for proj, inc in zip(sets, incs):
            y = proj(x + inc)
            new.append(x + inc - y)
            x = y
        return x, tuple(new)

    zeros = tuple(jnp.zeros_like(v) for _ in sets)
    x, _ = jax.lax.fori_loop(0, passes, one_pass, (v, zeros))
    return x


def polish(x, lo: np.ndarray, hi: np.ndarray, cap: bool = False) -> np.ndarray:
    """``x`` in float64, clipped to the float64 bounds ``lo``, ``hi`` (shares), with the float32
    rounding of its sum spread over the coordinates strictly inside their bounds, so the budget and
    the bounds (locked spend included) hold to float64 precision."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    x = np.clip(np.asarray(x, np.float64), lo, hi)
    gap = 1.0 - x.sum()
    free = (x > lo + 1e-9) & (x < hi - 1e-9)
    if free.any() and (not cap or gap < 0):
        x[free] += gap / free.sum()
    return np.clip(x, lo, hi)


def violation(x: jnp.ndarray, feas: Feasible, cap: bool = False) -> jnp.ndarray:
    """Largest violation of any constraint by ``x`` (shares), ()."""
    total = jnp.sum(x)
    worst = jnp.maximum(total - 1.0, 0.0) if cap else jnp.abs(total - 1.0)
    worst = jnp.maximum(worst, jnp.max(jnp.maximum(feas.lo - x, 0.0)))
    worst = jnp.maximum(worst, jnp.max(jnp.maximum(x - feas.hi, 0.0)))
    for m, lo, hi in zip(feas.members, feas.group_lo, feas.group_hi):
        s = m @ x
        worst = jnp.maximum(worst, jnp.max(jnp.maximum(lo - s, 0.0) + jnp.maximum(s - hi, 0.0)))
    return worst


def kkt_residual(g: jnp.ndarray, x: jnp.ndarray, proj: Callable, settings: Settings) -> jnp.ndarray:
    """Gradient mapping of the normalised gradient ``g / mean|g + offset|`` at ``x`` under the
    projection ``proj`` onto the feasible set, (n,)."""
    eta = settings.learning_rate / x.shape[0]
    gn = g / (jnp.mean(jnp.abs(g + settings.offset)) + 1e-30)
    return (proj(x + eta * gn) - x) / eta


def solve(value_fn: Callable, x0: jnp.ndarray, feas: Feasible, args,
          settings: Settings, proj: Optional[Callable] = None) -> Solution:
    """Maximise ``value_fn(x, args)`` over the feasible set from ``x0`` (projected first).

    Jit-compile with ``settings`` and ``value_fn`` static; ``args`` (draw terms, budget) are traced,
    so new budgets or bounds reuse the compiled solver. vmap over ``args`` solves many problems.
    ``proj``: an exact projection onto the feasible set to use instead of :func:`project` of
    ``feas`` (the weekly timing's per-cell simplices, ``mmm_geo.optimize.timing``).
    """
    if proj is None:
        proj = lambda v: project(v, feas, settings.projection_iter, settings.cap)  # noqa: E731
    value_grad = jax.value_and_grad(value_fn)
    schedule = optax.exponential_decay(settings.learning_rate / x0.shape[0], settings.halflife, 0.5)
    opt = optax.adam(schedule)
    x = proj(x0)
    inf = jnp.asarray(jnp.inf, x.dtype)

    def cond(state):
        i, _, _, res, _, stalled = state
        return (i < settings.max_iter) & (res > settings.tol) & ~stalled

    def body(state):
        i, x, opt_state, _, ref, _ = state
        val, g = value_grad(x, args)
        step = kkt_residual(g, x, proj, settings)
        res = jnp.max(jnp.abs(step))
        check = (i % settings.window == 0) & (i > 0)
        stalled = check & (jnp.abs(val - ref) <= settings.ftol * jnp.abs(ref))
        ref = jnp.where(check | (i == 0), val, ref)
        updates, opt_state = opt.update(-step, opt_state, x)
        x_new = jnp.where((res > settings.tol) & ~stalled, proj(x + updates), x)
        return i + 1, x_new, opt_state, res, ref, stalled

    init = (jnp.asarray(0), x, opt.init(x), inf, inf, jnp.asarray(False))
    i, x, _, res, _, stalled = jax.lax.while_loop(cond, body, init)
    return Solution(x, value_fn(x, args), i, res, res <= settings.tol, stalled)
