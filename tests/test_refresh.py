"""Refresh from a previous run (``refresh_from``): moment-matched priors, the site override, the
previous scaling, the checks against the previous run, and one refresh fit end to end."""

import dataclasses
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

from mmm_geo.config import RefreshConfig, ValidationConfig
from mmm_geo.data.scaling import Scaling, fit_scaling, model_data
from mmm_geo import refresh
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.model import site_priors
from mmm_geo.model.hierarchical import model, time_bases
from mmm_geo.run import fit, load_run, setup, with_channels
from tests.conftest import TINY_SIM, quick_fit_config


def test_moment_matching_of_known_draws():
    rng = np.random.default_rng(0)
    mu = np.array([[0.1, -0.5], [1.0, 0.3], [0.0, 2.0]])       # (geo, channel), elementwise
    sd = np.array([[0.2, 0.5], [0.1, 1.0], [0.3, 0.05]])
    z = mu + sd * rng.standard_normal((20000, 3, 2))
    n = z.shape[0]
    # positive sites: normal on the log scale
    loc, scale = site_priors.match(np.exp(z), dist.LogNormal(0.0, 1.0).expand((3, 2)), widen=1.5)
    np.testing.assert_allclose(loc, z.mean(0), atol=1e-4)
    np.testing.assert_allclose(scale, 1.5 * z.std(0, ddof=1), rtol=1e-4)
    assert np.all(np.abs(loc - mu) < 4 * sd / np.sqrt(n))
    # real sites: the draws' own mean and sd
    loc, scale = site_priors.match(z, dist.Normal(0.0, 1.0).expand((3, 2)), widen=2.0)
    np.testing.assert_allclose(loc, z.mean(0), atol=1e-5)
    np.testing.assert_allclose(scale, 2.0 * z.std(0, ddof=1), rtol=1e-5)
    # (0, 1) sites: on the logit scale
    unit = 1 / (1 + np.exp(-z[:, 0]))
    loc, scale = site_priors.match(unit, dist.Beta(2.0, 2.0).expand((2,)), 1.0)
    np.testing.assert_allclose(loc, z[:, 0].mean(0), atol=1e-3)
    np.testing.assert_allclose(scale, z[:, 0].std(0, ddof=1), rtol=1e-3)
    # never vaguer than the configured prior: its draws' sd on the same scale caps the scale
    configured = np.exp(0.3 * rng.standard_normal((20000, 3, 2)))      # log-sd 0.3
    _, scale = site_priors.match(np.exp(z), dist.LogNormal(0.0, 1.0).expand((3, 2)), 2.0,
                                 prior=configured)
    cap = np.log(configured).std(0, ddof=1)
    np.testing.assert_allclose(scale, np.minimum(2.0 * z.std(0, ddof=1), cap), rtol=1e-4)
    assert (2.0 * z.std(0, ddof=1) > cap).sum() == 4          # the cap binds where it should


def test_degenerate_and_out_of_support_draws():
    loc, scale = site_priors.match(np.full((50, 2), 0.7), dist.HalfNormal(1.0).expand((2,)), 2.0)
    np.testing.assert_allclose(loc, np.log(0.7), rtol=1e-6)
    np.testing.assert_array_equal(scale, site_priors.MIN_SCALE)
    draws = np.array([[0.5], [-0.1], [1.0]])             # a negative draw of a positive site
    assert site_priors.match(draws, dist.LogNormal(0.0, 1.0).expand((1,)), 2.0) is None


def _tiny_data(tiny_dataset, priors=None):
    cfg = with_channels(quick_fit_config(), tiny_dataset).model
    data = model_data(tiny_dataset, fit_scaling(tiny_dataset), np.float32,
                      time_bases(tiny_dataset.sizes["time"], cfg))
    return jax.tree.map(jnp.asarray, data._replace(priors=priors)), cfg


