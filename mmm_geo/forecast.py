"""``mmm-geo forecast``: the KPI per period and geo under a plan, with predictive intervals.

For every posterior draw the model's own mean (``mmm_geo.model.hierarchical.components``) is
evaluated over the horizon: the geo baselines; the seasonality's Fourier terms at the horizon's
indices on the data's calendar (``mmm_geo.optimize.horizon``); the controls (the plan's, the
recorded ones in a historical window, else their training mean); and the media response of the
plan's exposure after the recorded exposure of the ``max_lag - 1`` periods before the horizon
(``mmm_geo.optimize.problem``, which also turns a plan file or the historical pattern into
exposure). Observation noise is drawn from the model's likelihood with the draw's own noise
parameters, so the intervals are posterior predictive ones.

The trend beyond the fitted periods (method ``changes``). The model's trend is piecewise linear
with ``K`` knots spaced ``s = (n_fit - 1) / K`` periods apart over the ``n_fit`` fitted periods.
Per draw the knot values are read off the fitted trend (a least-squares fit of the knots'
interpolation weights, exact for a piecewise-linear path), giving ``K`` slopes and ``K - 1``
slope changes. Beyond the last knot the knots continue at the same spacing; at each of them, the
last fitted one included, the slope changes by an independent ``Normal(0, r)`` draw, ``r`` the
draw's root-mean-square fitted slope change, and the trend integrates the slopes from its last
fitted value. Uncertainty about future trend moves thus grows with the distance from the data at
the rate the fit itself shows, instead of the trend being held flat (method ``flat``: the last
fitted value, as in the fit's own held-out periods). With one knot the trend continues its slope.

Method ``levels`` is for knots that are a time effect rather than a trend (one knot per period, as
``meridian_geo_media`` has): the future knots, at the same spacing, are independent draws from
``Normal(m, d)``, ``m`` and ``d`` the mean and standard deviation of the draw's fitted knot values,
and the trend interpolates linearly between them from its last fitted value. Slope changes there
accumulate into a random walk of slopes whose spread grows like ``h^1.5`` per knot ahead, far wider
than such a series ever moves (``scripts/RESULTS_optimize.md``).

Outputs in ``<run>/<output>/``: ``forecast.csv`` (per plan, period and geo, and the total over
geos: planned spend, the expected KPI and the predictive mean, 5/25/50/75/95 % quantiles, and the
observed KPI with whether it lies inside the 50 % and 90 % intervals where the data have it),
``scenarios.csv`` (per plan: totals over the horizon and the difference to the first plan) and
``forecast.json`` (settings, horizon, coverage).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis.accuracy import fit_window
from mmm_geo.analysis.draws import SAMPLE, map_draws, thin
from mmm_geo.config import OptimizeConfig
from mmm_geo.data import holidays
from mmm_geo.data.scaling import ModelData, kpi_units
from mmm_geo.errors import ConfigError
from mmm_geo.inference.trace import atomic_write
from mmm_geo.model.hierarchical import (LIKELIHOODS, components, fourier_basis, mean, to_scaled,
                                        trend_basis)
from mmm_geo.model import time_varying as tv
from mmm_geo.optimize import horizon as hz
from mmm_geo.optimize import treatment_plan
from mmm_geo.optimize.planfile import Planned, load_plan, plan_paths
from mmm_geo.optimize.problem import Problem, build_problem, current_mix
from mmm_geo.plan_config import ForecastConfig

TRENDS = ("changes", "levels", "flat")
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
TOTAL = "total"


def knot_values(z: np.ndarray, n_time: int, n_fit: int) -> tuple:
    """The fitted trend over the first ``n_fit`` periods, (S, n_fit), and its knot values,
    (S, K + 1), of trend coefficients ``z`` (S, K) on the fit's basis."""
    n_knots = z.shape[1]
    path = z @ trend_basis(n_time, n_knots, n_fit)[:n_fit].T
    knots = np.linspace(0, n_fit - 1, n_knots + 1)
    weights = np.stack([np.interp(np.arange(n_fit), knots, row) for row in np.eye(n_knots + 1)], -1)
    return path, np.linalg.lstsq(weights, path.T, rcond=None)[0].T


