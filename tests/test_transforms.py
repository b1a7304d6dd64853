"""Adstock and saturation against hand-computed values, jitted and eager."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmm_geo.model.transforms import geometric_adstock, geometric_weights, hill, logistic

MODES = [pytest.param(lambda f: f, id="eager"), pytest.param(jax.jit, id="jit")]


@pytest.mark.parametrize("mode", MODES)
def test_geometric_adstock_impulse_matches_hand_computed(mode):
    x = jnp.zeros((1, 6, 2)).at[0, 1, :].set(1.0)          # one unit in week 1, two channels
    alpha = jnp.array([0.5, 0.0])
    out = mode(lambda a, b: geometric_adstock(a, b, 3, True))(x, alpha)
    w = np.array([1, 0.5, 0.25]) / 1.75                      # 0.5**l normalised over 3 lags
    np.testing.assert_allclose(out[0, :, 0], [0, *w, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], [0, 1, 0, 0, 0, 0], atol=1e-7)   # alpha 0: no carryover


def test_unnormalised_weights_are_powers():
    w = geometric_weights(jnp.array([0.3]), 4, normalize=False)
    np.testing.assert_allclose(w[:, 0], [1, 0.3, 0.09, 0.027], rtol=1e-6)


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


def test_gradients_finite_at_zero_exposure():
    g = jax.grad(lambda k, s: hill(jnp.zeros((3, 1)), k, s).sum(), argnums=(0, 1))(
        jnp.array([1.0]), jnp.array([1.5]))
    assert all(np.isfinite(np.asarray(v)).all() for v in g)
    ga = jax.grad(lambda a: geometric_adstock(jnp.ones((1, 5, 1)), a, 4).sum())(jnp.array([0.0]))
    assert np.isfinite(np.asarray(ga)).all()
