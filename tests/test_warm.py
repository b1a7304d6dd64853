"""Warm starts (``inference.init=svi``, ``mmm_geo.inference.warm``)."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmm_geo.config import FitConfig, InferenceConfig, SimulationConfig
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.errors import ConfigError
from mmm_geo.inference import warm
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.model.hierarchical import time_bases
from mmm_geo.run import load_data


def test_mean_field_recovers_a_gaussian():
    mu, sd = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.5, 2.0, 0.1])
    loc, scale = warm.mean_field(lambda z: 0.5 * jnp.sum(((z - mu) / sd) ** 2), jnp.zeros(3),
                                 3000, 0.02, jax.random.key(0))
    np.testing.assert_allclose(loc, mu, atol=0.1 * sd.max())
    np.testing.assert_allclose(scale, sd, rtol=0.15)


def test_unknown_init_is_a_config_error():
    with pytest.raises(ConfigError, match="inference.init"):
        warm.check(replace(InferenceConfig(), init="pathfinder"))
    with pytest.raises(ConfigError, match="svi_steps"):
        warm.check(replace(InferenceConfig(), init="svi", svi_steps=0))


def _tiny():
    cfg = FitConfig(simulation=SimulationConfig(geos=2, weeks=40, channels=2, controls=1))
    ds, _ = load_data(cfg)
    data = model_data(ds, fit_scaling(ds), np.float32, time_bases(ds.sizes["time"], cfg.model))
    return cfg, data


def test_each_chain_starts_from_its_own_draw():
    cfg, data = _tiny()
    inf = replace(cfg.inference, init="svi", svi_steps=200, chains=3)
    init, mass = warm.svi_start(inf, jax.random.key(1), (jax.tree.map(jnp.asarray, data), cfg.model))
    assert set(init) == {site for (site,) in mass}
    for site, z in init.items():
        assert z.shape[0] == 3 and np.all(np.isfinite(z))
        assert not np.allclose(z[0], z[1]), site          # dispersed, not one point
        assert mass[(site,)].size == z[0].size and np.all(mass[(site,)] > 0)
    assert warm.svi_start(cfg.inference, jax.random.key(1), ()) == (None, None)


@pytest.mark.slow
def test_nuts_runs_from_the_warm_start():
    cfg, data = _tiny()
    inf = replace(cfg.inference, init="svi", svi_steps=300, chains=2, warmup=30, draws=20,
                  progress_bar=False)
    fit = run_nuts(data, cfg.model, inf, jax.random.key(0))
    assert fit.stats["diverging"].shape == (2, 20)
    assert all(np.all(np.isfinite(v)) for v in fit.samples.values())
