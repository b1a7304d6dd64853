"""Judging fits on simulated panels against the simulator's truth.

- :func:`interval_rows`: per channel, whether the central 50 % and 90 % posterior intervals of ROI
  and marginal ROI cover the true values, and the error of the posterior median;
- :func:`truth_as_draw`: the default simulator's truth as one posterior draw of the model;
- :func:`true_value`, :func:`true_optimum`, :func:`replan_capture`: a budget plan judged under the
  simulator's TRUE response (``mmm_geo.data.simulate.true_revenue``), the best plan under it, and
  the share of the true attainable uplift the optimizer's recommendation captures;
- :func:`evaluate_panel`: one panel of the coverage battery (``scripts/coverage.py``) fitted with
  the library and judged; :func:`class_table`, :func:`capture_summary`: the battery's summary.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import (FitConfig, InferenceConfig, OptimizeConfig, OptimizerConfig,
                            SimulationConfig, config_hash, with_overrides)
from mmm_geo.analysis.checks import true_metric
from mmm_geo.data.sim_wide import CLASSES
from mmm_geo.data.simulate import true_revenue
from mmm_geo.optimize.problem import Problem, cells, current_mix, to_decision

METRICS = ("roi", "mroi")
MIN_UPLIFT = 0.02      # capture is summarised also over panels whose true attainable uplift is >= 2 %


# ---------------------------------------------------------------- intervals

def interval_rows(posterior: xr.Dataset, truth: dict) -> pd.DataFrame:
    """Per channel and metric (roi, mroi): truth, posterior median, central 50 % and 90 % interval
    ends, whether each interval covers the truth, the relative error of the median and the
    channel's classes (``|``-joined).

    Args:
        posterior: a posterior with ``roi`` and ``mroi`` draws (chain, draw, channel).
        truth: the simulator's truth dict.
    """
    rows = []
    for metric in METRICS:
        draws = posterior[metric].stack(sample=(dims.CHAIN, dims.DRAW)).transpose(dims.CHANNEL, "sample")
        q = np.quantile(draws.values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        for j, ch in enumerate(np.asarray(draws[dims.CHANNEL].values).astype(str)):
            true = true_metric(truth, metric, ch)
            rows.append({"channel": ch, "metric": metric, "true": true, "median": q[2, j],
                         "p5": q[0, j], "p25": q[1, j], "p75": q[3, j], "p95": q[4, j],
                         "in50": bool(q[1, j] <= true <= q[3, j]),
                         "in90": bool(q[0, j] <= true <= q[4, j]),
                         "rel_error": (q[2, j] - true) / true,
                         "classes": "|".join(truth["classes"][ch])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- plans under the truth

def horizon_start(problem: Problem, ds: xr.Dataset) -> int:
    """Index in ``ds`` of the problem's first horizon week (the data's length for a future one)."""
    return int(problem.offset)


def true_value(plan: np.ndarray, problem: Problem, ds: xr.Dataset, truth: dict) -> float:
    """Incremental revenue of cell totals ``plan`` (G, C) under the simulator's TRUE response.

    The plan is spread over the horizon weeks by the problem's flighting (its exposure per unit of
    spend, normalised over the horizon), after the panel's actual spend up to the horizon, and is
    compared with no spend from the horizon on, over the horizon and every week its true carryover
    reaches.
    """
    flight = problem.unit_exposure / problem.unit_exposure.sum(axis=1, keepdims=True)
    return true_weekly_value(np.asarray(plan)[:, None, :] * flight, problem, ds, truth)


def true_weekly_value(weekly: np.ndarray, problem: Problem, ds: xr.Dataset, truth: dict) -> float:
    """Incremental revenue of weekly horizon spend ``weekly`` (G, H, C) under the TRUE response:
    after the panel's actual spend up to the horizon, against no spend from the horizon on, over
    the horizon and every week its true carryover reaches."""
    geos, chans = list(truth["geo"]), list(truth["channels"])
    if list(problem.geos) != geos or list(problem.channels) != chans:
        raise ValueError("true_value: the problem's geos and channels are not the truth's")
    spend = ds["spend"].transpose(dims.GEO, dims.TIME, dims.CHANNEL).values
    start, horizon = horizon_start(problem, ds), len(problem.weeks)
    g, _, c = spend.shape
    after = np.zeros((g, len(truth["params"]["lag_weights"]) - 1, c))
    hist = spend[:, :start]
    seq = np.concatenate([hist, np.asarray(weekly), after], axis=1)
    seq0 = np.concatenate([hist, np.zeros((g, horizon, c)), after], axis=1)
    diff = true_revenue(seq, truth) - true_revenue(seq0, truth)
    return float(diff[:, start:].sum())


def truth_as_draw(truth: dict, scaling) -> dict:
    """The simulator's true parameters as one posterior draw of the model's parameterisation
    (the model's Hill is normalised to 1 at exposure 1 and works on the scaled KPI)."""
    p = {k: np.asarray(v, float) for k, v in truth["params"].items()}
    effect = p["beta_geo"] / (scaling.kpi_scale * (1 + p["half_saturation"]))
    return {"adstock_alpha": p["alpha"][None], "saturation_half_saturation": p["half_saturation"][None],
            "saturation_slope": p["slope"][None], "media_log_effect_geo": np.log(effect)[None]}


def true_optimum(problem: Problem, value: Callable[[np.ndarray], float],
                 starts: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The best channel mix under ``value`` (SLSQP from the historical mix, the equal split and
    ``starts``, channel totals), as budget shares."""
    from scipy.optimize import minimize

    b, n = problem.budget, len(problem.channels)
    f = lambda y: -value(cells(problem, np.clip(y, 0, None) * b)) / b  # noqa: E731
    inits = [to_decision(problem, current_mix(problem)) / b, np.full(n, 1 / n)]
    inits += [np.asarray(s, float) / b for s in starts]
    runs = [minimize(f, s, method="SLSQP", bounds=[(0, 1)] * n,
                     options={"ftol": 1e-12, "maxiter": 500},
                     constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1}]) for s in inits]
    return min(runs, key=lambda r: r.fun).x


def replan_capture(run, truth: dict, weeks: int = 52) -> dict:
    """Re-plan the last ``weeks`` weeks of a loaded run at their own budget with the optimizer and
    judge it under the truth: capture = (recommended - historical) / (true optimum - historical),
    all true incremental revenue (the true optimum searched from the recommendation too)."""
    from mmm_geo.optimize.plan import plan_run

    times = pd.DatetimeIndex(run.ds.coords[dims.TIME].values)
    window = [str(times[-weeks].date()), str(times[-1].date())]
    result = plan_run(run, OptimizeConfig(window=window, optimizer=OptimizerConfig(allocation_draws=0)))
    problem = result.problem
    value = lambda plan: true_value(plan, problem, run.ds, truth)  # noqa: E731
    hist, got = value(result.plans["current"]), value(result.plans["recommended"])
    start = to_decision(problem, result.plans["recommended"])
    best = value(cells(problem, true_optimum(problem, value, [start]) * problem.budget))
    return {"true_historical": hist, "true_optimum": best, "true_recommended": got,
            "attainable_uplift": (best - hist) / hist, "capture": (got - hist) / (best - hist),
            "kkt_ok": bool(result.status["kkt_ok"])}


# ---------------------------------------------------------------- one panel of the battery

def panel_config(seed: int, geos: int = 10, weeks: int = 104, channels: int = 5,
                 quick: bool = False, max_lag: int = 13, model: Sequence[str] = (),
                 inference: Sequence[str] = ()) -> FitConfig:
    """The battery's fit of wide-family panel ``seed``: the DEFAULT model and inference (quick:
    2 chains x 200 + 200 draws, for smoke checks), with dotted ``model`` overrides (e.g.
    ``media_prior.kind=effect``) and ``inference`` overrides (e.g. ``target_accept=0.95``) to
    measure an alternative on the same panels."""
    sim = SimulationConfig(family="wide", seed=seed, geos=geos, weeks=weeks, channels=channels,
                           max_lag=max_lag)
    base = (InferenceConfig(chains=2, warmup=200, draws=200, progress_bar=False, ess_min=50)
            if quick else InferenceConfig(progress_bar=False))
    cfg = FitConfig(simulation=sim, inference=base, name=f"coverage_{seed}", seed=seed)
    return with_overrides(cfg, [f"model.{o}" for o in model] + [f"inference.{o}" for o in inference])


def evaluate_panel(cfg: FitConfig, out: Path, weeks: int = 52) -> Tuple[pd.DataFrame, dict]:
    """Fit ``cfg`` into ``out`` (reusing a finished fit of the same config there) and judge it.

    Returns:
        The channel rows (:func:`interval_rows`, with the seed; kept when only the re-plan
        failed) and the panel's row: seed, status ``ok`` or ``error`` (with the error and the end
        of its traceback in ``error``), max R-hat, divergences, sampling time and
        :func:`replan_capture`'s numbers. Never raises.
    """
    from mmm_geo.run import COMPLETE, fit, load_run

    seed, start = cfg.simulation.seed, time.perf_counter()
    panel: Dict = {"seed": seed, "status": "ok", "error": ""}
    rows = pd.DataFrame()
    try:
        done = Path(out) / COMPLETE
        if not (done.is_file() and json.loads(done.read_text()).get("config_hash") == config_hash(cfg)):
            fit(cfg, Path(out))
        run = load_run(Path(out))
        truth = json.loads((Path(out) / "truth.json").read_text())
        conv = run.metrics.get("convergence", {})
        panel.update(max_rhat=conv.get("max_rhat"), divergences=conv.get("divergences"),
                     sample_s=run.metrics.get("time", {}).get("sample_s"))
        rows = interval_rows(run.idata.posterior, truth).assign(seed=seed)
        panel.update(replan_capture(run, truth, weeks))
    except Exception as err:  # one panel's failure is recorded; the battery goes on
        panel.update(status="error", error=f"{type(err).__name__}: {err}".splitlines()[0][:300]
                     + " | " + traceback.format_exc(limit=3).replace("\n", " ")[-600:])
    panel["total_s"] = time.perf_counter() - start
    return rows, panel


# ---------------------------------------------------------------- summary

def class_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the true ROI and marginal ROI by the 50 % and 90 % intervals, and the median
    |relative ROI error|, over all channels and per class."""
    out = []
    for name in ("all",) + CLASSES:
        sub = rows if name == "all" else rows[rows["classes"].fillna("").str.split("|").apply(
            lambda labels: name in labels)]
        roi, mroi = sub[sub["metric"] == "roi"], sub[sub["metric"] == "mroi"]
        out.append({"class": name, "channels": len(roi),
                    "roi_in50": roi["in50"].mean(), "roi_in90": roi["in90"].mean(),
                    "mroi_in50": mroi["in50"].mean(), "mroi_in90": mroi["in90"].mean(),
                    "roi_median_abs_rel_error": roi["rel_error"].abs().median()})
    return pd.DataFrame(out)


def capture_summary(panels: pd.DataFrame) -> List[dict]:
    """Median and minimum capture over the finished panels, and over those whose true attainable
    uplift is at least :data:`MIN_UPLIFT` (elsewhere the ratio divides by almost nothing)."""
    if "capture" not in panels:
        panels = panels.assign(capture=np.nan, attainable_uplift=np.nan)
    ok = panels[(panels["status"] == "ok") & panels["capture"].notna()]
    big = ok[ok["attainable_uplift"] >= MIN_UPLIFT]
    return [{"panels": label, "n": len(sub), "median_capture": sub["capture"].median() if len(sub) else None,
             "min_capture": sub["capture"].min() if len(sub) else None}
            for label, sub in [("all finished", ok), (f"attainable uplift >= {MIN_UPLIFT:.0%}", big)]]
