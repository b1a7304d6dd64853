"""Lift-test calibration: the model's lift against the simulator's independent truth, the spend
semantics, validation errors, held-out tests, the likelihood term, and (slow) recovery of an
always-on channel's ROI that observational data alone leave to extrapolation."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy.stats import norm

from mmm_geo.config import AdstockConfig, FitConfig, ModelConfig, SimulationConfig
from mmm_geo.data.lift import lift_kpi_units, with_lift_tests
from mmm_geo.data.load import to_dataset
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.data.simulate import data_config, lift_table, simulate
from mmm_geo.errors import DataError
from mmm_geo.model import media as mm
from mmm_geo.model.hierarchical import model, params_from_samples

ALWAYS_ON = SimulationConfig(dark_min=0.0, lift_tests=4)   # tv never paused; one test per channel


def panel(sim):
    frame, truth = simulate(sim)
    return to_dataset(frame, data_config(sim), "sim"), truth


def truth_params(truth, kpi_scale):
    """The simulator's parameters in the model's parameterisation (Hill normalised at 1)."""
    p = {k: np.asarray(v, float) for k, v in truth["params"].items()}
    return {"adstock_alpha": p["alpha"], "saturation_half_saturation": p["half_saturation"],
            "saturation_slope": p["slope"],
            "media_log_effect_geo": np.log(p["beta_geo"] / (kpi_scale * (1 + p["half_saturation"])))}


@pytest.mark.parametrize("seed", [0, 1])
def test_model_lift_with_true_parameters_is_the_simulators_true_lift(seed):
    sim = SimulationConfig(seed=seed, lift_tests=6, dark_min=0.0)
    ds, truth = panel(sim)
    ds = with_lift_tests(ds, lift_table(truth), "lift")
    scaling = fit_scaling(ds)
    data = model_data(ds, scaling, np.float64)
    with jax.enable_x64(True):
        model = ModelConfig(adstock=AdstockConfig(kind="geometric", max_lag=sim.max_lag))
        got = np.asarray(mm.lift(mm.spec(model, data.media.shape[-1]),
                                 jax.tree.map(jnp.asarray, truth_params(truth, scaling.kpi_scale)),
                                 jnp.asarray(data.media), jax.tree.map(jnp.asarray, data.lift)))
    true = [row["true_lift"] for row in truth["lift_tests"]]
    np.testing.assert_allclose(got * lift_kpi_units(ds, scaling.kpi_scale), true, rtol=1e-9)


def _table(ds, **cols):
    base = {"channel": ["tv"], "geo": [str(ds.geo.values[0])], "start": [str(ds.time.values[10])[:10]],
            "end": [str(ds.time.values[13])[:10]], "lift": [1000.0], "lift_se": [100.0],
            "spend": ["all"], "cooldown": [0]}
    return pd.DataFrame({**base, **cols})


def test_spend_change_is_spread_by_recorded_spend_or_evenly(tiny_dataset):
    ds = tiny_dataset
    cells = ds["spend"].values[0, 10:14, 0]
    half = with_lift_tests(ds, _table(ds, spend=[0.5 * cells.sum()]), "t")
    np.testing.assert_allclose(half["lift_spend"].values[0, 0, 10:14], 0.5 * cells)
    assert half["lift_spend"].values[0, 1:].sum() == 0 and half["lift_spend"].values[0, 0, 14:].sum() == 0
    everything = with_lift_tests(ds, _table(ds, spend=["all"]), "t")
    np.testing.assert_allclose(everything["lift_spend"].values[0, 0, 10:14], cells)
    data = model_data(everything, fit_scaling(everything), np.float64)
    np.testing.assert_allclose(data.lift.delta[0, 0, 10:14], data.media[0, 10:14, 0], rtol=1e-12)
    dark = ds.copy(deep=True)
    dark["spend"][0, 10:14, 0] = 0.0
    dark["exposure"][0, 10:14, 0] = 0.0
    removed = with_lift_tests(dark, _table(ds, spend=[-400.0]), "t")
    np.testing.assert_allclose(removed["lift_spend"].values[0, 0, 10:14], -100.0)
    assert list(with_lift_tests(ds, _table(ds, geo=["all"]), "t")["lift_window"].values[0, :, 10]) == [1, 1, 1]
    cooled = with_lift_tests(ds, _table(ds, cooldown=[3]), "t")       # measured 3 weeks longer
    np.testing.assert_array_equal(cooled["lift_window"].values[0, 0, 8:19], [0, 0] + [1] * 7 + [0, 0])
    np.testing.assert_allclose(cooled["lift_spend"].values[0, 0, 14:], 0.0)


@pytest.mark.parametrize("change, column, words", [
    ({"channel": ["radio"]}, "channel", "unknown channel 'radio'"),
    ({"geo": ["atlantis"]}, "geo", "unknown geo 'atlantis'"),
    ({"start": ["2030-01-01"], "end": ["2030-02-01"]}, "start, end", "outside the data"),
    ({"start": ["2023-06-01"], "end": ["2023-05-01"]}, "start, end", "start after end"),
    ({"lift_se": [0.0]}, "lift_se", "must be > 0"),
    ({"lift": ["big"]}, "lift", "non-numeric"),
    ({"lift": [float("nan")]}, "lift", "missing"),
    ({"spend": [1e12]}, "spend", "more spend added than the data record"),
    ({"spend": [""]}, "spend", "not a number or 'all'"),
    ({"spend": [0.0]}, "spend", "zero spend change"),
    ({"cooldown": [1.5]}, "cooldown", "not a whole number"),
    ({"cooldown": [100]}, "cooldown", "run past the data"),
])
def test_bad_lift_tests_name_the_file_column_row_and_fix(tiny_dataset, change, column, words):
    table = pd.concat([_table(tiny_dataset), _table(tiny_dataset, **change)], ignore_index=True)
    with pytest.raises(DataError) as err:
        with_lift_tests(tiny_dataset, table, "lifts.csv")
    message = str(err.value)
    assert message.startswith(f"lifts.csv, column '{column}'") and words in message
    assert "row 2" in message and "fix:" in message


def test_missing_lift_column_and_cli_exit_2_without_traceback(tiny_dataset, tmp_path):
    with pytest.raises(DataError, match="column 'lift_se': missing column"):
        with_lift_tests(tiny_dataset, _table(tiny_dataset).drop(columns="lift_se"), "x.csv")
    no_spend = with_lift_tests(tiny_dataset, _table(tiny_dataset).drop(columns=["spend", "geo"]), "x.csv")
    np.testing.assert_allclose(no_spend["lift_spend"].values[0, :, 10:14],
                               tiny_dataset["spend"].values[:, 10:14, 0])     # all geos, all spend
    sim_dir = tmp_path / "sim"
    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "simulate", "simulation.geos=3",
                          "simulation.weeks=40", "simulation.channels=2", "simulation.max_lag=4",
                          "simulation.lift_tests=2", f"out={sim_dir}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    bad = pd.read_csv(sim_dir / "lift_tests.csv").assign(channel=["tv", "radio"])
    bad.to_csv(sim_dir / "lift_tests.csv", index=False)
    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "fit", "--config-dir", str(sim_dir),
                          "data=simulated", "model.adstock.max_lag=4", f"output_dir={tmp_path / 'run'}"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "lift_tests.csv, column 'channel': unknown channel 'radio' in row 2" in res.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_lift_tests_in_held_out_periods_are_left_out(tiny_dataset):
    ds = tiny_dataset
    late = _table(ds, start=[str(ds.time.values[30])[:10]], end=[str(ds.time.values[33])[:10]])
    ds = with_lift_tests(ds, pd.concat([_table(ds), late], ignore_index=True), "t")
    scaling = fit_scaling(ds)
    assert model_data(ds, scaling).lift.y.shape == (2,)
    assert model_data(ds, scaling, n_train=32).lift.y.shape == (1,)
    assert model_data(ds, scaling, n_train=12).lift is None


def test_lift_likelihood_is_a_normal_term_on_the_model_lift(tiny_dataset):
    """log p(data, lift) - log p(data) = Normal log density of the measured lift around the model's."""
    ds = with_lift_tests(tiny_dataset, _table(tiny_dataset, spend=["all"]), "t")
    scaling = fit_scaling(ds)
    cfg = ModelConfig(adstock=AdstockConfig(kind="geometric", max_lag=4), trend_knots=0, fourier_order=0)
    data = jax.tree.map(jnp.asarray, model_data(ds, scaling))
    sites = Predictive(model, num_samples=1)(jax.random.PRNGKey(0), data, cfg)
    latent = {k: v[0] for k, v in sites.items() if k not in ("y", "lift", "baseline")}
    with_lift, _ = log_density(model, (data, cfg), {"y": data.y}, latent)
    without, _ = log_density(model, (data._replace(lift=None), cfg), {"y": data.y}, latent)
    params = params_from_samples({k: v[None] for k, v in latent.items()}, cfg, 2, 3)
    pred = mm.lift(mm.spec(cfg, 2), {k: v[0] for k, v in params.items()}, data.media, data.lift)
    expected = norm.logpdf(np.asarray(data.lift.y), np.asarray(pred), np.asarray(data.lift.se)).sum()
    assert float(with_lift - without) == pytest.approx(expected, rel=1e-4, abs=1e-4)


