"""``mmm-geo forecast``: the future trend's slope changes against their analytic spread, the
forecast mean against the model's own decomposition (in a historical window and, with the trend
held flat, on held-out weeks), observation noise in the intervals, scenario comparison of plan
files and the CLI, on the session's quick run (no new fits)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmm_geo.analysis.contributions import decomposition
from mmm_geo.analysis.draws import thin
from mmm_geo.errors import ConfigError, DataError
from mmm_geo.forecast import forecast, knot_values, run_forecast, trend_paths
from mmm_geo.model.hierarchical import trend_basis
from mmm_geo.plan_config import ForecastConfig
from test_horizon import plan_frame


def test_trend_knots_are_read_back_exactly():
    z = np.random.default_rng(0).normal(0, 0.3, (5, 4))
    path, values = knot_values(z, 60, 50)
    np.testing.assert_allclose(path, z @ trend_basis(60, 4, 50)[:50].T)
    knots = np.linspace(0, 49, 5)
    rebuilt = np.stack([np.interp(np.arange(50), knots, v) for v in values])
    np.testing.assert_allclose(rebuilt, path, atol=1e-12)       # piecewise linear in those knots


def test_future_trend_slope_changes_have_the_fitted_scale():
    rng = np.random.default_rng(1)
    n_fit, n_knots = 41, 4                                       # knots 10 periods apart
    z = np.repeat(rng.normal(0, 0.3, (1, n_knots)), 40000, axis=0)   # one draw, many futures
    _, values = knot_values(z[:1], n_fit, n_fit)
    slopes = np.diff(values[0]) / 10.0
    r = np.sqrt(np.mean(np.diff(slopes) ** 2))
    idx = np.arange(30, 66)                                      # in-sample, then 25 periods ahead
    out = trend_paths(z, n_fit, n_fit, idx, "changes", np.random.default_rng(2))
    flat = trend_paths(z[:3], n_fit, n_fit, idx, "flat", rng)
    inside = idx < n_fit
    np.testing.assert_allclose(out[:, inside], np.broadcast_to(out[0, inside], out[:, inside].shape))
    np.testing.assert_allclose(flat[:, ~inside], values[0, -1])
    tau = idx[~inside] - (n_fit - 1)
    mean_path = values[0, -1] + slopes[-1] * tau                  # the last slope continues ...
    want_sd = r * np.sqrt(tau ** 2 + np.clip(tau - 10, 0, None) ** 2 + np.clip(tau - 20, 0, None) ** 2)
    np.testing.assert_allclose(out[:, ~inside].mean(0), mean_path, atol=4 * want_sd.max() / 200)
    np.testing.assert_allclose(out[:, ~inside].std(0), want_sd, rtol=0.03)   # ... and spreads
    linear = trend_paths(np.repeat(z[:1], 3, 0) * 0 + np.linalg.lstsq(
        trend_basis(n_fit, n_knots), np.linspace(-0.2, 0.2, n_fit), rcond=None)[0], n_fit, n_fit,
        idx, "changes", rng)
    np.testing.assert_allclose(linear[:, ~inside], np.broadcast_to(
        0.2 + 0.4 / 40 * tau, (3, len(tau))), atol=1e-9)         # no fitted changes: a straight line


def test_future_levels_of_a_time_effect_are_draws_of_its_fitted_levels():
    """One knot per period (a weekly time effect): each future period's level is a fresh draw
    with the mean and spread of the draw's fitted levels, not a random walk of slopes."""
    n_fit = 30
    z = np.repeat(np.random.default_rng(3).normal(0, 0.3, (1, n_fit - 1)), 40000, axis=0)
    path, values = knot_values(z[:1], n_fit, n_fit)
    np.testing.assert_allclose(values, path, atol=1e-10)            # the knots are the periods
    out = trend_paths(z, n_fit, n_fit, np.arange(n_fit, n_fit + 13), "levels",
                      np.random.default_rng(4))
    m, d = values.mean(), values.std()
    np.testing.assert_allclose(out.mean(0), m, atol=4 * d / 200)
    np.testing.assert_allclose(out.std(0), d, rtol=0.03)
    assert abs(np.corrcoef(out[:, 3], out[:, 4])[0, 1]) < 0.03     # independent periods
    wide = trend_paths(z, n_fit, n_fit, np.arange(n_fit, n_fit + 13), "changes",
                       np.random.default_rng(4)).std(0)
    assert wide[-1] > 20 * d                                        # slope changes would explode


@pytest.fixture(scope="module")
def quick(quick_run):
    from mmm_geo.run import load_run

    return load_run(quick_run)


def _per_draw_expected(run, train, weeks, draws=None):
    dec = decomposition(thin(run.idata.posterior, draws), run.ds, run.scaling, run.config.model,
                        train)
    return dec["expected"].isel(time=weeks).stack(s=("chain", "draw")).transpose("s", ...).values


def test_forecast_of_a_window_matches_the_model_and_includes_noise(quick):
    cfg = ForecastConfig(dates=["2023-05-01", "2023-05-08", "2023-05-15", "2023-05-22"])
    table, plans, summary = forecast(quick, cfg)
    rows = table[table["geo"] != "total"]
    want = _per_draw_expected(quick, None, slice(17, 21))        # weeks 17-20 of the data
    np.testing.assert_allclose(rows["expected_mean"].to_numpy().reshape(3, 4), want.mean(0), rtol=2e-5)
    sigma = float(quick.idata.posterior["sigma"].mean())         # normal noise on the scaled KPI
    unit = quick.scaling.kpi_scale * quick.ds["population"].values[:, None]
    spread = (rows["kpi_p95"] - rows["kpi_p5"]).to_numpy().reshape(3, 4)
    assert np.all(spread > 2 * 1.645 * sigma * unit * 0.8)       # at least the noise's own width
    obs = quick.ds["kpi"].values[:, 17:21]
    np.testing.assert_allclose(rows["observed"].to_numpy().reshape(3, 4), obs)
    assert summary["plans"] == ["recorded"] and summary["coverage"]["cells"] == 12
    assert summary["coverage"]["in_90"] == pytest.approx(rows["in_90"].mean())
    assert plans["spend"].iloc[0] == pytest.approx(quick.ds["spend"].values[:, 17:21].sum())
    again = forecast(quick, cfg)[0]
    pd.testing.assert_frame_equal(table, again)                  # same config + seed, same result


