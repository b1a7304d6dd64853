"""Mediation (model.mediation): the mediator's own equation in the same NumPyro model, through the
one media component; direct, indirect and total effects; the simulator's known truth; recovery."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pandas as pd
import pytest
from scipy import stats

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig, Prior, PriorsConfig, SimMediation,
                            SimulationConfig)
from mmm_geo.errors import ConfigError
from mmm_geo.model import media as mm
from mmm_geo.model import mediation
from mmm_geo.model_config import MediationConfig

SIM = SimulationConfig(geos=3, weeks=40, channels=3, seed=2,
                       mediation=SimMediation(mediator="search", upstream=["social"]))
MEDIATION = MediationConfig(mediator="search", upstream=["social"])


def _setup(sim=SIM, med=MEDIATION):
    from mmm_geo.run import setup, window_data
    cfg = FitConfig(simulation=sim, model=ModelConfig(mediation=med, adstock=AdstockConfig(kind="geometric", max_lag=8)))
    ready = setup(cfg)
    _, data = window_data(ready.cfg, ready.ds, ready.lengths[-1])
    return ready, jax.tree.map(jnp.asarray, data)


def _trace(data, cfg, seed=0):
    from mmm_geo.model.hierarchical import model
    return numpyro.handlers.trace(numpyro.handlers.seed(model, seed)).get_trace(data, cfg, data.y)


def _params(tr):
    return {k: v["value"] for k, v in tr.items() if v["type"] in ("sample", "deterministic")}


def test_resolve_checks_the_mediator_and_its_upstream_channels():
    names = ["tv", "search", "social"]
    assert mediation.resolve(ModelConfig(channel_names=names)) is None
    med = mediation.resolve(ModelConfig(channel_names=names, mediation=MediationConfig("search", ["social", "tv"])))
    assert med.mediator == 1 and med.upstream == (2, 0) and med.spec.n_channel == 2
    assert med.spec.prior_kinds == ("effect", "effect")
    for bad in (MediationConfig("radio", ["tv"]), MediationConfig("search", []),
                MediationConfig("search", ["search"]), MediationConfig("search", ["tv", "tv"]),
                MediationConfig(None, ["tv"])):
        with pytest.raises(ConfigError, match="model.mediation"):
            mediation.resolve(ModelConfig(channel_names=names, mediation=bad))


def test_simulated_mediator_has_no_spend_and_its_truth_adds_up():
    from mmm_geo.data.simulate import simulate
    frame, truth = simulate(SIM)
    plain, _ = simulate(dataclasses.replace(SIM, mediation=SimMediation()))
    assert "search_spend" not in frame and "search_impressions" in frame and truth["organic"] == ["search"]
    assert np.array_equal(frame["social_spend"], plain["social_spend"])       # the panel is unchanged
    assert not np.allclose(frame["search_impressions"], plain["search_impressions"])
    social = truth["mediation"]["upstream"]["social"]
    assert social["indirect"] > 0 and social["direct"] > 0
    assert social["direct"] + social["indirect"] == pytest.approx(social["total"], rel=1e-9)
    assert social["direct"] == pytest.approx(truth["national"]["social"]["contribution"], rel=1e-9)
    assert social["roi_total"] == pytest.approx(social["total"] / frame["social_spend"].sum(), rel=1e-9)


def test_switching_the_upstream_channel_off_moves_the_mediator_and_loses_the_total_effect():
    """The counterfactual panel (social's spend at zero, every draw kept) loses exactly the true
    total effect: its mediator moves by its response, its noise held fixed."""
    from mmm_geo.data.simulate import simulate
    frame, truth = simulate(SIM)
    scale = np.ones(3)
    scale[2] = 0.0
    off, _ = simulate(SIM, spend_scale=scale)
    lost = float((frame["revenue"] - off["revenue"]).sum())
    assert lost == pytest.approx(truth["mediation"]["upstream"]["social"]["total"], rel=1e-6)


def test_mediator_likelihood_is_the_media_component_on_the_upstream_exposure():
    """The observed mediator's mean equals a hand-written geometric adstock and Hill curve (1 at
    typical exposure) of social's scaled exposure, times its geo effect, plus the geo base
    and the season."""
    ready, data = _setup()
    tr = _trace(data, ready.cfg.model)
    p = _params(tr)
    site = tr[mediation.OBSERVED]
    assert site["is_observed"] and np.allclose(site["value"], data.media[..., 1])
    x = np.asarray(data.media[..., 2], float)                                 # social (geo, time)
    alpha, half = float(p["mediator_adstock_alpha"][0]), float(p["mediator_saturation_half_saturation"][0])
    w = alpha ** np.arange(8)
    w = w / w.sum()
    a = np.stack([sum(w[lag] * (x[g, t - lag] if t >= lag else 0.0) for lag in range(8))
                  for g in range(3) for t in range(40)]).reshape(3, 40)
    s = float(p["mediator_saturation_slope"][0])
    hill = a ** s * (1 + half ** s) / (a ** s + half ** s)
    effect = np.exp(np.asarray(p["mediator_media_log_effect_geo"][:, 0]))
    season = np.asarray(data.season) @ np.asarray(p["mediator_season_coef"])
    mu = np.asarray(p["mediator_base"])[:, None] + season[None, :] + effect[:, None] * hill
    fn = site["fn"]
    while not isinstance(fn, numpyro.distributions.Normal):     # masked to the training periods
        fn = fn.base_dist
    assert np.allclose(fn.loc, mu, rtol=1e-4, atol=1e-5)
    logp = stats.norm.logpdf(np.asarray(data.media[..., 1]), mu, float(p["mediator_sigma"])).sum()
    assert float(fn.log_prob(site["value"]).sum()) == pytest.approx(logp, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_direct_plus_indirect_is_total_per_draw(seed):
    """Separable media: the two paths add up exactly; the direct effect is the channel's own
    counterfactual contribution; with no upstream effect on the mediator there is no indirect one."""
    ready, data = _setup(med=MediationConfig("search", ["social", "tv"]))
    cfg = ready.cfg.model
    sp, med = mm.spec(cfg, 3), mediation.resolve(cfg)
    p = mm.complete(sp, _params(_trace(data, cfg, seed)))
    out = mediation.effects(sp, med, p, data.media)
    assert out["total"].shape == (2, 3, 40)
    assert np.allclose(out["direct"] + out["indirect"], out["total"], rtol=1e-4, atol=1e-6)
    own = mm.counterfactual(sp, p, data.media, jnp.zeros(3))
    assert np.allclose(out["direct"][0], own[..., 2], rtol=1e-4, atol=1e-7)
    assert float(out["indirect"].sum()) > 0
    none = dict(p, mediator_media_log_effect_geo=p["mediator_media_log_effect_geo"] - 60.0)
    assert np.allclose(mediation.effects(sp, med, none, data.media)["indirect"], 0.0, atol=1e-7)


def test_optimize_refuses_a_mediated_run():
    from mmm_geo.optimize.problem import check_mediation
    with pytest.raises(ConfigError, match="mediation"):
        check_mediation(ModelConfig(channel_names=["tv", "search", "social"], mediation=MEDIATION))
    check_mediation(ModelConfig(channel_names=["tv", "search", "social"]))


@pytest.mark.study
@pytest.mark.slow
@pytest.mark.skip(reason="not yet met: at 6 geos the split is off by ~30 % (seed 0); at 12 geos x "
                         "4 x 500 draws, seeds 0-2, the direct effect is covered 1 of 3 times, the "
                         "indirect 2 of 3, the total 2 of 3; see scripts/RESULTS.md, session 12")
def test_fit_recovers_direct_and_indirect_effects(tmp_path):
    """6 geos x 104 weeks x 3 channels; social drives search (the mediator, clicks without spend,
    with its own weekly variation of 0.5 x its baseline: what separates the two paths).
    The true direct and indirect effects of social lie inside their 90 % intervals with medians
    within 20 %; the fit converges. The geo spread of the media effects is fixed at its true 0.25
    (a nuisance here, as in tests/test_effects.py)."""
    from mmm_geo.run import fit

    sim = dataclasses.replace(SIM, geos=6, weeks=104, seed=0,
                              mediation=SimMediation(mediator="search", upstream=["social"], noise=0.5))
    model = ModelConfig(mediation=MEDIATION, priors=PriorsConfig(media_geo_sd=Prior("fixed", 0.25, 0.0)))
    cfg = FitConfig(simulation=sim, name="mediation", seed=0, model=model,
                    inference=InferenceConfig(chains=2, warmup=300, draws=400, progress_bar=False))
    metrics = fit(cfg, tmp_path / "run")
    summary = pd.read_csv(tmp_path / "run" / "summary.csv").set_index(["metric", "channel"])
    assert metrics["convergence"]["divergences"] == 0 and metrics["convergence"]["max_rhat"] <= 1.01
    for metric in ("contribution_direct", "contribution_indirect"):
        row = summary.loc[(metric, "social")]
        assert row["covered"] and abs(row["median"] / row["true"] - 1) <= 0.2, (metric, row.to_dict())
    assert summary.loc[("contribution_total", "social")]["covered"]


def test_mediation_table_gives_each_upstream_channels_effects_with_intervals():
    import xarray as xr
    from mmm_geo.analysis.mediation import LABELS, mediation_table

    rng = np.random.default_rng(0)
    d = ("chain", "draw", mediation.UPSTREAM)
    m = xr.Dataset({k: (d, rng.normal(size=(2, 50, 2))) for k in LABELS},
                   coords={mediation.UPSTREAM: ["social", "tv"]})
    table = mediation_table(m, 0.9).set_index("quantity")
    assert len(table) == 8
    v = m["contribution_indirect"].sel({mediation.UPSTREAM: "tv"}).values.ravel()
    assert table.loc["indirect effect tv", "median"] == pytest.approx(np.median(v))
    assert table.loc["indirect effect tv", "lo"] == pytest.approx(np.quantile(v, 0.05))
    assert table.loc["indirect effect tv", "hi"] == pytest.approx(np.quantile(v, 0.95))
    assert mediation_table(xr.Dataset()).empty
