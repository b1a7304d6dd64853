"""Non-media treatments (price, promotions): config and data checks, the elasticity and lift
identities of the mean, the decomposition, scenario changes and a seeded recovery fit."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import Predictive

from mmm_geo import dims
from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig, Prior,
                            PriorEntry, PriorsConfig, SimulationConfig, TreatmentModel, to_config)
from mmm_geo.data.load import to_dataset
from mmm_geo.data.simulate import data_config, simulate
from mmm_geo.data.treatments import inputs
from mmm_geo.errors import ConfigError, DataError
from mmm_geo.model import hierarchical as h
from mmm_geo.model import treatments as tr
from tests.conftest import SLOPE_1

SEED = 5         # the recovery panel's seed (scripts/RESULTS.md, "Session 6: treatments")
SIM = SimulationConfig(geos=3, weeks=40, channels=2, controls=1, max_lag=4, seed=3,
                       treatments=["price", "promotion"])


# Geometric carryover and a Hill slope of 1 (the forms before session 14's default): the tests
# below draw their parameters from this prior, and the media forms are not what they test.
def _setup(sim=SIM, model=ModelConfig(adstock=AdstockConfig(kind="geometric"), saturation=SLOPE_1)):
    from mmm_geo.run import window_data, with_channels
    frame, truth = simulate(sim)
    ds = to_dataset(frame, data_config(sim), "sim")
    cfg = with_channels(FitConfig(simulation=sim, model=model), ds)
    scaling, data = window_data(cfg, ds, sim.weeks)
    return frame, truth, ds, cfg.model, scaling, data


def _prior_params(data, cfg, seed=0):
    arrays = jax.tree.map(jnp.asarray, data)
    draws = Predictive(h.model, num_samples=1)(jax.random.key(seed), arrays, cfg)
    one = {k: v[0] for k, v in draws.items() if k not in ("y", "lift")}
    return h.params_from_samples(one, cfg, data.media.shape[-1], data.y.shape[0])


def _mean(params, data, cfg, z):
    parts = h.components(params, data._replace(treatments=jnp.asarray(z, jnp.float32)), cfg)
    media = parts["media"].sum(-1) + parts["synergy"].sum(-1)
    return np.asarray(h.mean(parts), float), np.asarray(media, float), parts


def test_price_elasticity_and_promotion_lift_are_identities_of_the_mean():
    *_, ds, cfg, scaling, data = _setup()
    p = _prior_params(data, cfg)
    b = np.asarray(tr.coefficients(tr.spec(cfg), p, 3))            # (geo, treatment)
    z = np.asarray(data.treatments, float)
    base, media, _ = _mean(p, data, cfg, z)
    price = ds["treatments"].values
    up = inputs(price * np.array([1.01, 1.0]), ["price", "promotion"], scaling.treatment_ref)
    moved, media_up, _ = _mean(p, data, cfg, up)
    assert np.allclose(media_up, media)           # the media part is at the reference price
    assert np.allclose(moved / base, 1.01 ** b[:, None, 0], rtol=2e-5)   # 1 % more: 1.01^b
    # d log mu / d log price = b in every cell
    shift = jnp.asarray(np.eye(2)[0], jnp.float32)
    log_mu = lambda e: jnp.log(h.mean(h.components(  # noqa: E731
        p, data._replace(treatments=jnp.asarray(z, jnp.float32) + e * shift), cfg)))
    slope = np.asarray(jax.jacfwd(log_mu)(0.0))
    ok = base > 0.1
    assert ok.mean() > 0.5
    assert np.allclose(slope[ok], np.broadcast_to(b[:, None, 0], base.shape)[ok], rtol=1e-3)
    on, off = z.copy(), z.copy()
    on[..., 1], off[..., 1] = 1.0, 0.0
    m_on, _, _ = _mean(p, data, cfg, on)
    m_off, _, _ = _mean(p, data, cfg, off)
    assert np.allclose(m_on / m_off, np.exp(b[:, None, 1]), rtol=2e-5)   # lift exp(b) - 1


def test_treatment_parts_sum_to_the_effect_and_one_active_is_its_counterfactual():
    *_, cfg, scaling, data = _setup()
    p = _prior_params(data, cfg, seed=1)
    z = np.asarray(data.treatments, float)
    mu, media, parts = _mean(p, data, cfg, z)
    none, _, _ = _mean(p, data, cfg, np.zeros_like(z))
    treat = np.asarray(parts["treatments"], float)
    assert np.allclose(treat.sum(-1), mu - none, rtol=1e-4, atol=1e-6)
    only_promo = z.copy()
    only_promo[..., 0] = 0.0                                         # price at the reference
    mu_p, _, parts_p = _mean(p, data, cfg, only_promo)
    assert np.allclose(np.asarray(parts_p["treatments"])[..., 0], 0.0)
    assert np.allclose(np.asarray(parts_p["treatments"])[..., 1], mu_p - none, rtol=1e-4, atol=1e-6)


def test_geo_pooling_samples_per_geo_coefficients_and_config_is_checked():
    model = ModelConfig(treatments={"price": TreatmentModel(pooling="geo")})
    *_, cfg, _, data = _setup(model=model)
    sp = tr.spec(cfg)
    assert sp.geo == (0,) and sp.kinds == ("price", "promotion")
    p = _prior_params(data, cfg)
    b = np.asarray(tr.coefficients(sp, p, 3))
    assert np.ptp(b[:, 0]) > 0 and np.ptp(b[:, 1]) == 0
    kinds = {"price": "price"}
    with pytest.raises(ConfigError, match="pooling='town'"):
        tr.spec(ModelConfig(treatment_kinds=kinds,
                            treatments={"price": TreatmentModel(pooling="town")}))
    with pytest.raises(ConfigError, match="not treatments of the data"):
        tr.spec(ModelConfig(treatment_kinds=kinds, treatments={"promo": TreatmentModel()}))
    mixed = {"price": TreatmentModel(prior=PriorEntry("truncnormal", 1.0, 1.0))}
    with pytest.raises(ConfigError, match="one distribution"):
        tr.spec(ModelConfig(treatment_kinds={**kinds, "promo": "promotion"}, treatments=mixed))
    parsed = to_config({"model": {"treatments": {"price": {"pooling": "geo"}}}})
    assert parsed.model.treatments["price"].pooling == "geo"


def test_bad_treatment_columns_are_data_errors_naming_rows():
    frame, *_ = _setup()
    cfg = data_config(SIM)
    bad = frame.copy()
    bad.loc[[4, 9], "avg_price"] = [0.0, -2.0]
    with pytest.raises(DataError, match=r"column 'avg_price'.*price must be > 0.*rows 5, 10"):
        to_dataset(bad, cfg, "t.csv")
    bad = frame.copy()
    bad.loc[3, "promotion"] = -1.0
    with pytest.raises(DataError, match=r"'promotion'.*negative promotion intensity in row 4"):
        to_dataset(bad, cfg, "t.csv")
    with pytest.raises(DataError, match="missing column"):
        to_dataset(frame.drop(columns="avg_price"), cfg, "t.csv")
    with pytest.raises(DataError, match="is constant"):
        to_dataset(frame.assign(promotion=0.0), cfg, "t.csv")
    odd = to_config({"data": {"treatments": {"price": {"column": "avg_price",
                                                        "kind": "cost"}}}}).data
    with pytest.raises(DataError, match="kind='cost' is unknown"):
        to_dataset(frame, dataclasses.replace(cfg, treatments=odd.treatments), "t.csv")


def test_simulated_treatments_keep_the_media_draws_and_record_their_truth():
    frame, truth, *_ = _setup()
    plain, plain_truth = simulate(SimulationConfig(**{**SIM.__dict__, "treatments": []}))
    assert "avg_price" in frame and "avg_price" not in plain
    for col in ("tv_spend", "search_impressions", "price_index"):
        assert np.array_equal(frame[col].values, plain[col].values)
    assert truth["national"] == plain_truth["national"]   # media's truth: at the reference
    t = truth["treatments"]
    assert t["price"]["elasticity"] == SIM.price_elasticity
    assert t["promotion"]["lift"] == SIM.promo_lift
    added = frame["revenue"].values - plain["revenue"].values    # the same noise draws
    assert np.abs(added / plain["revenue"].values).max() > 0.05  # the treatments move the KPI
    total = t["price"]["contribution"] + t["promotion"]["contribution"]
    assert total == pytest.approx(added.sum(), rel=1e-9)         # the split is exact in sum


def test_forecast_treatment_changes_are_checked_and_applied():
    from mmm_geo.optimize import treatment_plan as tp
    _, _, ds, cfg, scaling, _ = _setup()

    class Run:          # the two fields treatment_plan.window reads
        pass
    run = Run()
    run.ds, run.scaling = ds, scaling
    weeks = ["2023-10-09", "2023-10-16"]                          # right after the data
    base = tp.window(run, 40, 3, weeks, {})
    assert np.allclose(base[:, 3:], 0.0)                          # reference price, no promotion
    assert np.allclose(base[:, :3], inputs(ds["treatments"].values[:, 37:], ["price", "promotion"],
                                           scaling.treatment_ref))
    moved = tp.window(run, 40, 3, weeks, {"price": "+5%", "promotion": {"on": ["2023-10-16"]}})
    assert np.allclose(moved[:, 3:, 0], np.log(1.05)) and np.allclose(moved[:, :3], base[:, :3])
    assert moved[:, 3:, 1].tolist() == [[0.0, 1.0]] * 3
    kinds = cfg.treatment_kinds
    for bad, match in (({"price": "5"}, "percentage"), ({"promotion": "+5%"}, "switched off"),
                       ({"tax": "+1%"}, "no such treatment")):
        with pytest.raises(ConfigError, match=match):
            tp.check(bad, kinds)
    with pytest.raises(ConfigError, match="not periods of the horizon"):
        tp.window(run, 40, 3, weeks, {"promotion": {"off": ["2024-01-01"]}})


@pytest.mark.study
@pytest.mark.slow
def test_fit_recovers_price_elasticity_and_promotion_lift(tmp_path):
    """6 geos x 104 weeks x 3 channels with a price (elasticity -1.5) and 0/1 promotions (lift
    15 %): both lie inside their 90 % intervals with medians within 20 %; the fit converges. The
    geo spread of the media effects is fixed at its true 0.25 (a nuisance here, as in
    tests/test_effects.py). The promotion is a component of the contribution decomposition."""
    from mmm_geo.analysis.contributions import by_component, decomposition
    from mmm_geo.run import fit, load_run
    sim = SimulationConfig(geos=6, weeks=104, channels=3, controls=1, seed=SEED, max_lag=4,
                           treatments=["price", "promotion"])
    fixed = dataclasses.replace(PriorsConfig(), media_geo_sd=Prior("fixed", 0.25, 0.0))
    cfg = FitConfig(simulation=sim,
                    model=ModelConfig(adstock=AdstockConfig(kind="geometric", max_lag=4), trend_knots=2,
                                      priors=fixed),
                    inference=InferenceConfig(chains=2, warmup=400, draws=500, progress_bar=False,
                                              ess_min=50))
    metrics = fit(cfg, tmp_path)
    table = pd.read_csv(tmp_path / "treatments.csv")
    nat = table[table["geo"] == "all"].set_index("metric")
    for metric in ("elasticity", "lift"):
        row = nat.loc[metric]
        assert row["p5"] <= row["true"] <= row["p95"], row
        assert abs(row["median"] / row["true"] - 1) < 0.2, row
    assert metrics["convergence"]["max_rhat"] <= 1.01
    assert metrics["convergence"]["divergences"] == 0
    run = load_run(tmp_path)
    parts = decomposition(run.idata.posterior.isel(draw=slice(0, 20)), run.ds, run.scaling,
                          run.config.model)
    comp = by_component(parts).sum((dims.GEO, dims.TIME)).mean(("chain", "draw"))
    assert {"price", "promotion"} <= set(comp.component.values.tolist())
    assert float(comp.sel(component="promotion")) > 0
