"""The weekly timing optimizer (``timing=true``): its response is the totals' response, its value
under the truth is the independent simulator's, its plans keep every cell total and week cap, it
finds the true optimum of the weekly flighting when given the truth, and the CLI writes it."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from mmm_geo.config import AdstockConfig, ModelConfig, OptimizeConfig, SimulationConfig
from mmm_geo.coverage import true_weekly_value, truth_as_draw
from mmm_geo.model import media as mm
from mmm_geo.optimize.objective import Spec
from mmm_geo.optimize.problem import current_mix
from mmm_geo.optimize.response import build_terms, values
from mmm_geo.optimize.solver import Settings
from mmm_geo.optimize.timing import _Args, optimize_timing, project_cells, weekly_values
from tests.test_optimize import data3, default_params, panel, setup  # noqa: F401

SETTINGS = Settings(tol=1e-4, max_iter=4000)
SIM = SimulationConfig(geos=4, weeks=80, channels=3, seed=3, max_lag=6)
MODEL = ModelConfig(adstock=AdstockConfig(kind="geometric", max_lag=SIM.max_lag))


@pytest.fixture(scope="module")
def truth_panel():
    return panel(SIM)


def window(ds, weeks=13, end=-1):
    times = pd.DatetimeIndex(ds.coords["time"].values)
    return [str(times[end - weeks + 1].date()), str(times[end].date())]


def test_history_pattern_values_equal_the_totals_response(data3):
    """The weekly path evaluates a plan spread by the historical pattern exactly as the totals'
    optimizer evaluates its cell totals (fast path)."""
    from tests.test_optimize import MODEL3

    problem, terms = setup(data3, OptimizeConfig(horizon_weeks=8), default_params(), MODEL3)
    plan = current_mix(problem) * np.random.default_rng(0).uniform(0.5, 1.5, problem.reference.shape)
    sp = mm.spec(MODEL3, 3)
    args = _Args(terms, jnp.asarray(problem.weights, jnp.float32),
                 jnp.asarray(problem.conversion, jnp.float32), jnp.asarray(1.0))
    weekly = weekly_values(jnp.asarray(plan[:, None, :] * problem.pattern, jnp.float32), args, sp)
    totals = values(jnp.asarray(plan, jnp.float32), terms, args.weights, sp)
    np.testing.assert_allclose(np.asarray(weekly), np.asarray(totals), rtol=2e-5)


def test_projection_keeps_each_cell_total_and_cap():
    rng = np.random.default_rng(1)
    totals = rng.uniform(0.0, 1.0, (3, 2))
    totals[1, 0] = 0.0
    hi = np.broadcast_to((totals * 2.5 / 6)[:, None, :], (3, 6, 2))
    v = rng.normal(0.1, 0.3, 3 * 6 * 2)
    x = np.asarray(project_cells(jnp.asarray(v), jnp.asarray(hi.ravel()),
                                 jnp.asarray(totals))).reshape(3, 6, 2)
    np.testing.assert_allclose(x.sum(1), totals, atol=1e-6)
    assert np.all(x >= -1e-7) and np.all(x <= hi + 1e-6)
    # and it is the closest such point: a feasible perturbation never gets closer to v
    for _ in range(20):
        d = rng.normal(0, 1e-3, x.shape)
        d -= d.mean(1, keepdims=True)
        y = x + d
        if np.all(y >= 0) and np.all(y <= hi):
            assert np.sum((y.ravel() - v) ** 2) >= np.sum((x.ravel() - v) ** 2) - 1e-9


@pytest.mark.parametrize("cap", [None, 2.0])
def test_with_the_truth_timing_finds_the_true_best_flighting(truth_panel, cap):
    """With the simulator's truth as the only draw, the value of a weekly plan is the
    simulator's (an independent implementation), and the timed flighting is at least as good
    under the truth as a generic optimiser's (SLSQP on the simulator's own response)."""
    from scipy.optimize import minimize

    ds, scaling, truth = truth_panel
    cfg = OptimizeConfig(window=window(ds))
    params = truth_as_draw(truth, scaling)
    problem, terms = setup(truth_panel, cfg, params, MODEL)
    totals = current_mix(problem)
    timed = optimize_timing(problem, terms, Spec("channel", mm.spec(MODEL, 3)), SETTINGS, totals,
                            week_cap=cap)
    assert timed.status["kkt_ok"], timed.status
    np.testing.assert_allclose(timed.weekly.sum(1), totals, rtol=1e-9)
    if cap is not None:
        assert np.all(timed.weekly <= cap * totals[:, None, :] / 13 * (1 + 1e-9))
    true = lambda w: true_weekly_value(w, problem, ds, truth)  # noqa: E731
    with jax.enable_x64(True):
        terms64 = build_terms(params, problem, MODEL, jnp.float64)
        args = _Args(terms64, jnp.asarray(problem.weights), jnp.asarray(problem.conversion),
                     jnp.asarray(1.0))
        mine = float(weekly_values(jnp.asarray(timed.weekly), args, mm.spec(MODEL, 3))[0])
    assert mine == pytest.approx(true(timed.weekly), rel=1e-6)
    hist, got = true(timed.history), true(timed.weekly)
    assert got > hist

    g, h, c = timed.weekly.shape
    hi = np.inf if cap is None else cap / h

    def neg(z):   # z: each cell's weekly shares of its total, (G, H, C)
        return -true(z.reshape(g, h, c) * totals[:, None, :]) / totals.sum()

    cons = [{"type": "eq", "fun": lambda z, i=i, j=j: z.reshape(g, h, c)[i, :, j].sum() - 1}
            for i in range(g) for j in range(c)]
    start = (timed.history / totals[:, None, :]).ravel()
    best = minimize(neg, start, method="SLSQP", bounds=[(0, hi)] * (g * h * c), constraints=cons,
                    options={"maxiter": 300, "ftol": 1e-12})
    slsqp = true(best.x.reshape(g, h, c) * totals[:, None, :])
    assert (got - hist) >= 0.995 * (slsqp - hist), (hist, got, slsqp)


def test_cli_timing_writes_the_weekly_flighting(quick_run, tmp_path):
    out = "opt_timing"
    cmd = [sys.executable, "-m", "mmm_geo.cli", "optimize", f"run={quick_run}", "timing=true",
           "week_cap=3", f"output={out}", "optimizer.allocation_draws=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Recommended weekly flighting" in proc.stdout and "timing adds" in proc.stdout
    folder = quick_run / out
    timing = pd.read_csv(folder / "timing.csv")
    flight = pd.read_csv(folder / "flighting.csv")
    alloc = pd.read_csv(folder / "allocation.csv")
    per_channel = timing.groupby("channel")[["history_pattern", "timed"]].sum()
    rec = alloc.set_index("channel")["recommended"]
    np.testing.assert_allclose(per_channel["timed"].loc[rec.index], rec, rtol=1e-6)
    np.testing.assert_allclose(per_channel["history_pattern"].loc[rec.index], rec, rtol=1e-6)
    cells = flight.groupby(["geo", "channel"])[["recommended", "timed"]].sum()
    np.testing.assert_allclose(cells["timed"], cells["recommended"], rtol=1e-6)
    avg = flight.groupby(["geo", "channel"])["timed"].transform("mean")
    assert np.all(flight["timed"] <= 3 * avg * (1 + 1e-6) + 1e-9)
    summary = json.loads((folder / "optimize.json").read_text())
    t = summary["timing"]
    assert t["week_cap"] == 3 and t["gain_p5"] <= t["gain_mean"] <= t["gain_p95"]
    outcomes = pd.read_csv(folder / "outcomes.csv").set_index("plan")
    assert "timed" in outcomes.index
    assert outcomes.loc["timed", "spend"] == pytest.approx(outcomes.loc["recommended", "spend"])


def test_week_cap_below_one_is_a_user_error(quick_run):
    cmd = [sys.executable, "-m", "mmm_geo.cli", "optimize", f"run={quick_run}", "timing=true",
           "week_cap=0.5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "week_cap" in proc.stderr and "Traceback" not in proc.stderr
