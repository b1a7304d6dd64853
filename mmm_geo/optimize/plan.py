"""The budget optimizer end to end: a run (or any problem + draw terms) -> a :class:`Result`.

:func:`optimize` is the core on arrays (tests build problems and draws directly); :func:`plan_run`
wraps it for a saved run: it builds the problem, picks the draws, solves, checks the optimum,
evaluates the current mix, the recommendation and the scenarios over the same draws, solves each of
a subsample of draws on its own (how certain the recommendation is), and in the target mode
searches the budget first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mmm_geo.config import ModelConfig, OptimizeConfig
from mmm_geo.errors import ConfigError
from mmm_geo.model import media as mm
from mmm_geo.optimize.objective import (Args, Spec, as_args, objective, plan_gradient,
                                        plan_scores, solve_each_draw, solve_plan)
from mmm_geo.optimize.planfile import Planned, load_plan, plan_paths
from mmm_geo.optimize.problem import Problem, build_problem, cells, current_mix, to_decision
from mmm_geo.optimize.response import (DrawTerms, build_terms, cell_gradients, draw_params,
                                       take)
from mmm_geo.optimize.scenarios import scenario_plans
from mmm_geo.optimize.solver import Feasible, Settings, polish, project, violation
from mmm_geo.optimize.timing import Timing, optimize_timing

BOUND_TOL = 1e-6      # a share this close to a bound counts as at the bound
FINAL_PASSES = 20     # the final plan gets this many times more Dykstra passes


@dataclass
class Result:
    """What the optimizer found, in user units (see ``mmm_geo.optimize.output`` for the tables).

    Attributes:
        problem: the planning problem (at the final budget).
        spec: what was optimised.
        plans: cell totals (G, C) by plan name: "current", "recommended", then the scenarios.
        scores: per-draw outcome of each plan, (D,) (profit for the profit objective, else the
            incremental revenue or KPI).
        value: per-draw incremental revenue or KPI of each plan, (D,).
        mroi: marginal return of each channel at the optimum, per draw, (D, C).
        draw_optima: the optimal channel totals of each of a subsample of draws, (A, C).
        status: solver status, iterations, residual, KKT check, feasibility and timing.
        target: the target-mode budget search (None otherwise).
        draw_ids: flat (chain x draw) indices of the draws used, (D,).
        timing: the weekly flighting of the recommendation (``timing=true``), else None; its
            per-draw value is the plan "timed" of ``value`` and ``scores``.
    """

    problem: Problem
    spec: Spec
    plans: Dict[str, np.ndarray]
    scores: Dict[str, np.ndarray]
    value: Dict[str, np.ndarray]
    mroi: np.ndarray
    draw_optima: np.ndarray
    status: dict
    target: Optional[dict] = None
    draw_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    timing: Optional[Timing] = None


def settings_of(cfg: OptimizeConfig) -> Settings:
    """Solver settings of a config."""
    o = cfg.optimizer
    return Settings(learning_rate=o.learning_rate, max_iter=o.max_iter, tol=o.tol,
                    projection_iter=o.projection_iter, cap=cfg.budget_cap)


def spec_of(cfg: OptimizeConfig, model: ModelConfig, n_channel: int) -> Spec:
    """The objective of a config for a model of ``n_channel`` channels."""
    o = cfg.optimizer
    media = mm.spec(model, n_channel)
    return Spec(o.decision, media, o.objective, o.risk_lambda, o.alpha, o.margin)


def _membership(n_geo: int, n_ch: int, by: str) -> np.ndarray:
    """0/1 matrix of channel (C, G*C) or geo (G, G*C) groups of flattened cells (geo-major)."""
    idx = np.arange(n_geo * n_ch).reshape(n_geo, n_ch)
    groups = idx.T if by == "channel" else idx
    out = np.zeros((groups.shape[0], n_geo * n_ch))
    for k, members in enumerate(groups):
        out[k, members] = 1.0
    return out


def feasible(problem: Problem, dtype=jnp.float32) -> Feasible:
    """The problem's constraints in budget shares."""
    b = problem.budget
    cast = lambda x: jnp.asarray(np.asarray(x, float) / b, dtype)  # noqa: E731
    if problem.decision == "channel":
        return Feasible(cast(problem.lo), cast(problem.hi))
    n_geo, n_ch = problem.reference.shape
    fams = []
    for by, lo, hi in (("channel", problem.channel_lo, problem.channel_hi),
                       ("geo", problem.geo_lo, problem.geo_hi)):
        if np.any(lo > 0) or np.any(np.isfinite(hi)):
            fams.append((jnp.asarray(_membership(n_geo, n_ch, by), dtype), cast(lo), cast(hi)))
    return Feasible(cast(problem.lo), cast(problem.hi), tuple(f[0] for f in fams),
                    tuple(f[1] for f in fams), tuple(f[2] for f in fams))


