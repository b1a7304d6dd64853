"""Model structure without inference: site shapes, components, config checks."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest

from mmm_geo.model import media as mm
from mmm_geo.config import ModelConfig, SaturationConfig
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.errors import ConfigError
from mmm_geo.inference.trace import site_dims
from mmm_geo.model.hierarchical import check_config, components, mean, model, time_bases


@pytest.fixture
def arrays(tiny_dataset):
    bases = time_bases(tiny_dataset.sizes["time"], ModelConfig())
    return model_data(tiny_dataset, fit_scaling(tiny_dataset), np.float32, bases)


def _trace(data, cfg):
    return numpyro.handlers.trace(numpyro.handlers.seed(model, 1)).get_trace(
        jax.tree.map(jnp.asarray, data), cfg, data.y)


@pytest.mark.parametrize("saturation", ["hill", "logistic"])
@pytest.mark.parametrize("per_geo", [False, True])
def test_site_shapes_and_dims(arrays, saturation, per_geo):
    cfg = ModelConfig(saturation=SaturationConfig(kind=saturation), controls_per_geo=per_geo,
                      sigma_per_geo=per_geo)
    tr = _trace(arrays, cfg)
    g, t, c = arrays.media.shape
    assert tr["y"]["value"].shape == (g, t)
    assert tr["media_log_effect_geo"]["value"].shape == (g, c)
    assert tr["baseline"]["value"].shape == (g,)
    d = site_dims(arrays, cfg)
    assert d["media_log_effect_geo"] == ("geo", "channel")
    assert d["y"] == ("geo", "time")
    assert d["adstock_mean_lag"] == d["adstock_shape"] == ("channel",)
    assert d["sigma"] == (("geo",) if per_geo else ())
    if per_geo:
        assert d["control_geo"] == ("geo", "control")


def test_components_sum_to_the_likelihood_mean(arrays):
    cfg = ModelConfig()
    tr = _trace(arrays, cfg)
    params = {k: v["value"] for k, v in tr.items() if v["type"] in ("sample", "deterministic")}
    params = mm.complete(mm.spec(cfg, arrays.media.shape[-1]), params)   # fixed priors: no site
    parts = components(params, arrays, cfg)
    np.testing.assert_allclose(mean(parts), tr["y"]["fn"].mean, rtol=1e-5)
    assert parts["media"].shape == arrays.media.shape


@pytest.mark.parametrize("field,value", [("likelihood", "gamma"), ("baseline", "log"),
                                         ("order", "both")])
def test_unknown_choices_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        check_config(dataclasses.replace(ModelConfig(), **{field: value}))


def test_unknown_saturation_and_prior_are_config_errors():
    with pytest.raises(ConfigError, match="saturation"):
        check_config(ModelConfig(saturation=SaturationConfig(kind="cubic")))
    bad = dataclasses.replace(ModelConfig().priors, sigma=dataclasses.replace(ModelConfig().priors.sigma, dist="cauchy"))
    with pytest.raises(ConfigError, match="cauchy"):
        check_config(ModelConfig(priors=bad))


def test_trend_basis_holds_out_the_future():
    """Fitted on the first 30 of 40 periods: the same columns as a basis of 30 periods, centred
    and orthogonal there, and flat after the last fitted period."""
    from mmm_geo.model.hierarchical import trend_basis

    full, short = trend_basis(40, 4, n_fit=30), trend_basis(30, 4)
    np.testing.assert_allclose(np.abs(full[:30]), np.abs(short), atol=1e-10)
    np.testing.assert_allclose(full[:30].mean(axis=0), 0, atol=1e-10)
    gram = full[:30].T @ full[:30]
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-9)
    np.testing.assert_allclose(full[30:], np.broadcast_to(full[29], (10, 4)), atol=1e-12)


def test_held_out_periods_do_not_enter_the_likelihood(tiny_dataset):
    """Changing the KPI in held-out periods leaves the log density unchanged."""
    from numpyro.infer.util import log_density

    cfg = ModelConfig()
    n = tiny_dataset.sizes["time"]
    data = model_data(tiny_dataset, fit_scaling(tiny_dataset), np.float32,
                      time_bases(n, cfg, 30), n_train=30)
    params = {k: v["value"] for k, v in _trace(data, cfg).items() if v["type"] == "sample" and k != "y"}
    changed = data._replace(y=np.concatenate([data.y[:, :30], 5 * data.y[:, 30:]], axis=1))
    lp = [log_density(model, (jax.tree.map(jnp.asarray, d), cfg), {"y": d.y}, params)[0] for d in (data, changed)]
    np.testing.assert_allclose(lp[0], lp[1], rtol=1e-6)
    moved = data._replace(y=np.concatenate([5 * data.y[:, :30], data.y[:, 30:]], axis=1))
    lp_moved = log_density(model, (jax.tree.map(jnp.asarray, moved), cfg), {"y": moved.y}, params)[0]
    assert abs(float(lp_moved) - float(lp[0])) > 1.0
