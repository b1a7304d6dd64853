"""Media forms (``mmm_geo.model.forms``) against hand-computed values, jitted and eager, and the
media component's carryover on an impulse."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mmm_geo.config import AdstockConfig, ModelConfig, SaturationConfig
from mmm_geo.model import forms
from mmm_geo.model import media as mm
from mmm_geo.model.forms import ADSTOCKS, SATURATIONS, hill, logistic

MODES = [pytest.param(lambda f: f, id="eager"), pytest.param(jax.jit, id="jit")]


def carry(kind, params, x, max_lag, normalize=True):
    cfg = ModelConfig(adstock=AdstockConfig(kind=kind, max_lag=max_lag, normalize=normalize))
    sp = mm.spec(cfg, x.shape[-1])
    return mm.carry(sp, {f"adstock_{k}": jnp.asarray(v) for k, v in params.items()}, x)


@pytest.mark.parametrize("mode", MODES)
def test_geometric_adstock_impulse_matches_hand_computed(mode):
    x = jnp.zeros((1, 6, 2)).at[0, 1, :].set(1.0)          # one unit in week 1, two channels
    out = mode(lambda a: carry("geometric", {"alpha": a}, x, 3))(jnp.array([0.5, 0.0]))
    w = np.array([1, 0.5, 0.25]) / 1.75                      # 0.5**l normalised over 3 lags
    np.testing.assert_allclose(out[0, :, 0], [0, *w, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], [0, 1, 0, 0, 0, 0], atol=1e-7)   # alpha 0: no carryover


def test_unnormalised_weights_are_powers():
    w = forms.geometric(4, jnp.array([0.3]))
    np.testing.assert_allclose(w[:, 0], [1, 0.3, 0.09, 0.027], rtol=1e-6)


def test_non_geometric_weights_hand_computed():
    lags = np.arange(5)
    np.testing.assert_allclose(forms.delayed(5, jnp.array([0.6]), jnp.array([2.0]))[:, 0],
                               0.6 ** ((lags - 2.0) ** 2), rtol=1e-6)
    np.testing.assert_allclose(forms.weibull_cdf(5, jnp.array([1.5]), jnp.array([2.0]))[:, 0],
                               stats.weibull_min(1.5, scale=2.0).sf(lags), rtol=1e-5)
    pdf = stats.weibull_min(2.0, scale=3.0).pdf(lags + 1.0)
    np.testing.assert_allclose(forms.weibull_pdf(5, jnp.array([2.0]), jnp.array([3.0]))[:, 0],
                               pdf / pdf.max(), rtol=1e-5)
    np.testing.assert_allclose(forms.binomial(5, jnp.array([0.25]))[:, 0], (1 - lags / 5) ** 3, rtol=1e-6)
    dens = stats.gamma(2.5, scale=1.8 / 2.5).pdf(lags + 0.5)          # mean 1.8, shape 2.5
    np.testing.assert_allclose(forms.gamma(5, jnp.array([1.8]), jnp.array([2.5]))[:, 0],
                               dens / dens.max(), rtol=1e-5)
    geometric = forms.gamma(5, jnp.array([2.0]), jnp.array([1.0]))[:, 0]   # shape 1: alpha^l
    np.testing.assert_allclose(geometric, np.exp(-0.5) ** lags, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(ADSTOCKS))
def test_every_adstock_normalised_impulse_sums_to_one(kind):
    x = jnp.zeros((1, 12, 1)).at[0, 0, 0].set(1.0)
    params = {k: jnp.asarray([0.7 if k != "peak" else 1.0]) for k in ADSTOCKS[kind].priors}
    out = carry(kind, params, x, 6)
    assert abs(float(out.sum()) - 1.0) < 1e-5 and float(out[0, 6:].sum()) == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_hill_is_one_at_typical_exposure_and_hand_computed(mode):
    k, s = jnp.array([0.5, 2.0]), jnp.array([1.0, 2.0])
    out = mode(hill)(jnp.array([[1.0, 1.0], [3.0, 3.0], [0.0, 0.0]]), k, s)
    np.testing.assert_allclose(out[0], [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], [3 * 1.5 / 3.5, 9 * 5 / 13], rtol=1e-6)
    np.testing.assert_allclose(out[2], [0.0, 0.0])


def test_hill_tends_to_linear_for_large_half_saturation():
    x = jnp.linspace(0, 3, 7)[:, None]
    np.testing.assert_allclose(hill(x, jnp.array([1e4]), jnp.array([1.0]))[:, 0], x[:, 0], rtol=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_logistic_hand_computed(mode):
    lam = jnp.array([2.0])
    x = jnp.array([[0.5], [1.0], [4.0]])
    f = lambda v: (1 - np.exp(-2.0 * v)) / (1 + np.exp(-2.0 * v))  # noqa: E731
    np.testing.assert_allclose(mode(logistic)(x, lam)[:, 0], [f(0.5) / f(1), 1.0, f(4) / f(1)], rtol=1e-6)


def test_michaelis_menten_and_tanh_hand_computed():
    x = jnp.array([[0.5], [1.0], [3.0]])
    np.testing.assert_allclose(forms.michaelis_menten(x, jnp.array([2.0]))[:, 0],
                               [0.5 * 3 / 2.5, 1.0, 3 * 3 / 5], rtol=1e-6)
    c = np.arctanh(0.5) / 1.5       # tanh reaches half its maximum at K = 1.5
    np.testing.assert_allclose(forms.tanh(x, jnp.array([1.5]))[:, 0], np.tanh(c * x[:, 0]) / np.tanh(c),
                               rtol=1e-6)
    assert abs(np.tanh(c * 1.5) - 0.5) < 1e-9


def test_hill_threshold_is_zero_below_the_threshold_and_hill_of_the_rescaled_excess_above():
    k, s, t = jnp.array([0.8]), jnp.array([1.5]), jnp.array([0.3])
    x = jnp.array([[0.1], [0.3], [0.65], [1.0], [2.0]])
    y = np.asarray(forms.hill_threshold(x, k, s, t))[:, 0]
    z = np.maximum(np.asarray(x)[:, 0] - 0.3, 0) / 0.7
    np.testing.assert_allclose(y, z ** 1.5 * (1 + 0.8 ** 1.5) / (z ** 1.5 + 0.8 ** 1.5), rtol=1e-6)
    assert y[0] == 0 and y[1] == 0 and abs(y[3] - 1) < 1e-6 and y[2] < y[3] < y[4]
    g = jax.grad(lambda t: forms.hill_threshold(x, k, s, t).sum())(t)
    assert np.isfinite(np.asarray(g)).all() and float(g[0]) < 0   # a higher threshold, less effect


@pytest.mark.parametrize("kind", sorted(SATURATIONS))
def test_every_saturation_is_zero_at_zero_one_at_one_and_increasing(kind):
    # a threshold of 0 (hill_threshold's thresholded side has its own test below)
    params = [jnp.asarray([0.0 if p == "threshold" else 1.3]) for p in SATURATIONS[kind].priors]
    x = jnp.linspace(0.0, 4.0, 41)[:, None]
    y = np.asarray(SATURATIONS[kind].fn(x, *params))[:, 0]
    assert abs(y[0]) < 1e-7 and abs(y[10] - 1.0) < 1e-5 and (np.diff(y) > 0).all()


def test_gradients_finite_at_zero_exposure():
    g = jax.grad(lambda k, s: hill(jnp.zeros((3, 1)), k, s).sum(), argnums=(0, 1))(
        jnp.array([1.0]), jnp.array([1.5]))
    assert all(np.isfinite(np.asarray(v)).all() for v in g)
    ga = jax.grad(lambda a: carry("geometric", {"alpha": a}, jnp.ones((1, 5, 1)), 4).sum())(jnp.array([0.0]))
    assert np.isfinite(np.asarray(ga)).all()


def test_unknown_form_parameter_is_a_config_error():
    from mmm_geo.errors import ConfigError
    from mmm_geo.config import Prior
    bad = ModelConfig(saturation=SaturationConfig(kind="logistic", priors={"slope": Prior("fixed", 1.0)}))
    with pytest.raises(ConfigError, match="logistic has no parameter 'slope'"):
        mm.spec(bad, 2)