@pytest.mark.study
@pytest.mark.slow
def test_lift_tests_recover_an_always_on_channels_roi(tmp_path):
    """tv is never paused (dark_min=0): its ROI is the response from zero, which its data only
    reach by extrapolation. Measured without lift tests (same panel): median 1.29, 90 % interval
    [0.85, 2.01], true 1.85 (-30 %). With four geo experiments (one per channel, 3 of 10 geos,
    8 weeks plus a 7-week cooldown, SE 10 % of the true lift; tv's measurement drew 10 % low):
    median 1.51, [1.15, 2.03] (-18 %). Asserted: convergence, every channel's median within 20 %
    of the truth and inside its 90 % interval, and agreement with every test."""
    from mmm_geo.run import fit

    out = tmp_path / "run"
    metrics = fit(FitConfig(simulation=ALWAYS_ON), out)
    conv = metrics["convergence"]
    assert conv["max_rhat"] <= 1.01 and conv["divergences"] == 0 and conv["min_ess_bulk"] >= 400, conv
    summary = pd.read_csv(out / "summary.csv")
    roi = summary[summary["metric"] == "roi"].set_index("channel")
    truth = json.loads((out / "truth.json").read_text())["national"]
    for channel, row in roi.iterrows():
        true = truth[channel]["roi"]
        assert row["p5"] <= true <= row["p95"], (channel, true, row.to_dict())
        assert abs(row["median"] / true - 1) <= 0.20, (channel, true, row.to_dict())
    lift = pd.read_csv(out / "lift_tests.csv")
    assert len(lift) == 4 and lift["used_in_fit"].all() and lift["agrees"].all(), lift
    assert metrics["lift_tests"] == {"tests": 4, "used_in_fit": 4, "agree": 4}


def test_the_lift_fast_path_equals_the_general_one(tiny_dataset):
    """One response evaluation of the tested columns gives each test's lift as the total-effect
    difference does (tests on both channels, one channel twice)."""
    ds = tiny_dataset
    tables = [_table(ds), _table(ds, channel=["search"]), _table(ds, geo=[str(ds.geo.values[1])])]
    ds = with_lift_tests(ds, pd.concat(tables, ignore_index=True), "t")
    data = model_data(ds, fit_scaling(ds))
    sp = mm.spec(ModelConfig(adstock=AdstockConfig(kind="geometric", max_lag=4)), 2)
    rng = np.random.default_rng(0)
    p = {s.name: jnp.asarray(rng.uniform(0.3, 0.8, 2)) for s in sp.sites}
    p["media_log_effect_geo"] = jnp.asarray(rng.normal(-2, 0.3, (3, 2)))
    tests = jax.tree.map(jnp.asarray, data.lift)
    fast = mm.lift(sp, p, jnp.asarray(data.media), tests)
    np.testing.assert_allclose(fast, mm._general_lift(sp, p, jnp.asarray(data.media), tests), rtol=1e-5)
    assert fast.shape == (3,) and np.all(np.asarray(fast) > 0)