def kkt_check(g: np.ndarray, x: np.ndarray, feas: Feasible, cap: bool, offset: float = 0.0) -> dict:
    """Equal marginal returns across the coordinates not held by a bound, and no gain from moving
    spend off a bound. Returns the gap relative to the mean of ``|g + offset|`` (``offset`` 1 for
    profit: relative to the marginal revenue)."""
    g, x = np.asarray(g, float), np.asarray(x, float)
    lo, hi = np.asarray(feas.lo, float), np.asarray(feas.hi, float)
    at_lo, at_hi = x <= lo + BOUND_TOL, x >= hi - BOUND_TOL
    held = hi - lo <= BOUND_TOL                                  # fixed (locked): cannot move
    for m, glo, ghi in zip(feas.members, feas.group_lo, feas.group_hi):
        m = np.asarray(m, float)
        s = m @ x
        tight = (s <= np.asarray(glo) + BOUND_TOL) | (s >= np.asarray(ghi) - BOUND_TOL)
        held |= (m[tight].sum(0) > 0)
    free = ~(at_lo | at_hi | held)
    scale = np.mean(np.abs(g + offset)) + 1e-30
    if not free.any():
        return {"kkt_gap": 0.0, "free": 0, "multiplier": float("nan")}
    slack = cap and x.sum() < 1 - BOUND_TOL
    lam = 0.0 if slack else float(np.mean(g[free]))
    gaps = [np.max(np.abs(g[free] - lam)) if slack else np.ptp(g[free])]
    gaps += [np.max(g[at_lo & ~held] - lam, initial=0.0),
             np.max(lam - g[at_hi & ~held], initial=0.0)]
    return {"kkt_gap": float(max(gaps) / scale), "free": int(free.sum()), "multiplier": lam}


def channel_split(problem: Problem, plan: np.ndarray) -> np.ndarray:
    """Geo split of each channel in ``plan`` (G, C); the historical split where a channel is 0."""
    tot = plan.sum(0, keepdims=True)
    return np.where(tot > 0, plan / np.where(tot > 0, tot, 1.0), problem.geo_share)