def trend_paths(z: np.ndarray, n_time: int, n_fit: int, idx: np.ndarray, method: str,
                rng: np.random.Generator) -> np.ndarray:
    """The trend at calendar indices ``idx`` per draw, (S, len(idx)) (module docstring).

    Args:
        z: trend coefficients per draw, (S, K).
        n_time: periods of the fitted run's data (the basis the fit used).
        n_fit: periods the fit saw; later ones are extrapolated.
        idx: calendar indices (negative ones, before the data, get 0).
        method: "changes", "levels" or "flat".
        rng: the random slope changes' generator.
    """
    idx = np.asarray(idx)
    out = np.zeros((z.shape[0], len(idx)))
    if z.shape[1] == 0:
        return out
    path, values = knot_values(z, n_time, n_fit)
    inside = (idx >= 0) & (idx < n_fit)
    out[:, inside] = path[:, idx[inside]]
    ahead = idx >= n_fit
    if not ahead.any():
        return out
    last = values[:, -1:]
    if method == "flat":
        out[:, ahead] = last
        return out
    spacing = (n_fit - 1) / z.shape[1]
    tau = (idx[ahead] - (n_fit - 1)).astype(float)
    n_seg = int(np.ceil(tau.max() / spacing))
    if method == "levels":
        future = values.mean(1, keepdims=True) + values.std(1, keepdims=True) * \
            rng.standard_normal((len(z), n_seg))
        knots = np.concatenate([last, future], 1)
        seg = np.minimum((tau // spacing).astype(int), n_seg - 1)
        frac = tau / spacing - seg
        out[:, ahead] = knots[:, seg] * (1 - frac) + knots[:, seg + 1] * frac
        return out
    slopes = np.diff(values, axis=1) / spacing
    changes = np.diff(slopes, axis=1)
    scale = np.sqrt(np.mean(changes ** 2, axis=1)) if changes.shape[1] else np.zeros(len(z))
    seg_slope = slopes[:, -1:] + np.cumsum(rng.standard_normal((len(z), n_seg)) * scale[:, None], 1)
    overlap = np.clip(tau[:, None] - spacing * np.arange(n_seg)[None, :], 0.0, spacing)
    out[:, ahead] = last + seg_slope @ overlap.T
    return out


def _window_inputs(run, problem: Problem, cells: np.ndarray, controls: Optional[np.ndarray],
                   changes: Optional[dict] = None) -> ModelData:
    """The model's inputs over the ``max_lag - 1`` periods before the horizon and the horizon;
    the trend enters per draw (an identity basis, the draw's path as coefficients); the
    treatments as recorded or by default, with ``changes`` (``mmm_geo.optimize.treatment_plan``)."""
    ds, scaling, model = run.ds, run.scaling, run.config.model
    n_pre, (n_geo, n_h, n_ch) = problem.pre.shape[1], problem.unit_exposure.shape
    media = np.concatenate([problem.pre, cells[:, None, :] * problem.unit_exposure], 1)
    mu_c, sd_c = np.asarray(scaling.control_mean), np.asarray(scaling.control_std)
    ctrl = np.zeros((n_geo, n_pre + n_h, ds.sizes[dims.CONTROL]))
    if controls is not None:
        ctrl[:, n_pre:] = (controls - mu_c) / sd_c
    elif problem.offset + n_h <= ds.sizes[dims.TIME]:   # a historical window: recorded controls
        rec = ds["controls"].values[:, problem.offset:problem.offset + n_h]
        ctrl[:, n_pre:] = (rec - mu_c) / sd_c
    else:                                              # after the data: holidays from the calendar
        step = pd.Timedelta(ds[dims.TIME].values[1] - ds[dims.TIME].values[0])
        for k, marks in holidays.in_window(list(map(str, ds[dims.CONTROL].values)), problem.weeks,
                                           step).items():
            ctrl[:, n_pre:, k] = (marks - mu_c[k]) / sd_c[k]
    n = n_pre + n_h
    season = fourier_basis(n, model.fourier_order, model.period, problem.offset - n_pre)
    unit = scaling.kpi_scale * ds["population"].values
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    return ModelData(f32(np.zeros((n_geo, n))), f32(media), f32(ctrl), f32(np.eye(n)), f32(season),
                     np.zeros(n, bool), f32(np.zeros((n_geo, n))), f32(np.zeros(n_ch)), f32(unit),
                     treatments=f32(treatment_plan.window(run, problem.offset, n_pre,
                                                          [str(w) for w in problem.weeks],
                                                          changes or {})),
                     frequency=None if problem.frequency is None
                     else f32(np.broadcast_to(problem.frequency, media.shape)))


def simulate_kpi(run, problem: Problem, cells: np.ndarray, posterior, trend: np.ndarray,
                 controls: Optional[np.ndarray], key: jax.Array, batch: int = 250,
                 changes: Optional[dict] = None) -> tuple:
    """Per draw, the expected KPI and one posterior predictive KPI draw, (S, G, H) each, in KPI
    units, of cell totals ``cells`` (G, C) spread as ``problem`` says; ``trend`` (S, L-1+H)."""
    cfg = run.config.model
    data = _window_inputs(run, problem, cells, controls, changes)
    arrays = jax.tree.map(jnp.asarray, data)
    n_pre = problem.pre.shape[1]
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    post = posterior.drop_vars("trend_coef", errors="ignore").assign(
        trend_coef=((*SAMPLE, "forecast_period"), trend.reshape(shape + trend.shape[1:])))
    if tv.SITE in post:   # time-varying media effects: as fitted in the data, then held at its
        n_time = run.ds.sizes[dims.TIME]          # last period (as the optimizer holds them)
        at = np.clip(np.arange(problem.offset - n_pre, problem.offset + trend.shape[1] - n_pre),
                     0, n_time - 1)
        site = post[tv.SITE].transpose(*SAMPLE, dims.TIME, ...)
        post = post.drop_vars(tv.SITE).assign({tv.SITE: (
            (*SAMPLE, "forecast_period", *site.dims[3:]), site.values[:, :, at])})
    mu = map_draws(lambda p: mean(components(p, arrays, cfg))[:, n_pre:], post, cfg, batch)
    mu = mu.reshape((-1,) + mu.shape[2:])
    flat = {k: np.asarray(post[k].values).reshape((len(mu),) + post[k].shape[2:])
            for k in ("sigma", "nu", "concentration") if k in post}
    sigma = flat["sigma"].reshape(len(mu), -1, 1)
    nu = flat.get("nu", np.zeros(len(mu))).reshape(-1, 1, 1)
    conc = flat.get("concentration", np.ones(len(mu))).reshape(-1, 1, 1)
    noise = LIKELIHOODS[cfg.likelihood](jnp.asarray(mu), jnp.asarray(sigma), jnp.asarray(nu),
                                        jnp.asarray(conc), arrays.kpi_unit[:, None])
    y = to_scaled(np.asarray(noise.sample(key)), data, cfg)
    return kpi_units(mu, run.ds, run.scaling), kpi_units(y, run.ds, run.scaling)


def _quantiles(values: np.ndarray) -> Dict[str, np.ndarray]:
    q = np.quantile(values, list(QUANTILES.values()), axis=0)
    return {"kpi_mean": values.mean(0), **{f"kpi_{k}": q[i] for i, k in enumerate(QUANTILES)}}


def plan_table(name: str, problem: Problem, spend: np.ndarray, expected: np.ndarray,
               kpi: np.ndarray, observed: Optional[np.ndarray]) -> pd.DataFrame:
    """Rows per period x geo, then the total over geos (summed per draw), of one plan."""
    n_geo, n_h = spend.shape
    geos = list(problem.geos) + [TOTAL]
    add = lambda x: np.concatenate([x, x.sum(-2, keepdims=True)], -2)  # noqa: E731  geos + total
    cols = {"expected_mean": add(expected).mean(0), **_quantiles(add(kpi))}
    frame = pd.DataFrame({"plan": name, "week": np.tile(problem.weeks, n_geo + 1),
                          "geo": np.repeat(geos, n_h), "spend": add(spend).ravel(),
                          **{k: v.ravel() for k, v in cols.items()}})
    if observed is not None:
        obs = add(observed).ravel()
        frame["observed"] = obs
        frame["in_50"] = (obs >= frame["kpi_p25"]) & (obs <= frame["kpi_p75"])
        frame["in_90"] = (obs >= frame["kpi_p5"]) & (obs <= frame["kpi_p95"])
    return frame


def coverage(table: pd.DataFrame) -> Optional[dict]:
    """Share of observed geo-periods (and national periods) inside their 50 % and 90 % intervals."""
    if "observed" not in table:
        return None
    local, nat = table[table["geo"] != TOTAL], table[table["geo"] == TOTAL]
    return {"cells": int(len(local)), "in_50": float(local["in_50"].mean()),
            "in_90": float(local["in_90"].mean()), "national_periods": int(len(nat)),
            "national_in_50": float(nat["in_50"].mean()),
            "national_in_90": float(nat["in_90"].mean())}


class Scenario(NamedTuple):
    """One plan to forecast: its name, problem, cell totals (G, C), controls (G, H, K) or None,
    and whether the data record what happened under it (the recorded spend of a window)."""

    name: str
    problem: Problem
    cells: np.ndarray
    controls: Optional[np.ndarray]
    recorded: bool
    changes: Optional[dict] = None     # treatment changes (mmm_geo.optimize.treatment_plan)


def _fail(problem: str, fix: str) -> None:
    raise ConfigError(f"{problem}\n  fix: {fix}")


def check_settings(cfg: ForecastConfig) -> None:
    """Reject unknown names and out-of-range numbers before any compute."""
    if cfg.trend not in TRENDS:
        _fail(f"trend={cfg.trend!r} is unknown", f"use one of {', '.join(TRENDS)}")
    if cfg.draws is not None and cfg.draws < 1 or cfg.batch < 1:
        _fail(f"draws={cfg.draws}, batch={cfg.batch} are out of range", "use draws >= 1 (or null) "
              "and batch >= 1")
    if cfg.budget is not None and plan_paths(cfg.plan):
        _fail("budget= scales the historical pattern; a plan file is forecast as given",
              "drop budget=, or scale the spend in the plan file")


def scenarios(run, cfg: ForecastConfig) -> List[Scenario]:
    """The plans of ``cfg`` on the run: its plan files (one horizon), else the historical
    pattern over the horizon (a run with held-out periods and no horizon: those periods under
    their recorded spend)."""
    model, paths = run.config.model, plan_paths(cfg.plan)
    base = OptimizeConfig(carryover_after=False, budget=cfg.budget, flighting=cfg.flighting)
    if paths:
        plans: List[Planned] = [load_plan(run, path, cfg, 13) for path in paths]
        for pl in plans[1:]:
            if list(pl.horizon.labels) != list(plans[0].horizon.labels):
                _fail(f"{pl.source} covers {pl.horizon.labels[0]} .. {pl.horizon.labels[-1]}, "
                      f"{plans[0].source} {plans[0].horizon.labels[0]} .. "
                      f"{plans[0].horizon.labels[-1]}", "compare plans over the same periods")
        names = [pl.name for pl in plans]
        names = names if len(set(names)) == len(names) else [pl.source for pl in plans]
        out = []
        for name, pl in zip(names, plans):
            problem = build_problem(run.ds, run.scaling, model, base, planned=pl)
            out.append(Scenario(name, problem, problem.reference, pl.controls, False))
        return out
    n_fit, times = fit_window(run.idata), run.ds.coords[dims.TIME].values
    spec = {k: getattr(cfg, k) for k in ("start", "weeks", "period", "dates")}
    if not hz.given(cfg) and n_fit < len(times) and cfg.weeks is None:
        spec["dates"] = [str(pd.Timestamp(t).date()) for t in times[n_fit:]]
    problem = build_problem(run.ds, run.scaling, model, OptimizeConfig(
        **spec, carryover_after=False, budget=cfg.budget, flighting=cfg.flighting))
    recorded = problem.offset + len(problem.weeks) <= len(times) and cfg.budget is None \
        and cfg.flighting == "history"
    return [Scenario("recorded" if recorded else "history", problem, current_mix(problem), None,
                     recorded)]


def scenario_table(frames: List[pd.DataFrame], expected: List[np.ndarray],
                   kpi: List[np.ndarray]) -> pd.DataFrame:
    """Per plan: spend and KPI over the whole horizon and geos, and the expected KPI's difference
    to the first plan per draw (mean, 90 % interval, probability that it is higher)."""
    rows, first = [], expected[0].sum((1, 2))
    for frame, e, k in zip(frames, expected, kpi):
        tot, diff = k.sum((1, 2)), e.sum((1, 2)) - first
        q, dq = np.quantile(tot, [0.05, 0.5, 0.95]), np.quantile(diff, [0.05, 0.95])
        rows.append({"plan": frame["plan"].iloc[0], "first_week": frame["week"].iloc[0],
                     "last_week": frame["week"].iloc[-1],
                     "spend": float(frame.loc[frame["geo"] == TOTAL, "spend"].sum()),
                     "kpi_mean": float(tot.mean()), "kpi_p5": q[0], "kpi_p50": q[1],
                     "kpi_p95": q[2], "expected_mean": float(e.sum((1, 2)).mean()),
                     "vs_first_mean": float(diff.mean()),
                     "vs_first_p5": dq[0], "vs_first_p95": dq[1],
                     "p_above_first": float(np.mean(diff > 0)) if len(rows) else np.nan})
    return pd.DataFrame(rows)


def forecast(run, cfg: ForecastConfig) -> tuple:
    """The forecast tables of a loaded run: (per period x geo, per plan, summary dict)."""
    check_settings(cfg)
    plans = scenarios(run, cfg)
    if cfg.treatments:          # each plan again with the treatment changes
        treatment_plan.check(cfg.treatments, run.config.model.treatment_kinds)
        label = treatment_plan.describe(cfg.treatments)
        plans += [sc._replace(name=f"{sc.name} ({label})", recorded=False, changes=cfg.treatments)
                  for sc in plans]
    posterior = thin(run.idata.posterior, cfg.draws)
    first = plans[0].problem
    n_pre, n_time = first.pre.shape[1], run.ds.sizes[dims.TIME]
    n_fit = fit_window(run.idata)
    idx = np.arange(first.offset - n_pre, first.offset + len(first.weeks))
    z = posterior["trend_coef"].values if "trend_coef" in posterior else np.zeros(
        (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW], 0))
    trend = trend_paths(z.reshape(-1, z.shape[-1]), n_time, n_fit, idx, cfg.trend,
                        np.random.default_rng(cfg.seed))
    key = jax.random.key(cfg.seed)          # the same noise draws for every plan: paired
    frames, expected, kpi = [], [], []
    for sc in plans:
        e, k = simulate_kpi(run, sc.problem, sc.cells, posterior, trend, sc.controls, key,
                            cfg.batch, sc.changes)
        spend = (sc.cells[:, None, :] * sc.problem.pattern).sum(-1)
        obs = (run.ds["kpi"].values[:, sc.problem.offset:sc.problem.offset + len(sc.problem.weeks)]
               if sc.recorded else None)
        frames.append(plan_table(sc.name, sc.problem, spend, e, k, obs))
        expected.append(e)
        kpi.append(k)
    table = pd.concat(frames, ignore_index=True)
    summary = {"config": asdict(cfg), "horizon": [str(w) for w in first.weeks],
               "historical": bool(first.offset + len(first.weeks) <= n_time),
               "fitted_periods": n_fit, "trend": cfg.trend, "draws": int(len(trend)),
               "plans": [sc.name for sc in plans], "coverage": coverage(table)}
    return table, scenario_table(frames, expected, kpi), summary


def run_forecast(cfg: ForecastConfig) -> tuple:
    """``mmm-geo forecast``: load the run, forecast, print, save into ``<run>/<output>/``."""
    from mmm_geo.run import load_run

    if not cfg.run:
        raise ConfigError("no run given\n  fix: mmm-geo forecast run=<folder of a completed fit> "
                          "plan=<file> (or start=, period=, dates=)")
    run = load_run(Path(cfg.run))
    table, plans, summary = forecast(run, cfg)
    folder = run.path / cfg.output
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "forecast.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(folder / "scenarios.csv", lambda p: plans.to_csv(p, index=False))
    text = json.dumps(summary, indent=2, default=str)
    atomic_write(folder / "forecast.json", lambda p: p.write_text(text))
    print_forecast(table, plans, summary)
    print(f"\nsaved forecast.csv, scenarios.csv, forecast.json to {folder}")
    return table, plans, summary


def print_forecast(table: pd.DataFrame, plans: pd.DataFrame, summary: dict) -> None:
    """The national forecast per period of each plan, the plan totals and the coverage."""
    fmt = lambda x: f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3f}"  # noqa: E731
    h = summary["horizon"]
    print(f"\nForecast of {len(h)} periods ({h[0]} .. {h[-1]}), trend {summary['trend']}, "
          f"{summary['draws']} posterior draws (observation noise included)")
    cols = ["plan", "week", "spend", "kpi_mean", "kpi_p5", "kpi_p50", "kpi_p95"]
    nat = table[table["geo"] == TOTAL]
    cols += [c for c in ("observed", "in_90") if c in nat]
    print("\nKPI over all geos per period (90 % interval):")
    print(nat[cols].to_string(index=False, float_format=fmt))
    print("\nPlans over the whole horizon:")
    print(plans.to_string(index=False, float_format=fmt))
    cov = summary["coverage"]
    if cov:
        print(f"\nobserved KPI inside the intervals: {cov['in_50']:.1%} of {cov['cells']} "
              f"geo-periods in the 50 % and {cov['in_90']:.1%} in the 90 % interval (national: "
              f"{cov['national_in_50']:.1%} and {cov['national_in_90']:.1%} of "
              f"{cov['national_periods']} periods)")
