"""A saved run: files, ArviZ groups and coords, loading back, incomplete runs, determinism."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from mmm_geo.config import InferenceConfig
from mmm_geo.errors import RunError
from mmm_geo.run import fit, load_run
from tests.conftest import TINY_SIM, quick_fit_config

GROUPS = {"posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood",
          "posterior_predictive"}


def test_run_folder_has_every_output(quick_run):
    for name in ("trace.nc", "config.yaml", "scaling.json", "metrics.json", "diagnostics.csv",
                 "summary.csv", "truth.json"):
        assert (quick_run / name).is_file(), name
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert metrics["complete"] is True
    for key in ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "bfmi_min"):
        assert key in metrics["convergence"]
    assert 0 < metrics["fit"]["r2"] <= 1 and metrics["fit"]["mape"] >= 0
    assert metrics["time"]["sample_s"] > 0


def test_load_run_without_refitting(quick_run, tiny_dataset):
    run = load_run(quick_run)
    assert GROUPS <= set(run.idata.groups())
    post = run.idata.posterior
    assert list(post.coords["channel"].values) == list(tiny_dataset.coords["channel"].values)
    assert post["roi"].dims == ("chain", "draw", "channel")
    assert run.idata.log_likelihood["kpi"].dims == ("chain", "draw", "geo", "time")
    np.testing.assert_allclose(run.ds["kpi"].values, tiny_dataset["kpi"].values)
    np.testing.assert_allclose(run.ds["spend"].values, tiny_dataset["spend"].values)
    assert run.config.simulation == TINY_SIM
    # predictions are in the user's units: the posterior predictive mean tracks the observed KPI
    pred = run.idata.posterior_predictive["kpi"].mean(("chain", "draw")).values
    assert abs(pred.mean() / tiny_dataset["kpi"].values.mean() - 1) < 0.05


def test_incomplete_and_corrupt_runs_are_refused(quick_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(quick_run, broken)
    (broken / "metrics.json").unlink()
    with pytest.raises(RunError, match="not a complete run"):
        load_run(broken)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(quick_run, corrupt)
    (corrupt / "trace.nc").write_bytes(b"not a netcdf file")
    with pytest.raises(RunError, match="trace.nc: corrupt: its SHA-256"):
        load_run(corrupt)


def test_same_config_and_seed_give_the_same_posterior(tmp_path):
    cfg = quick_fit_config()
    cfg = dataclasses.replace(cfg, inference=InferenceConfig(chains=2, warmup=40, draws=40,
                                                             progress_bar=False))
    fit(cfg, tmp_path / "a")
    fit(cfg, tmp_path / "b")
    a, b = load_run(tmp_path / "a").idata.posterior, load_run(tmp_path / "b").idata.posterior
    for name in ("media_log_effect_geo", "roi", "baseline"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    other = dataclasses.replace(cfg, seed=1)
    fit(other, tmp_path / "c")
    assert not np.array_equal(a["roi"].values, load_run(tmp_path / "c").idata.posterior["roi"].values)


def test_rolling_origin_folds_forecast_unseen_periods(tmp_path):
    """validation.folds=2, holdout=8 on 40 weeks: folds train on 24 and 32 weeks; the run's trace
    is the last fold's fit, scored only on what it saw (log-likelihood) and forecasting the rest."""
    from mmm_geo.config import ValidationConfig

    cfg = dataclasses.replace(quick_fit_config(), validation=ValidationConfig(holdout=8, folds=2))
    metrics = fit(cfg, tmp_path / "cv")
    folds = metrics["cv"]["folds"]
    assert [(f["fold"], f["train_periods"], f["test_periods"]) for f in folds] == [(1, 24, 8), (2, 32, 8)]
    assert metrics["objective"] == pytest.approx(np.mean([f["mape"] for f in folds]))
    assert metrics["holdout"]["mape"] == pytest.approx(folds[-1]["mape"])
    idata = load_run(tmp_path / "cv").idata
    assert idata.constant_data["train"].values.sum() == 32
    assert idata.log_likelihood.sizes["time"] == 32
    assert idata.posterior_predictive.sizes["time"] == 40
    assert {"prior", "prior_predictive"} <= set(idata.groups())
    # honest forecasts: the 90 % predictive interval covers most held-out observations (the
    # simulator's noise is 5 %, so a forecast that ignored the fit would still be far wider)
    obs = idata.observed_data["kpi"].values[:, 32:]
    pp = idata.posterior_predictive["kpi"].values[..., 32:]
    lo, hi = np.quantile(pp, [0.05, 0.95], axis=(0, 1))
    coverage = np.mean((lo <= obs) & (obs <= hi))
    print("holdout coverage", coverage, metrics["holdout"], folds)
    assert coverage >= 0.75


def test_holdout_that_leaves_too_little_training_is_a_config_error(tmp_path):
    from mmm_geo.config import ValidationConfig
    from mmm_geo.errors import ConfigError

    cfg = dataclasses.replace(quick_fit_config(), validation=ValidationConfig(holdout=20, folds=2))
    with pytest.raises(ConfigError, match="validation.holdout=20 with 2 fold"):
        fit(cfg, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_more_trend_knots_than_training_weeks_is_a_config_error(tmp_path):
    """Meridian's one-knot-per-week experiment with a holdout: a clear message before any fit."""
    from mmm_geo.config import ValidationConfig
    from mmm_geo.errors import ConfigError

    base = quick_fit_config()
    cfg = dataclasses.replace(base, validation=ValidationConfig(holdout=8),
                              model=dataclasses.replace(base.model, trend_knots=39))
    with pytest.raises(ConfigError, match=r"(?s)model.trend_knots=39 .* at most 31"):
        fit(cfg, tmp_path / "x")
    assert not (tmp_path / "x").exists()
