"""Analysis functions: contributions add up, curves agree with ROI / marginal ROI, adstock decay,
ranking verdicts, interval summaries, PPC coverage, prior vs posterior, recovery tables."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from mmm_geo.analysis import checks, contributions, curves
from mmm_geo.analysis.accuracy import train_mask
from mmm_geo.analysis.draws import summarize, thin
from mmm_geo.analysis.performance import rank_channels
from mmm_geo.analysis.roi import MARGIN, channel_metrics
from mmm_geo.run import load_run

SAMPLE = ("chain", "draw")


@pytest.fixture(scope="module")
def run(quick_run):
    return load_run(quick_run)


@pytest.fixture(scope="module")
def metrics(run):
    post = run.idata.posterior[contributions.sites(run.idata.posterior)]
    return channel_metrics(post, run.ds, run.scaling, run.config.model)


def test_contributions_add_up_to_the_posterior_mean_prediction(run, metrics):
    """Tolerance: per draw the parts sum to the model mean to float32 rounding (1e-5 relative);
    over draws that mean matches the posterior predictive mean within 4 Monte Carlo standard
    errors in every geo x week cell (the predictive draws add observation noise), and within
    0.5 % of the total KPI over the window."""
    post = run.idata.posterior
    parts = contributions.decomposition(post, run.ds, run.scaling, run.config.model,
                                        train_mask(run.idata))
    assert parts["baseline"].dims == ("chain", "draw", "geo", "time")
    assert parts["media"].dims == ("chain", "draw", "geo", "time", "channel")
    assert parts["controls"].dims == ("chain", "draw", "geo", "time", "control")
    stacked = contributions.by_component(parts)
    assert list(stacked["component"].values) == (["baseline", "trend", "seasonality"]
                                                 + list(run.ds["control"].values)
                                                 + list(run.ds["channel"].values))
    np.testing.assert_allclose(stacked.sum("component"), parts["expected"], rtol=1e-5)

    pp = run.idata.posterior_predictive["kpi"]
    n = pp.sizes["chain"] * pp.sizes["draw"]
    mcse = pp.std(SAMPLE) / np.sqrt(n)
    gap = abs(parts["expected"].mean(SAMPLE) - pp.mean(SAMPLE))
    assert float((gap / mcse).max()) < 4
    total_gap = float(parts["expected"].mean(SAMPLE).sum() / pp.mean(SAMPLE).sum() - 1)
    assert abs(total_gap) < 0.005

    # the channels' parts are exactly what ROI is built on
    kpi = parts["media"].sum(("geo", "time"))
    np.testing.assert_allclose(kpi.transpose(*metrics["kpi_contribution"].dims),
                               metrics["kpi_contribution"], rtol=1e-5)
    share = contributions.window_share(parts).mean(SAMPLE)
    assert float(share.sum()) == pytest.approx(1.0, rel=1e-6)


def test_response_curve_passes_through_contribution_and_marginal_roi(run, metrics):
    post = thin(run.idata.posterior[contributions.sites(run.idata.posterior)], 60)
    sub = metrics.sel(chain=post["chain"], draw=post["draw"])
    rc = curves.response_curves(post, run.ds, run.scaling, run.config.model,
                                multipliers=(0.0, 0.5, 1.0, 1.0 + MARGIN, 2.0))
    assert rc["revenue"].dims == ("chain", "draw", "channel", "multiplier")
    at = rc["revenue"].sel
    np.testing.assert_allclose(at(multiplier=0.0), 0.0, atol=1e-6)
    np.testing.assert_allclose(at(multiplier=1.0), sub["contribution"], rtol=1e-5)
    spend = rc["spend"].sel(multiplier=1.0)
    np.testing.assert_allclose(spend, run.ds["spend"].sum(("geo", "time")))
    slope = (at(multiplier=1.0 + MARGIN) - at(multiplier=1.0)) / (MARGIN * spend)
    np.testing.assert_allclose(slope, sub["mroi"], rtol=1e-4)
    # more spend drives more; where the Hill slope is at most 1 the curve is concave, so the second
    # half of the doubling adds less than the first (a slope above 1 may be S-shaped)
    assert bool((at(multiplier=2.0) > at(multiplier=1.0)).all())
    concave = (post["saturation_slope"] <= 1.0 if "saturation_slope" in post      # a fixed slope of 1
               else xr.ones_like(at(multiplier=1.0), dtype=bool))
    second, first = at(multiplier=2.0) - at(multiplier=1.0), at(multiplier=1.0) - at(multiplier=0.0)
    assert bool(concave.any()) and bool((second < first).where(concave, True).all())


def test_adstock_decay_is_the_gamma_weights(run):
    """The default carryover: Gamma density of (mean_lag, shape) at l + 1/2, normalised."""
    post = thin(run.idata.posterior, 20)
    assert run.config.model.adstock.kind == "gamma"
    decay = curves.adstock_decay(post, run.config.model, run.ds.sizes["channel"])
    lags = run.config.model.adstock.max_lag
    assert decay.dims == ("chain", "draw", "channel", "lag") and decay.sizes["lag"] == lags
    mean, shape = (post[f"adstock_{k}"].values[..., None] for k in ("mean_lag", "shape"))
    mid = np.arange(lags) + 0.5
    w = mid ** (shape - 1) * np.exp(-shape * mid / mean)
    np.testing.assert_allclose(decay.values, w / w.sum(-1, keepdims=True), rtol=1e-5)
    lag = curves.mean_lag(decay)
    np.testing.assert_allclose(lag.values, (w * np.arange(lags)).sum(-1) / w.sum(-1), rtol=1e-5)


def _draws(values, chains=2):
    """A (chain, draw, channel) DataArray from per-channel draw arrays."""
    arr = np.stack(values, -1).reshape(chains, -1, len(values))
    return xr.DataArray(arr, dims=("chain", "draw", "channel"),
                        coords={"channel": [f"c{i}" for i in range(len(values))]})


def test_rank_channels_orders_and_classifies():
    rng = np.random.default_rng(0)
    roi = _draws([rng.normal(2.0, 0.3, 400), rng.normal(0.5, 0.2, 400), rng.normal(1.05, 0.5, 400)])
    mroi = roi * 0.5
    m = xr.Dataset({"roi": roi, "mroi": mroi, "contribution": roi * 10,
                    "contribution_share": roi / 10})
    r = rank_channels(m, prob=0.9, good=0.8, poor=0.2)
    assert list(r["channel"].values) == ["c0", "c2", "c1"]
    assert list(r["verdict"].values) == ["performs well", "uncertain", "performs poorly"]
    assert list(r["rank"].values) == [1, 2, 3]
    assert float(r["p_roi_gt_1"].sel(channel="c0")) == float((roi.sel(channel="c0") > 1).mean())
    assert float(r["roi_lo"].sel(channel="c1")) == pytest.approx(
        float(np.quantile(roi.sel(channel="c1"), 0.05)))


def test_summaries_keep_dims_and_thinning_is_deterministic():
    da = xr.DataArray(np.arange(2 * 100 * 3, dtype=float).reshape(2, 100, 3),
                      dims=("chain", "draw", "geo"))
    s = summarize(da, 0.8)
    assert set(s.data_vars) == {"mean", "median", "lo", "hi"} and s["lo"].dims == ("geo",)
    np.testing.assert_allclose(s["lo"], np.quantile(da.values.reshape(200, 3), 0.1, axis=0))
    a, b = thin(da, 50), thin(da, 50)
    assert a.sizes["draw"] == 25 and a.sizes["chain"] == 2
    np.testing.assert_array_equal(a.values, b.values)
    assert thin(da, None).sizes["draw"] == 100


def _idata(obs, pp, train=None):
    geo_time = {"dims": {"kpi": ["geo", "time"]}}
    cd = {"train": train} if train is not None else {}
    return az.from_dict(posterior={"x": np.zeros((1, pp.shape[1]))},
                        posterior_predictive={"kpi": pp}, observed_data={"kpi": obs},
                        constant_data=cd, dims={**geo_time["dims"], "train": ["time"]})


def test_predictive_bands_and_coverage():
    rng = np.random.default_rng(1)
    pp = rng.normal(10, 1, size=(2, 500, 3, 20))
    obs = np.full((3, 20), 10.0)
    obs[:, :4] = 100.0                                  # 4 of 20 weeks far outside
    train = np.arange(20) < 16
    bands = checks.predictive_bands(_idata(obs, pp, train), prob=0.9)
    assert bands["lo"].dims == ("geo", "time") and bands["national_lo"].dims == ("time",)
    cov = checks.coverage(bands)
    assert cov["in_sample"] == pytest.approx(12 / 16) and cov["holdout"] == 1.0
    # the national interval comes from summed draws: about sqrt(3) wider than one geo's
    width = float((bands["national_hi"] - bands["national_lo"]).mean())
    assert width == pytest.approx(2 * 1.645 * np.sqrt(3), rel=0.1)


def test_prior_posterior_shrinkage_and_shift():
    rng = np.random.default_rng(2)
    prior = {"a": rng.normal(0, 1, (1, 4000)), "b": rng.normal(0, 2, (1, 4000, 2))}
    post = {"a": rng.normal(0.5, 0.1, (2, 2000)), "b": rng.normal(0, 2, (2, 2000, 2))}
    idata = az.from_dict(posterior=post, prior=prior, dims={"b": ["channel"]})
    shift = checks.prior_posterior(idata)
    a = shift["a"].to_series()
    assert a["shrinkage"] == pytest.approx(0.99, abs=0.003) and a["shift"] == pytest.approx(0.5, abs=0.05)
    assert shift["b"].dims == ("stat", "channel")
    assert float(abs(shift["b"].sel(stat="shrinkage")).max()) < 0.1
    table = checks.prior_posterior_table(shift)
    assert list(table["parameter"]) == ["a", "b"] and list(table["size"]) == [1, 2]
    assert checks.prior_posterior(az.from_dict(posterior=post)) is None


def test_recovery_table_against_truth():
    rng = np.random.default_rng(3)
    roi = _draws([rng.normal(2.0, 0.1, 400), rng.normal(1.0, 0.1, 400)])
    m = xr.Dataset({"roi": roi, "mroi": roi / 2, "contribution": roi * 100})
    truth = {"national": {"c0": {"roi": 2.05, "mroi": 1.0, "contribution": 200.0},
                          "c1": {"roi": 3.0, "mroi": 0.5, "contribution": 100.0}}}
    t = checks.recovery(m, truth, 0.9).set_index(["metric", "channel"])
    assert bool(t.loc[("roi", "c0"), "covered"]) and not bool(t.loc[("roi", "c1"), "covered"])
    assert t.loc[("contribution", "c0"), "true"] == 200.0
    assert t.loc[("roi", "c1"), "rel_error"] == pytest.approx(float(roi.sel(channel="c1").median()) / 3 - 1)


def test_geo_variation_and_geo_recovery():
    roi_geo = xr.DataArray(np.tile([[1.0, 2.0], [3.0, 2.0]], (2, 10, 1, 1)),
                           dims=("chain", "draw", "geo", "channel"),
                           coords={"geo": ["g0", "g1"], "channel": ["c0", "c1"]})
    var = curves.geo_variation(xr.Dataset({"roi_geo": roi_geo}))
    np.testing.assert_allclose(var["roi_geo_cv"].isel(chain=0, draw=0), [0.5, 0.0])
    truth = {"geo": {"g0": {"c0": {"roi": 1.0}, "c1": {"roi": 5.0}},
                     "g1": {"c0": {"roi": 3.0}, "c1": {"roi": 2.0}}}}
    rec = checks.geo_recovery(xr.Dataset({"roi_geo": roi_geo}), truth)
    assert rec["coverage"] == 0.75 and rec["cells"] == 4


def test_sampled_roi_is_the_counterfactual_roi(run, metrics):
    """With the default ROI prior the model samples each channel's ROI over the training window
    (here the whole window) and derives its coefficient; the analysis' counterfactual ROI (the
    KPI with the channel minus without it, over spend) must be that same number in every draw."""
    assert run.config.model.media_prior.kind == "roi"
    np.testing.assert_allclose(metrics["roi"].values, run.idata.posterior["media_roi"].values,
                               rtol=1e-4)