def test_held_out_weeks_with_a_flat_trend_match_the_fit(quick):
    """A run whose last 8 weeks were held out forecasts them under their recorded spend; with the
    trend held flat the mean is the fit's own (the decomposition with the same training mask)."""
    train = np.arange(40) < 32
    idata = quick.idata.copy()
    idata.constant_data = idata.constant_data.assign(train=(("time",), train))
    run = quick._replace(idata=idata)
    table, _, summary = forecast(run, ForecastConfig(trend="flat", draws=100))
    assert summary["horizon"][0] == "2023-08-14" and len(summary["horizon"]) == 8
    rows = table[table["geo"] != "total"]
    want = _per_draw_expected(run, train, slice(32, 40), 100).mean(0)
    np.testing.assert_allclose(rows["expected_mean"].to_numpy().reshape(3, 8), want, rtol=2e-5)
    assert summary["coverage"]["cells"] == 24 and "in_50" in rows
    moved = forecast(run, ForecastConfig(trend="changes", draws=100))[0]
    nat = moved[moved["geo"] == "total"]
    width = (nat["kpi_p95"] - nat["kpi_p5"]).to_numpy()
    flat = table[table["geo"] == "total"]
    assert np.all(width >= (flat["kpi_p95"] - flat["kpi_p5"]).to_numpy() * 0.95)
    assert width[-1] > width[0]                                 # trend uncertainty grows ahead


def test_time_varying_effects_are_held_at_the_data_s_last_period(quick):
    """A model with time-varying media effects: beyond the data each channel keeps the
    multiplier of the data's last period (as the optimizer does)."""
    from mmm_geo.model.time_varying import SITE

    post = quick.idata.posterior
    shape = (post.sizes["chain"], post.sizes["draw"], 40, 2)
    site = np.zeros(shape)
    site[:, :, -1] = np.log(2.0)                      # doubled in the last data week only
    varying, doubled = quick.idata.copy(), quick.idata.copy()
    varying.posterior = post.assign({SITE: (("chain", "draw", "time", "channel"), site)})
    doubled.posterior = post.assign(media_log_effect_geo=post["media_log_effect_geo"] + np.log(2))
    cfg = ForecastConfig(start="2023-10-16", weeks=3, draws=40)
    got = forecast(quick._replace(idata=varying), cfg)[0]
    want = forecast(quick._replace(idata=doubled), cfg)[0]
    np.testing.assert_allclose(got["expected_mean"], want["expected_mean"], rtol=1e-5)


def test_scenarios_compare_plans_without_optimising(quick_run, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    base = plan_frame(start="2023-10-09", weeks=6)
    base.to_csv(a, index=False)
    base.assign(tv_spend=3 * base["tv_spend"], tv_impressions=3 * base["tv_impressions"],
                search_spend=3 * base["search_spend"]).to_csv(b, index=False)
    proc = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "forecast", f"run={quick_run}",
                           f"plan=[{a},{b}]", "draws=120", "output=fc_test"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = quick_run / "fc_test"
    plans = pd.read_csv(folder / "scenarios.csv")
    assert list(plans["plan"]) == ["a", "b"] and plans["first_week"].iloc[0] == "2023-10-09"
    assert plans["spend"].iloc[1] == pytest.approx(3 * plans["spend"].iloc[0])
    assert plans["vs_first_mean"].iloc[1] > 0 and plans["p_above_first"].iloc[1] > 0.9
    table = pd.read_csv(folder / "forecast.csv")
    assert len(table) == 2 * 6 * (3 + 1) and table["week"].iloc[0] == "2023-10-09"
    assert (table["kpi_p5"] <= table["kpi_p50"]).all() and (table["kpi_p50"] <= table["kpi_p95"]).all()
    assert json.loads((folder / "forecast.json").read_text())["coverage"] is None
    assert not (folder / "allocation.csv").exists()          # nothing was optimised


def test_forecast_errors(quick, tmp_path):
    with pytest.raises(ConfigError, match="trend='linear' is unknown"):
        forecast(quick, ForecastConfig(trend="linear"))
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    plan_frame(weeks=4).to_csv(a, index=False)
    plan_frame(weeks=5).to_csv(b, index=False)
    with pytest.raises(ConfigError, match="compare plans over the same periods"):
        forecast(quick, ForecastConfig(plan=[str(a), str(b)]))
    with pytest.raises(ConfigError, match="budget= scales the historical pattern"):
        forecast(quick, ForecastConfig(plan=str(a), budget=1e5))
    plan_frame(weeks=4).assign(geo="geo_07").to_csv(b, index=False)
    with pytest.raises(DataError, match="unknown geo 'geo_07'"):
        forecast(quick, ForecastConfig(plan=str(b)))
    with pytest.raises(ConfigError, match="straddles the data's last period"):
        forecast(quick, ForecastConfig(period="2023Q4"))
    with pytest.raises(ConfigError, match="no run given"):
        run_forecast(ForecastConfig())
