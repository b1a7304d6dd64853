"""The media model, once: the sites it samples, its response, and counterfactual differences.

Everything that needs the media response calls this module: the model's mean and its lift-test
likelihood, the analysis (ROI, marginal ROI, contributions, curves, adstock decay), the optimizer and
its contract test. It is a pair of pure functions over a static :class:`Spec`, in the spirit of an
Optax ``(init, update)`` pair:

- :func:`sample` draws the media parameters as NumPyro sites (inside the model);
- :func:`response` maps parameters and scaled exposure ``(..., geo, time, channel)`` to each
  channel's effect on the scaled KPI, same shape;
- :func:`counterfactual` is the one definition of a channel's contribution: the total media effect
  with the recorded inputs minus the total with that channel's exposure multiplied by a factor
  (0: the contribution; 1.01: minus the marginal return). It stays right when channels interact.

Each channel has its own adstock and saturation form (``mmm_geo.model.forms``), chosen in config
(``model.adstock``, ``model.saturation``, per channel ``model.channels.<name>``), applied in
``model.order``. Its size is set by a prior users think in (``model.media_prior``):

- ``roi``: ``ROI_c`` is sampled and the channel's coefficient follows from it and its spend:
  ``beta_c = ROI_c * spend_c / sum_{g,t} revenue_{g,t} * m_{g,c} * r_{g,t,c}`` over the training
  window, with ``r`` the unit response and ``m`` the geo multipliers. A small channel's prior
  contribution is then proportional to its spend, and the sampled ``media_roi`` is the channel's
  national ROI in the training window exactly.
- ``mroi``: the same with the marginal return of 1 % more spend in place of the contribution.
- ``share``: the channel's share of the training window's KPI (revenue).
- ``effect``: the weekly effect at typical exposure as a share of the mean KPI.

Reach & frequency channels (``model.rf_channels``: a frequency column in the data) follow
Meridian's form ``adstock(reach * hill(frequency))``. Their exposure is their impressions, so
``reach * hill(f) = impressions * hill(f) / f`` (:func:`reach_frequency`), applied before the
carryover, with no saturation after it (their form is ``linear``): at a fixed frequency the
response is linear in reach, and spending more buys more reach. The frequency is an input, not a
parameter: ``p[FREQUENCY]``, broadcastable to (geo, time, channel), the data's in the model
(:func:`with_frequency`) and a planned one in the optimizer.

Geo effects: ``effect[g,c] = beta_c * exp(u[g,c])`` with the site ``media_geo`` ``u ~ Normal(0, sd_c)``,
sampled non-centred when ``model.noncentered`` names it (the default), centred otherwise.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from mmm_geo import dims
from mmm_geo.model import priors
from mmm_geo.model import time_varying as tv
from mmm_geo.model.forms import ADSTOCKS, SATURATIONS, hill
from mmm_geo.model.media_spec import (  # noqa: F401  (the spec is part of this module's interface)
    MEDIA_PRIORS, ORDERS, Site, Spec, pair_names, site_coords, site_dim, size_sites, spec)

Params = Dict[str, jnp.ndarray]
MARGIN = 0.01
FILL = 0.5        # parameter value of channels whose form lacks the parameter (finite in every form)
FREQUENCY = "frequency"     # the params key of reach & frequency channels' frequency (an input)


def _vector_prior(chosen) -> Tuple[str, jnp.ndarray, jnp.ndarray]:
    return (chosen[0].dist, jnp.asarray([p.a for p in chosen]), jnp.asarray([p.b for p in chosen]))


def _sample_vector(name: str, chosen, dim: str) -> jnp.ndarray:
    family, a, b = _vector_prior(chosen)
    if family == "fixed":
        return a
    with numpyro.plate(dim, len(chosen), dim=-1):
        return numpyro.sample(name, priors.PRIORS[family](a, b))


def param_names(sp: Spec) -> list:
    """The parameters the response reads: the shape sites, the geo effects and the synergy."""
    return ([s.name for s in sp.sites] + ["media_log_effect_geo"] + (["synergy"] if sp.pairs else [])
            + ([tv.SITE] if sp.tv_channels else []))


def complete(sp: Spec, samples: Params) -> Params:
    """Add the fixed shape parameters (no site) to posterior samples (batched or not)."""
    out = dict(samples)
    batch = jnp.shape(samples["media_log_effect_geo"])[:-2] if "media_log_effect_geo" in samples else ()
    for s in sp.sites:
        if s.name not in out:
            out[s.name] = jnp.broadcast_to(jnp.asarray([p.a for p in s.priors]), batch + (len(s.channels),))
    return out


def _param(sp: Spec, p: Params, role: str, param: str) -> jnp.ndarray:
    """A parameter over all channels (``FILL`` where a channel's form lacks it), (..., channel)."""
    s = next(s for s in sp.sites if s.role == role and s.param == param)
    value = p[s.name]
    if len(s.channels) == sp.n_channel:
        return value
    full = jnp.full(value.shape[:-1] + (sp.n_channel,), FILL, value.dtype)
    return full.at[..., jnp.asarray(s.channels)].set(value)


def _by_kind(kinds, compute) -> jnp.ndarray:
    """``compute(kind)`` per distinct kind, each channel taking its own kind's result."""
    distinct = sorted(set(kinds))
    out = compute(distinct[0])
    for k in distinct[1:]:
        out = jnp.where(jnp.asarray([c == k for c in kinds]), compute(k), out)
    return out


def weights(sp: Spec, p: Params) -> jnp.ndarray:
    """Carryover weights (lag, channel) of unbatched parameters; sum to 1 if ``normalize``."""
    def compute(kind):
        form = ADSTOCKS[kind]
        return form.fn(sp.max_lag, *(_param(sp, p, "adstock", n) for n in form.priors))
    w = _by_kind(sp.adstock, compute)
    return w / w.sum(axis=0) if sp.normalize else w


def lag_stack(x: jnp.ndarray, max_lag: int) -> jnp.ndarray:
    """Lagged copies of ``x`` (..., time, channel) -> (lag, ..., time, channel), zeros before the start."""
    pads = [(0, 0)] * (x.ndim - 2)
    return jnp.stack([jnp.pad(x, pads + [(lag, 0), (0, 0)])[..., : x.shape[-2], :]
                      for lag in range(max_lag)])


def carry(sp: Spec, p: Params, x: jnp.ndarray) -> jnp.ndarray:
    """Adstock of ``x`` (..., time, channel): linear in ``x`` for every form."""
    return jnp.einsum("l...tc,lc->...tc", lag_stack(x, sp.max_lag), weights(sp, p))


def saturate(sp: Spec, p: Params, x: jnp.ndarray) -> jnp.ndarray:
    """Each channel's saturation curve at ``x`` (..., channel)."""
    def compute(kind):
        form = SATURATIONS[kind]
        return form.fn(x, *(_param(sp, p, "saturation", n) for n in form.priors))
    return _by_kind(sp.saturation, compute)


def with_frequency(p: Params, frequency) -> Params:
    """``p`` with the frequency input of reach & frequency channels (None: none)."""
    return p if frequency is None else {**p, FREQUENCY: frequency}


def frequency_response(sp: Spec, p: Params, f: jnp.ndarray) -> jnp.ndarray:
    """``hill(f) / f`` of the reach & frequency channels, in ``f``'s shape (..., rf channel): the
    effect per impression at frequency ``f`` (>= 1), up to each channel's coefficient."""
    idx = jnp.asarray(sp.rf_channels)
    k, s = (_param(sp, p, "rf", n)[..., idx] for n in ("half_saturation", "slope"))
    return hill(f, k, s) / f


def reach_frequency(sp: Spec, p: Params, media: jnp.ndarray) -> jnp.ndarray:
    """``media`` with each reach & frequency channel's impressions turned into
    ``reach * hill(frequency)`` (``impressions * hill(f) / f``); the other channels unchanged."""
    if not sp.rf_channels:
        return media
    idx = jnp.asarray(sp.rf_channels)
    f = jnp.broadcast_to(p[FREQUENCY], media.shape)[..., idx]
    return media * jnp.ones_like(media).at[..., idx].set(frequency_response(sp, p, f))


def unit_response(sp: Spec, p: Params, media: jnp.ndarray) -> jnp.ndarray:
    """Response per unit of media coefficient, (..., geo, time, channel)."""
    media = reach_frequency(sp, p, media)
    if sp.order == "adstock_first":
        return saturate(sp, p, carry(sp, p, media))
    return carry(sp, p, saturate(sp, p, media))


def effects(p: Params) -> jnp.ndarray:
    """Each geo and channel's media coefficient per period, (..., geo, 1 or time, channel): times
    the time-varying multiplier (``mmm_geo.model.time_varying``) where the model has one."""
    out = jnp.exp(p["media_log_effect_geo"])[..., :, None, :]
    return out * jnp.exp(p[tv.SITE])[..., None, :, :] if tv.SITE in p else out


def scale(p: Params, unit: jnp.ndarray) -> jnp.ndarray:
    """Unit responses (geo, time, channel) times each geo and channel's media coefficient."""
    return effects(p) * unit


def response(sp: Spec, p: Params, media: jnp.ndarray) -> jnp.ndarray:
    """Each channel's effect on the scaled KPI, (..., geo, time, channel)."""
    return scale(p, unit_response(sp, p, media))


def synergy(sp: Spec, p: Params, unit: jnp.ndarray) -> jnp.ndarray:
    """Each synergy pair's interaction effect on the scaled KPI from the unit responses,
    ``kappa * sqrt(effect_i * effect_j) * u_i * u_j``, (..., geo, time, pair)."""
    if not sp.pairs:
        return jnp.zeros(unit.shape[:-1] + (0,), unit.dtype)
    i, j = (jnp.asarray(c) for c in zip(*sp.pairs))
    e = effects(p)
    return p["synergy"][..., None, None, :] * jnp.sqrt(e[..., i] * e[..., j]) * unit[..., i] * unit[..., j]


def total(sp: Spec, p: Params, media: jnp.ndarray) -> jnp.ndarray:
    """The whole media effect on the scaled KPI, channels and their synergy, (..., geo, time)."""
    unit = unit_response(sp, p, media)
    return scale(p, unit).sum(-1) + synergy(sp, p, unit).sum(-1)


def counterfactual(sp: Spec, p: Params, media: jnp.ndarray, factor: jnp.ndarray) -> jnp.ndarray:
    """Per channel c, ``total(media) - total(media with channel c times factor[c])``, laid out
    (..., geo, time, channel). Separable media take one evaluation; otherwise one per channel."""
    if sp.separable:
        return response(sp, p, media) - response(sp, p, media * factor)

    def one(c):
        scaled = media.at[..., c].multiply(factor[c])
        return total(sp, p, media) - total(sp, p, scaled)

    return jnp.moveaxis(jax.vmap(one)(jnp.arange(sp.n_channel)), 0, -1)


def _denominator(sp: Spec, p: Params, media, unit, geo_mult, weight, marginal: bool) -> jnp.ndarray:
    """sum_{g,t} weight * m * (the unit response, or its marginal change), (channel,)."""
    if marginal:
        up = unit_response(sp, p, media * (1 + MARGIN))
        unit = ((up * jnp.exp(p[tv.SITE]) if tv.SITE in p else up) - unit) / MARGIN
    return jnp.einsum("gt,gc,gtc->c", weight, geo_mult, unit)


def _log_beta(sp: Spec, p: Params, size, media, unit, geo_mult, weight, spend_share) -> jnp.ndarray:
    """Each channel's log coefficient from its sampled size, by its prior kind, (channel,)."""
    kinds = sp.prior_kinds
    out = jnp.log(size)                                                        # effect
    if {"roi", "mroi"} & set(kinds):
        out = out + jnp.where(jnp.asarray([k in ("roi", "mroi") for k in kinds]),
                              jnp.log(jnp.where(spend_share > 0, spend_share, 1.0)), 0.0)
    for kinds_of, marginal in ((("roi", "share"), False), (("mroi",), True)):
        mask = jnp.asarray([k in kinds_of for k in kinds])
        if any(k in kinds_of for k in kinds):
            denom = _denominator(sp, p, media, unit, geo_mult, weight, marginal)
            out = out - jnp.where(mask, jnp.log(denom), 0.0)
    return out


def sample(sp: Spec, media: jnp.ndarray, revenue_weight: jnp.ndarray,
           spend_share: jnp.ndarray, frequency=None) -> Tuple[Params, jnp.ndarray]:
    """Sample the media sites (inside the model) and derive ``media_log_effect_geo`` (geo, channel).

    Returns the parameters and the unit response of ``media`` (geo, time, channel), so the model
    scales it (:func:`scale`) instead of computing the response twice.

    Args:
        sp: the media spec.
        media: scaled exposure (geo, time, channel).
        revenue_weight: revenue per unit of scaled KPI in each training cell over the training
            window's total revenue, (geo, time); zero outside the training window.
        spend_share: each channel's training-window spend over that total revenue, (channel,).
        frequency: reach & frequency channels' frequency (geo, time, channel); None: none.
    """
    n_geo = media.shape[0]
    p = with_frequency({s.name: _sample_vector(s.name, s.priors, site_dim(s, sp)) for s in sp.sites},
                       frequency)
    unit = sized = unit_response(sp, p, media)
    if sp.tv_channels:     # the sizes below are of the multiplied response
        p[tv.SITE] = tv.sample(sp, media.shape[1], (revenue_weight.sum(0) > 0).astype(media.dtype))
        sized = unit * jnp.exp(p[tv.SITE])
    size = jnp.ones(sp.n_channel)
    for name, chans, dim in size_sites(sp):
        size = size.at[jnp.asarray(chans)].set(_sample_vector(name, [sp.media_priors[c] for c in chans], dim))
    log_mult = jnp.zeros((n_geo, sp.n_channel))
    if n_geo > 1:       # with one geo there is no spread across geos to learn
        sd = _sample_vector("media_geo_sd", (sp.geo_sd,) * sp.n_channel, dims.CHANNEL)
        with numpyro.plate(dims.CHANNEL, sp.n_channel, dim=-1), \
                numpyro.plate(dims.GEO, n_geo, dim=-2):
            log_mult = numpyro.sample("media_geo", dist.Normal(0.0, sd))
    log_beta = _log_beta(sp, p, size, media, sized, jnp.exp(log_mult), revenue_weight, spend_share)
    with numpyro.plate(dims.CHANNEL, sp.n_channel, dim=-1), numpyro.plate(dims.GEO, n_geo, dim=-2):
        p["media_log_effect_geo"] = numpyro.deterministic("media_log_effect_geo", log_beta + log_mult)
    if sp.pairs:
        p["synergy"] = _sample_vector("synergy", (sp.synergy_prior,) * len(sp.pairs), dims.PAIR)
    return p, unit


def lift(sp: Spec, p: Params, media: jnp.ndarray, tests) -> jnp.ndarray:
    """The model's lift of each lift test (``mmm_geo.data.lift.LiftData``), (lift_test,), scaled:
    the total media effect with the recorded media minus that with the test's exposure change
    undone, weighted over the test's measured cells.

    Separable media whose channels share one adstock and one saturation form (the default) take a
    fast path: a test changes only its own channel's column, so the lift is that channel's own
    response difference, evaluated for all tests at once on the tested channels' columns (two
    response evaluations of ``lift_test`` columns instead of one of every channel per test).
    """
    if (sp.separable and len(set(sp.adstock)) == 1 and len(set(sp.saturation)) == 1
            and tv.SITE not in p and not sp.rf_channels):
        return _tested_columns_lift(sp, p, media, tests)
    return _general_lift(sp, p, media, tests)


def _tested_columns_lift(sp: Spec, p: Params, media: jnp.ndarray, tests) -> jnp.ndarray:
    idx, k = tests.channel, tests.channel.shape[0]
    sub = sp._replace(n_channel=k, adstock=sp.adstock[:1] * k, saturation=sp.saturation[:1] * k,
                      sites=tuple(s._replace(channels=tuple(range(k)), priors=s.priors[:1] * k)
                                  for s in sp.sites))
    q = {s.name: p[s.name][..., idx] for s in sp.sites}
    q["media_log_effect_geo"] = p["media_log_effect_geo"][..., idx]
    x = media[..., idx]                                                     # (geo, time, test)
    undone = jnp.maximum(x - jnp.moveaxis(tests.delta, 0, -1), 0.0)
    diff = response(sub, q, x) - response(sub, q, undone)
    return (diff * jnp.moveaxis(tests.weight, 0, -1)).sum((-3, -2))


def _general_lift(sp: Spec, p: Params, media: jnp.ndarray, tests) -> jnp.ndarray:
    base = total(sp, p, media)

    def one(channel, delta, weight):
        undone = media.at[..., channel].set(jnp.maximum(media[..., channel] - delta, 0.0))
        return ((base - total(sp, p, undone)) * weight).sum()

    return jax.vmap(one)(tests.channel, tests.delta, tests.weight)
