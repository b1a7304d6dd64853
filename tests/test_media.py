"""The media component: per-channel forms, counterfactual contributions and the priors on the
ROI scale (``mmm_geo.model.media``), without fits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest

from mmm_geo.config import AdstockConfig, ChannelModel, MediaPriorConfig, ModelConfig, PriorEntry, SynergyConfig
from mmm_geo.errors import ConfigError
from mmm_geo.model import media as mm

NAMES = ["tv", "search", "social"]
MIXED = ModelConfig(channel_names=NAMES, adstock=AdstockConfig(kind="geometric"),
                    channels={"tv": ChannelModel(adstock="weibull_pdf", saturation="logistic")})


def _params(sp, rng, n_geo=2):
    p = {s.name: jnp.asarray(rng.uniform(0.3, 0.8, len(s.channels))
                             + (1.0 if s.param in ("scale", "lam") else 0.0)) for s in sp.sites}
    p["media_log_effect_geo"] = jnp.asarray(rng.normal(-2, 0.3, (n_geo, sp.n_channel)))
    return p


def test_per_channel_forms_sample_their_own_parameters_over_their_channels():
    sp = mm.spec(MIXED, 3)
    assert sp.adstock == ("weibull_pdf", "geometric", "geometric")
    assert sp.saturation == ("logistic", "hill", "hill")
    sites = {s.name: s.channels for s in sp.sites}
    assert sites == {"adstock_shape": (0,), "adstock_scale": (0,), "adstock_alpha": (1, 2),
                     "saturation_lam": (0,), "saturation_half_saturation": (1, 2),
                     "saturation_slope": (1, 2)}
    assert mm.site_coords(sp, NAMES) == {
        "adstock_shape_channel": ["tv"], "adstock_scale_channel": ["tv"],
        "adstock_alpha_channel": ["search", "social"], "saturation_lam_channel": ["tv"],
        "saturation_half_saturation_channel": ["search", "social"],
        "saturation_slope_channel": ["search", "social"]}


def _value(sp, p, param, c):
    """Channel ``c``'s value of ``param`` in a spec whose sites may cover a subset of channels."""
    site = next(s for s in sp.sites if s.param == param and c in s.channels)
    return p[site.name][site.channels.index(c)]


def test_a_mixed_response_is_each_channels_own_form():
    """Channel by channel, the mixed spec's response equals that of a spec where every channel
    has that channel's forms."""
    rng = np.random.default_rng(0)
    sp = mm.spec(MIXED, 3)
    p = _params(sp, rng)
    media = jnp.asarray(rng.uniform(0, 2, (2, 20, 3)))
    got = mm.response(sp, p, media)
    for c, (ad, sat) in enumerate(zip(sp.adstock, sp.saturation)):
        pure = mm.spec(ModelConfig(channel_names=NAMES, channels={
            n: ChannelModel(adstock=ad, saturation=sat) for n in NAMES}), 3)
        own = {s.name: jnp.full(3, _value(sp, p, s.param, c)) for s in pure.sites}
        own["media_log_effect_geo"] = p["media_log_effect_geo"]
        np.testing.assert_allclose(got[..., c], mm.response(pure, own, media)[..., c], rtol=1e-5)


def test_counterfactual_general_path_equals_the_separable_path():
    """With a synergy pair whose coefficient is 0 the general path (one evaluation per channel)
    must give the separable path's answer."""
    rng = np.random.default_rng(1)
    sp = mm.spec(MIXED, 3)
    paired = sp._replace(pairs=((0, 2),))
    assert sp.separable and not paired.separable
    p = _params(sp, rng)
    media = jnp.asarray(rng.uniform(0, 2, (2, 20, 3)))
    for factor in (0.0, 1.01, 1.7):
        f = jnp.full(3, factor)
        np.testing.assert_allclose(mm.counterfactual(paired, {**p, "synergy": jnp.zeros(1)}, media, f),
                                   mm.counterfactual(sp, p, media, f), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mm.counterfactual(sp, p, media, jnp.zeros(3)), mm.response(sp, p, media),
                               rtol=1e-6)