def test_override_replaces_the_named_sites_priors(tiny_dataset):
    roi = (jnp.array([0.1, 0.8]), jnp.array([0.2, 0.3]))
    geo = (jnp.linspace(-0.2, 0.2, 6).reshape(3, 2), jnp.full((3, 2), 0.05))
    base = (jnp.array([0.9, 1.0, 1.1]), jnp.array([0.01, 0.02, 0.03]))
    priors = {"media_roi": roi, "media_geo": geo, "baseline_level": base}
    data, cfg = _tiny_data(tiny_dataset, priors)
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 1)).get_trace(data, cfg, data.y)
    x = tr["media_roi"]["value"]
    np.testing.assert_allclose(tr["media_roi"]["fn"].log_prob(x), dist.LogNormal(*roi).log_prob(x),
                               rtol=1e-5)
    # still sampled non-centred, around the given prior: media_geo = loc + scale * N(0, 1)
    u = tr["media_geo_decentered"]["value"]
    np.testing.assert_allclose(tr["media_geo"]["value"], geo[0] + geo[1] * u, rtol=1e-5, atol=1e-7)
    # the baselines' prior is the matched normal on baseline (the level keeps its shift)
    level, baseline = tr["baseline_level"], tr["baseline"]["value"]
    np.testing.assert_allclose(level["fn"].log_prob(level["value"]),
                               dist.Normal(*base).log_prob(baseline), rtol=1e-4)
    assert isinstance(tr["sigma"]["fn"], dist.HalfNormal)        # a site not named: unchanged
    draws = numpyro.infer.Predictive(model, num_samples=2000)(jax.random.key(0), data, cfg)
    log_roi = np.log(np.asarray(draws["media_roi"]))
    assert np.all(np.abs(log_roi.mean(0) - roi[0]) < 4 * roi[1] / np.sqrt(2000))
    np.testing.assert_allclose(log_roi.std(0), roi[1], rtol=0.1)


def test_joint_prior_adds_the_correlations_of_a_multivariate_normal(tiny_dataset):
    rng = np.random.default_rng(3)
    roi = (jnp.array([0.1, 0.8]), jnp.array([0.2, 0.3]))
    geo = (jnp.linspace(-0.2, 0.2, 6).reshape(3, 2), jnp.full((3, 2), 0.05))
    base = (jnp.array([0.9, 1.0, 1.1]), jnp.array([0.01, 0.02, 0.03]))
    a = rng.standard_normal((11, 11))
    cov = a @ a.T + 11 * np.eye(11)
    r = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    chol = jnp.asarray(np.linalg.cholesky(r), jnp.float32)
    priors = {"media_roi": roi, "media_geo": geo, "baseline_level": base,
              site_priors.JOINT: (chol,)}
    data, cfg = _tiny_data(tiny_dataset, priors)
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 2)).get_trace(data, cfg, data.y)
    # z in sorted site order: baseline (the level's matched variable), media_geo, media_roi
    z = np.concatenate([(np.asarray(tr["baseline"]["value"]) - base[0]) / base[1],
                        ((np.asarray(tr["media_geo"]["value"]) - geo[0]) / geo[1]).ravel(),
                        (np.log(np.asarray(tr["media_roi"]["value"])) - roi[0]) / roi[1]])
    factor = tr[site_priors.JOINT]["fn"].log_prob(tr[site_priors.JOINT]["value"])
    mvn = dist.MultivariateNormal(jnp.zeros(11), jnp.asarray(r)).log_prob(jnp.asarray(z))
    expected = mvn - dist.Normal(0.0, 1.0).log_prob(jnp.asarray(z)).sum()
    np.testing.assert_allclose(factor, expected, rtol=1e-3, atol=1e-3)
    assert abs(float(expected)) > 0.1          # the correlations change the density
    # without the entry, no factor site
    del priors[site_priors.JOINT]
    data, cfg = _tiny_data(tiny_dataset, priors)
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 2)).get_trace(data, cfg, data.y)
    assert site_priors.JOINT not in tr


def test_correlation_of_draws_is_shrunk_toward_independence():
    rng = np.random.default_rng(0)
    r = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, -0.5], [0.0, -0.5, 1.0]])
    z = rng.multivariate_normal([1.0, -2.0, 0.0], r, size=4000) * [2.0, 1.0, 0.5]
    chol = site_priors.correlation(z)
    got = chol @ chol.T
    shrink = 3 / 4003
    expected = (1 - shrink) * np.corrcoef(z, rowvar=False) + shrink * np.eye(3)
    np.testing.assert_allclose(got, expected,
                               atol=1e-10)
    np.testing.assert_allclose(got, r, atol=0.05)
    # a constant column (a degenerate site) is uncorrelated with the rest
    chol = site_priors.correlation(np.column_stack([z, np.full(4000, 0.3)]))
    np.testing.assert_allclose((chol @ chol.T)[3], [0, 0, 0, 1], atol=1e-12)