def optimize(problem: Problem, terms: DrawTerms, spec: Spec, settings: Settings,
             allocation_draws: int = 0, seed: int = 0, scenarios: Optional[List[str]] = None,
             kkt_tol: float = 0.02, timing: bool = False,
             week_cap: Optional[float] = None) -> Result:
    """Optimise the plan of ``problem`` over the draws of ``terms``.

    Args:
        problem: the planning problem (budget, bounds, flighting).
        terms: per-draw response terms (D, ...) from :func:`~mmm_geo.optimize.response.build_terms`.
        spec: the objective.
        settings: solver settings.
        allocation_draws: how many draws to solve on their own (0: none).
        seed: seed of that subsample.
        scenarios: scenario specs (see ``mmm_geo.optimize.scenarios``).
        kkt_tol: largest relative marginal-return gap the optimality check accepts.
        timing: also choose the weeks of each recommended cell total
            (``mmm_geo.optimize.timing``), no week above ``week_cap`` x the cell's average week.

    Returns:
        The :class:`Result`.
    """
    start = time.perf_counter()
    feas = feasible(problem)
    args = as_args(terms, problem.weights, problem.geo_share, problem.budget)
    current = current_mix(problem)
    x0 = jnp.asarray(to_decision(problem, current) / problem.budget, jnp.float32)
    if float(violation(project(x0, feas, settings.projection_iter * FINAL_PASSES, settings.cap),
                       feas, settings.cap)) > 1e-4:
        raise ConfigError("the channel and geo bounds cannot all hold at this budget\n  fix: "
                          "loosen geo_bounds or bounds, or change the budget")
    sol = solve_plan(x0, feas, args, spec, settings)
    x = jax.block_until_ready(project(sol.x, feas, settings.projection_iter * FINAL_PASSES,
                                      settings.cap))
    solve_s = time.perf_counter() - start
    g = np.asarray(plan_gradient(x, args, spec))
    check = kkt_check(g, np.asarray(x), feas, settings.cap, float(spec.objective == "profit"))
    exact = polish(x, problem.lo / problem.budget, problem.hi / problem.budget, settings.cap)
    recommended = cells(problem, exact * problem.budget)
    plans = {"current": current, "recommended": recommended}
    plans.update(scenario_plans(list(scenarios or []), current, problem))
    mean_spec = spec._replace(decision="cell", objective="mean")
    value = {k: np.asarray(plan_scores(jnp.asarray(p.ravel() / problem.budget, jnp.float32),
                                       args, mean_spec), float) for k, p in plans.items()}
    timed = None
    if timing:
        timed = optimize_timing(problem, terms, spec, settings, recommended, week_cap, kkt_tol)
        plans["timed"], value["timed"] = recommended, timed.value
    spend = {k: float(p.sum()) for k, p in plans.items()}
    scores = ({k: spec.margin * v - spend[k] for k, v in value.items()}
              if spec.objective == "profit" else value)
    grads = np.asarray(cell_gradients(jnp.asarray(recommended, jnp.float32), terms, args.weights,
                                      spec.media), float)
    mroi = np.einsum("dgc,gc->dc", grads, channel_split(problem, recommended))
    draw_optima = _draw_optima(problem, terms, spec, settings, recommended, allocation_draws, seed)
    status = {
        "status": ("converged" if bool(sol.converged) else "stalled" if bool(sol.stalled)
                   else "max_iter"),
        "iterations": int(sol.iterations), "residual": float(sol.residual), "tol": settings.tol,
        "objective": float(objective(x, args, spec)) * problem.budget,
        "kkt_ok": check["kkt_gap"] <= kkt_tol, "kkt_tol": kkt_tol,
        "smooth": spec.objective not in ("quantile", "cvar"), **check,
        "max_violation": float(violation(x, feas, settings.cap)) * problem.budget,
        "draws": int(terms.base.shape[0]), "solve_s": solve_s,
        "total_s": time.perf_counter() - start,
    }
    return Result(problem, spec, plans, scores, value, mroi, draw_optima, status, timing=timed)


