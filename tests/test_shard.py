"""The geo-sharded model (``inference.shard=geo``) equals the unsharded one on CPU host devices
(tests/conftest.py gives the test process 4 of them)."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import initialize_model

from mmm_geo.config import FitConfig, SimulationConfig
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.errors import ConfigError
from mmm_geo.inference import shard
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.model.hierarchical import model, time_bases
from mmm_geo.run import load_data

pytestmark = pytest.mark.skipif(jax.local_device_count() < 4, reason="needs 4 XLA host devices")


def _data(geos=4):
    cfg = FitConfig(simulation=SimulationConfig(geos=geos, weeks=40, channels=2, controls=1))
    ds, _ = load_data(cfg)
    return cfg, model_data(ds, fit_scaling(ds), np.float32, time_bases(ds.sizes["time"], cfg.model))


def test_geo_arrays_are_split_over_the_devices():
    _, data = _data()
    sharded = shard.shard_geos(data)
    assert len(sharded.media.addressable_shards) == 4
    assert {s.data.shape for s in sharded.media.addressable_shards} == {(1,) + data.media.shape[1:]}
    assert sharded.trend.sharding.is_fully_replicated
    np.testing.assert_array_equal(np.asarray(sharded.y), data.y)


def test_potential_and_gradient_equal_the_unsharded():
    cfg, data = _data()
    plain = (jax.tree.map(jnp.asarray, data), cfg.model)
    info = initialize_model(jax.random.key(0), model, model_args=plain, model_kwargs={"y": plain[0].y},
                            dynamic_args=True)
    z = info.param_info.z
    f = lambda d: jax.jit(jax.value_and_grad(info.potential_fn(d, cfg.model, y=d.y)))(z)
    value, grad = f(plain[0])
    value_s, grad_s = f(shard.shard_geos(data))
    np.testing.assert_allclose(value_s, value, rtol=1e-5)
    for site in grad:
        np.testing.assert_allclose(grad_s[site], grad[site], rtol=1e-4, atol=1e-5, err_msg=site)


def test_uneven_geos_are_a_config_error():
    _, data = _data(geos=3)
    with pytest.raises(ConfigError, match="do not split evenly"):
        shard.shard_geos(data)
    with pytest.raises(ConfigError, match="inference.shard"):
        shard.check("channel")


@pytest.mark.slow
def test_sharded_nuts_samples_one_chain_set():
    """NUTS on the sharded data: one program, vectorised chains, finite draws. (Draw-by-draw
    equality with the unsharded run does not hold: its reductions over geos are split across
    devices, and NUTS's discrete choices amplify the rounding difference; measured 2e-3 after 30
    iterations even in float64. The log density and gradient are equal, tested above.)

    max_tree_depth=4: with the default 10 the short warmup leaves trees of 63-255 leapfrog steps
    per draw, each step a cross-device program on the CPU host devices (measured 276-298 s for this
    test alone on 2 busy cores, about 100 s of it compilation); 15 steps per iteration run the
    same program."""
    cfg, data = _data()
    inf = replace(cfg.inference, chains=2, warmup=20, draws=10, shard="geo", progress_bar=False,
                  max_tree_depth=4)
    fit = run_nuts(data, cfg.model, inf, jax.random.key(3))
    assert fit.chain_method == "vectorized" and fit.stats["diverging"].shape == (2, 10)
    assert all(np.all(np.isfinite(v)) for v in fit.samples.values())