def test_hierarchy_parameters_nothing_depends_on_are_found(tiny_dataset):
    data, cfg = _tiny_data(tiny_dataset)
    sd = (jnp.zeros(2), jnp.ones(2))
    geo = (jnp.zeros((3, 2)), jnp.full((3, 2), 0.1))
    # media_geo_sd spreads media_geo: connected while media_geo has its hierarchical prior ...
    assert refresh.disconnected(data, cfg, {"media_geo_sd": sd}) == []
    # ... and left without dependents once media_geo has a prior of its own
    both = {"media_geo_sd": sd, "media_geo": geo}
    assert refresh.disconnected(data, cfg, both) == ["media_geo_sd"]
    roi = (jnp.zeros(2), jnp.ones(2))
    assert refresh.disconnected(data, cfg, {"media_roi": roi, "media_geo": geo}) == []


def _refresh_cfg(previous, sim=TINY_SIM, **fields):
    return dataclasses.replace(quick_fit_config(sim), refresh_from=str(previous), **fields)


def test_different_geos_channels_or_periods_are_refused(quick_run):
    with pytest.raises(ConfigError, match=r"geos differ .*new: \['geo_03'\]"):
        setup(_refresh_cfg(quick_run, dataclasses.replace(TINY_SIM, geos=4)))
    with pytest.raises(ConfigError, match=r"channels differ .*new: \['social'\]"):
        setup(_refresh_cfg(quick_run, dataclasses.replace(TINY_SIM, channels=3)))
    with pytest.raises(ConfigError, match="do not start with the previous run's 40 periods"):
        setup(_refresh_cfg(quick_run, dataclasses.replace(TINY_SIM, weeks=30)))
    with pytest.raises(ConfigError, match="refresh.widen"):
        setup(_refresh_cfg(quick_run, refresh=RefreshConfig(widen=0.0)))
    with pytest.raises(ConfigError, match="validation.folds"):
        setup(_refresh_cfg(quick_run, validation=ValidationConfig(holdout=4, folds=2)))
    with pytest.raises(ConfigError, match="fitted on the first 40 periods, this fit on only 36"):
        setup(_refresh_cfg(quick_run, validation=ValidationConfig(holdout=4)))


def test_prior_check_of_a_refresh_shows_the_refreshed_prior(quick_run):
    from mmm_geo.prior_check import prior_check

    post = np.log(load_run(quick_run).idata.posterior["roi"].values).reshape(-1, 2)
    table = prior_check(_refresh_cfg(quick_run)).channels      # same data: the same ROI window
    # centred on the previous posterior (the configured lognormal(0.2, 0.9) is not, for tv)
    assert np.all(np.abs(np.log(table["roi_median"].values) - np.median(post, 0)) < 0.3)
    assert np.abs(np.median(post, 0) - 0.2).max() > 0.6


def test_missing_or_incomplete_previous_run(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        setup(_refresh_cfg(tmp_path / "nope"))
    (tmp_path / "half").mkdir()
    with pytest.raises(RunError, match="not a complete run"):
        setup(_refresh_cfg(tmp_path / "half"))


def test_sweep_run_id_of_a_refresh_follows_the_previous_run(tmp_path):
    from mmm_geo.experiments import store

    plain = quick_fit_config()
    assert "refresh" not in store.identity(plain, tmp_path)          # the ids of other fits stay
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "metrics.json").write_text('{"complete": true}')
    first = store.run_id(_refresh_cfg(prev), tmp_path)
    assert first != store.run_id(plain, tmp_path)
    (prev / "metrics.json").write_text('{"complete": true, "refit": 1}')
    assert store.run_id(_refresh_cfg(prev), tmp_path) != first       # the previous run refitted


def test_cli_exits_2_naming_the_mismatch(quick_run, tmp_path):
    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "fit", "experiment=tiny",
                          "simulation.geos=4", f"refresh_from={quick_run}",
                          f"output_dir={tmp_path / 'out'}"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "geo_03" in res.stderr and "fix:" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.slow