@pytest.mark.parametrize("kind", ["roi", "mroi", "share"])
def test_the_sampled_size_is_what_the_prior_is_stated_in(kind):
    """The derived coefficient makes the sampled media_<kind> exactly the channel's ROI, marginal
    ROI or revenue share over the training window (computed here from the response directly)."""
    rng = np.random.default_rng(2)
    cfg = ModelConfig(media_prior=MediaPriorConfig(kind=kind))
    sp = mm.spec(cfg, 3)
    media = jnp.asarray(rng.uniform(0, 2, (4, 30, 3)))
    weight = jnp.asarray(rng.uniform(0.5, 1.5, (4, 30)))
    weight = weight / weight.sum()
    share = jnp.asarray([0.02, 0.005, 0.05])
    p, unit = numpyro.handlers.seed(mm.sample, 3)(sp, media, weight, share)
    tr = numpyro.handlers.trace(numpyro.handlers.seed(mm.sample, 3)).get_trace(sp, media, weight, share)
    size = tr[f"media_{kind}"]["value"]
    eff = mm.scale(p, unit)
    if kind == "mroi":
        more = mm.response(sp, p, media * 1.01)
        got = jnp.einsum("gt,gtc->c", weight, more - eff) / (0.01 * share)
    else:
        got = jnp.einsum("gt,gtc->c", weight, eff) / (share if kind == "roi" else 1.0)
    np.testing.assert_allclose(got, size, rtol=1e-4)


def test_per_channel_prior_override_and_family_check():
    over = ModelConfig(channel_names=NAMES, channels={"tv": ChannelModel(priors={"roi": PriorEntry("lognormal", 1.0, 0.2)})})
    sp = mm.spec(over, 3)
    assert sp.media_priors[0].a == 1.0 and sp.media_priors[1] == sp.media_priors[2]
    bad = ModelConfig(channel_names=NAMES, channels={"tv": ChannelModel(priors={"roi": PriorEntry("gamma", 2.0, 1.0)})})
    with pytest.raises(ConfigError, match="share one distribution"):
        mm.spec(bad, 3)
    with pytest.raises(ConfigError, match="unknown channel"):
        mm.spec(ModelConfig(channel_names=NAMES, channels={"radio": ChannelModel()}), 3)


def test_synergy_is_the_pairs_interaction_and_counterfactuals_include_it():
    """total = own + kappa sqrt(e_i e_j) u_i u_j; switching one paired channel off loses its own
    response and the whole synergy; the interaction contrast of the pair is the synergy."""
    rng = np.random.default_rng(4)
    cfg = ModelConfig(channel_names=NAMES, synergy=SynergyConfig(pairs=[["social", "tv"]]))
    sp = mm.spec(cfg, 3)
    assert sp.pairs == ((0, 2),) and mm.pair_names(sp, NAMES) == ["tv:social"]
    p = {**_params(sp, rng), "synergy": jnp.asarray([0.7])}
    media = jnp.asarray(rng.uniform(0, 2, (2, 20, 3)))
    unit = mm.unit_response(sp, p, media)
    e = jnp.exp(p["media_log_effect_geo"])[:, None, :]
    want = 0.7 * jnp.sqrt(e[..., 0] * e[..., 2]) * unit[..., 0] * unit[..., 2]
    syn = mm.synergy(sp, p, unit)
    np.testing.assert_allclose(syn[..., 0], want, rtol=1e-6)
    own = mm.response(sp, p, media)
    np.testing.assert_allclose(mm.total(sp, p, media), own.sum(-1) + want, rtol=1e-6)
    cf = mm.counterfactual(sp, p, media, jnp.zeros(3))
    np.testing.assert_allclose(cf[..., 0], own[..., 0] + want, rtol=1e-5)
    np.testing.assert_allclose(cf[..., 1], own[..., 1], rtol=1e-5)
    off = lambda *cs: mm.total(sp, p, media.at[..., list(cs)].set(0.0))  # noqa: E731
    contrast = mm.total(sp, p, media) - off(0) - off(2) + off(0, 2)
    np.testing.assert_allclose(contrast, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("pairs, match", [([["tv", "radio"]], "unknown"), ([["tv", "tv"]], "two different"),
                                          ([["tv", "search"], ["search", "tv"]], "twice")])
def test_bad_synergy_pairs_name_the_fix(pairs, match):
    with pytest.raises(ConfigError, match=match):
        mm.spec(ModelConfig(channel_names=NAMES, synergy=SynergyConfig(pairs=pairs)), 3)