def _draw_optima(problem: Problem, terms: DrawTerms, spec: Spec, settings: Settings,
                 recommended: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Channel totals optimal for each of ``n`` draws on its own (geo split as recommended)."""
    n_draws = terms.base.shape[0]
    if n <= 0:
        return np.zeros((0, len(problem.channels)))
    ids = np.sort(np.random.default_rng(seed).choice(n_draws, size=min(n, n_draws), replace=False))
    split = channel_split(problem, recommended)
    b = problem.budget
    feas = Feasible(jnp.asarray(problem.channel_lo / b, jnp.float32),
                    jnp.asarray(problem.channel_hi / b, jnp.float32))
    args = Args(take(terms, ids), jnp.asarray(problem.weights, jnp.float32),
                jnp.asarray(split, jnp.float32), jnp.asarray(b, jnp.float32))
    x0 = jnp.asarray(recommended.sum(0) / b, jnp.float32)
    sol = solve_each_draw(x0, feas, args, spec._replace(decision="channel"), settings)
    return np.asarray(sol.x, float) * b


def _target_metric(problem: Problem, terms: DrawTerms, spec: Spec, settings: Settings,
                   kind: str) -> float:
    """Expected ROI, marginal ROI or outcome of the optimal mix at the problem's budget."""
    feas = feasible(problem)
    args = as_args(terms, problem.weights, problem.geo_share, problem.budget)
    x0 = jnp.asarray(to_decision(problem, current_mix(problem)) / problem.budget, jnp.float32)
    x = solve_plan(x0, feas, args, spec, settings).x
    if kind == "mroi":
        mean = spec._replace(objective="mean")
        check = kkt_check(np.asarray(plan_gradient(x, args, mean)), np.asarray(x), feas, False)
        return check["multiplier"]
    total = float(np.mean(np.asarray(plan_scores(x, args, spec._replace(objective="mean")))))
    return total / problem.budget if kind == "roi" else total


def target_budget(build, terms: DrawTerms, spec: Spec, settings: Settings, kind: str,
                  value: float, limit: float, rel_tol: float = 1e-3) -> dict:
    """Budget at which the optimised mix meets the target (bisection in log budget).

    roi and mroi fall as the budget grows: the largest budget whose optimised mix still returns at
    least ``value``. outcome grows with the budget: the smallest budget that reaches ``value``.

    Args:
        build: budget -> Problem.
        terms, spec, settings: as in :func:`optimize`.
        kind: "roi", "mroi" or "outcome".
        value: the target.
        limit: the largest budget searched.
        rel_tol: relative precision of the budget.
    """
    top = build(limit)
    low = max(float(top.channel_lo.sum()), float(top.geo_lo.sum()), 1e-4 * limit)
    meets = lambda b: (_target_metric(build(b), terms, spec, settings, kind) >= value)  # noqa: E731
    trace = []
    lo_ok, hi_ok = meets(low), meets(limit)
    trace += [(low, lo_ok), (limit, hi_ok)]
    falling = kind in ("roi", "mroi")
    if falling and not lo_ok:
        raise ConfigError(f"no budget reaches {kind} {value:g}: even {low:,.0f} returns less\n"
                          "  fix: lower target_value or loosen the bounds")
    if not falling and not hi_ok:
        raise ConfigError(f"the {kind} target {value:g} is not reached even at budget {limit:,.0f}"
                          "\n  fix: raise budget= (the search limit) or lower target_value")
    if falling and hi_ok or not falling and lo_ok:
        found = limit if falling else low
        return {"budget": found, "at_search_limit": True, "evaluations": trace}
    a, b = np.log(low), np.log(limit)
    while b - a > rel_tol:
        mid = 0.5 * (a + b)
        ok = meets(float(np.exp(mid)))
        trace.append((float(np.exp(mid)), ok))
        if ok == falling:
            a = mid
        else:
            b = mid
    found = float(np.exp(a if falling else b))
    return {"budget": found, "at_search_limit": False, "evaluations": trace}


def single_plan(run, cfg: OptimizeConfig) -> Optional[Planned]:
    """The config's plan file read against the run, or None; the optimizer takes one plan."""
    paths = plan_paths(cfg.plan)
    if len(paths) > 1:
        raise ConfigError(f"plan= names {len(paths)} files; the optimizer scales one plan\n  fix: "
                          "give one file (mmm-geo forecast compares several)")
    return load_plan(run, paths[0], cfg, cfg.horizon_weeks, cfg.window) if paths else None


def plan_run(run, cfg: OptimizeConfig, draws=None) -> Result:
    """Optimise the budget of a loaded run (``mmm_geo.run.load_run``) under ``cfg``; ``draws``:
    (media parameters, draw ids) to plan over instead of the run's own posterior (a model stack,
    ``mmm_geo.optimize.stacked``)."""
    model = run.config.model
    planned = single_plan(run, cfg)
    problem = build_problem(run.ds, run.scaling, model, cfg, planned=planned)
    o = cfg.optimizer
    params, ids = draws or draw_params(run.idata.posterior, model, o.draws, o.seed)
    terms = build_terms(params, problem, model)
    spec, settings = spec_of(cfg, model, len(problem.channels)), settings_of(cfg)
    target = None
    if cfg.target is not None:
        limit = cfg.budget if cfg.budget is not None else 10.0 * float(problem.reference.sum())
        build = lambda b: build_problem(run.ds, run.scaling, model, cfg, b, planned)  # noqa: E731
        target = target_budget(build, terms, spec, settings, cfg.target, cfg.target_value, limit)
        target.update(kind=cfg.target, value=cfg.target_value)
        problem = build(target["budget"])
    result = optimize(problem, terms, spec, settings, o.allocation_draws, o.seed,
                      list(cfg.scenarios), o.kkt_tol, cfg.timing, cfg.week_cap)
    result.target, result.draw_ids = target, ids
    return result