def test_refresh_fit_end_to_end(quick_run, tmp_path):
    out = tmp_path / "refreshed"
    metrics = fit(_refresh_cfg(quick_run, dataclasses.replace(TINY_SIM, weeks=44)), out)
    prev = load_run(quick_run)
    # the previous run's scaling, not the new data's own
    assert Scaling.from_json(out / "scaling.json") == prev.scaling
    saved = [json.loads((run / "scaling.json").read_text()) for run in (out, quick_run)]
    assert saved[0] == saved[1]
    rec = metrics["refresh"]
    assert rec["from"] == str(quick_run) and rec["widen"] == 1.0
    assert rec["correlated"] and rec["new_weeks"]
    assert (rec["previous_periods"], rec["periods"], rec["new_periods"]) == (40, 44, 4)
    assert {"media_roi", "media_geo", "baseline_level", "sigma"} <= set(rec["sites"])
    assert set(rec["kept"]) == {"trend_coef", "baseline_mean", "baseline_sd", "media_geo_sd"}
    run = load_run(out)                                   # recorded, and loads back
    assert run.config.refresh_from == str(quick_run) and run.metrics["refresh"] == rec
    table = pd.read_csv(out / "refresh.csv")
    assert list(table["channel"]) == ["tv", "search"]
    summary = pd.read_csv(out / "summary.csv").query("metric == 'roi'")
    np.testing.assert_allclose(table["after"], summary["median"], rtol=1e-6)
    assert table["prior_quantile"].between(0, 1).all()
    # the new trace's prior (its marginals: prior draws leave out the joint factor) is the
    # previous posterior on the log scale, its sd (widen 1) at most the configured
    # lognormal(0.2, 0.9)'s
    prior = np.log(run.idata.prior["media_roi"].values.reshape(-1, 2))
    post = np.log(prev.idata.posterior["media_roi"].values.reshape(-1, 2))
    sd = np.minimum(1.0 * post.std(0, ddof=1), 0.9)
    assert np.all(np.abs(prior.mean(0) - post.mean(0)) < 4 * sd / np.sqrt(len(prior)))
    np.testing.assert_allclose(prior.std(0), sd, rtol=0.2)
    # the report's refresh section shows the table
    from mmm_geo.report.build import write_report
    from mmm_geo.report.config import ReportConfig
    from mmm_geo.report.html import fmt

    page = write_report(ReportConfig(run=str(out)))[0].read_text()
    section = page[page.index('id="refresh"'):page.index('id="contributions"')]
    assert str(quick_run) in section and "4 new periods" in section
    rows = section[section.index('id="table-refresh"'):]
    for _, row in table.iterrows():
        for col in ("before", "after_p5", "prior_quantile"):
            assert f'data-col="{col}">{fmt(row[col], "ratio")}<' in rows


def test_a_refresh_likelihood_leaves_out_the_periods_its_priors_hold(tiny_dataset):
    data, cfg = _tiny_data(tiny_dataset)
    seen = data._replace(seen=30)
    np.testing.assert_array_equal(site_priors.observed(seen), np.asarray(data.train) & (np.arange(40) >= 30))

    def log_density(d, y):
        tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 3)).get_trace(d, cfg, y)
        return float(tr["y"]["fn"].log_prob(tr["y"]["value"]).sum())     # masked cells give 0

    moved_early = data.y.at[:, :30].add(5.0)             # KPI changed only in the seen periods
    assert log_density(seen, moved_early) == pytest.approx(log_density(seen, data.y), rel=1e-6)
    assert log_density(data, moved_early) != pytest.approx(log_density(data, data.y), rel=1e-3)


def test_a_refresh_leaves_out_lift_tests_measured_only_in_the_previous_window():
    import xarray as xr
    from mmm_geo.data.lift import lift_data

    window = np.zeros((3, 1, 10), bool)
    window[0, :, 1:3], window[1, :, 3:6], window[2, :, 7:9] = True, True, True   # before, across, after 5
    ds = xr.Dataset({"lift_channel": ("lift_test", np.zeros(3, int)),
                     "lift_window": (("lift_test", "geo", "time"), window),
                     "lift_spend": (("lift_test", "geo", "time"), window * 1.0),
                     "lift_measured": ("lift_test", np.ones(3)), "lift_se": ("lift_test", np.ones(3)),
                     "population": ("geo", np.ones(1))}, coords={"channel": ["tv"]})
    train = np.ones(10, bool)
    assert lift_data(ds, lambda s: s, 1.0, train).channel.shape == (3,)
    assert lift_data(ds, lambda s: s, 1.0, train, seen=5).channel.shape == (2,)
    assert lift_data(ds, lambda s: s, 1.0, train, seen=9) is None


def test_new_weeks_reaches_the_refresh_likelihood(quick_run):
    from mmm_geo.run import window_data

    longer = dataclasses.replace(TINY_SIM, weeks=48)
    for new_weeks, seen in ((False, 0), (True, 40)):
        s = setup(_refresh_cfg(quick_run, longer, refresh=RefreshConfig(new_weeks=new_weeks)))
        data = window_data(s.cfg, s.ds, s.lengths[-1], s.previous)[1]
        assert data.seen == seen
        assert int(site_priors.observed(data).sum()) == 48 - seen
        assert refresh.record(s.previous, 48)["new_weeks"] is new_weeks
