"""Mediation: a channel driven by other channels, with its own equation in the same model.

``model.mediation`` names a ``mediator`` among the data's channels (e.g. branded search clicks,
an exposure column with or without spend) and the ``upstream`` channels that drive it. On the
mediator's scaled exposure ``m[g,t]`` (per capita over its mean non-zero level, as every channel's)::

    m[g,t] ~ Normal(base_g + season_t + sum_{c in upstream} r_c[g,t], sigma_m)
    r = mmm_geo.model.media.response(spec_m, q, x[..., upstream])

The upstream response ``r`` is the media component itself (its own adstock, saturation and geo
effects, sites named ``mediator_<site>``), sized by an ``effect`` prior: the weekly rise of the
scaled mediator at typical exposure. The KPI equation is unchanged: the mediator is one of its
channels, and the upstream channels keep their direct effect. Both equations are one NumPyro model.

Effects of upstream channel ``c`` (:func:`effects`), differences of the KPI's whole media effect:

- direct: ``c`` switched off, the mediator as recorded;
- indirect: ``c`` on, the mediator moved by its modelled response to ``c``, ``m - (r(x) - r(x
  with c off))``: the residual ``m - base - season - r`` is held fixed;
- total: both at once. Without synergy between the two paths, direct + indirect = total.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import LocScaleReparam

from mmm_geo import dims
from mmm_geo.config import MediaPriorConfig, ModelConfig, SynergyConfig, TimeVaryingConfig
from mmm_geo.errors import ConfigError
from mmm_geo.model import media as mm
from mmm_geo.model import priors, site_priors

PREFIX = "mediator"       # the mediator equation's sites are mediator_<site>
OBSERVED = "mediator"     # the observed mediator site
UPSTREAM = "upstream"     # dim of the per-upstream-channel outputs
Params = Dict[str, jnp.ndarray]


class Mediation(NamedTuple):
    """The resolved mediation config: channel positions and the mediator equation's media spec."""

    mediator: int
    upstream: Tuple[int, ...]
    spec: mm.Spec


def resolve(cfg: ModelConfig) -> Optional[Mediation]:
    """The mediation of ``cfg`` (None without ``model.mediation.mediator``); ConfigError on
    unknown or repeated channels."""
    med = cfg.mediation
    if not med.mediator:
        if med.upstream:
            raise ConfigError(f"model.mediation.upstream={list(med.upstream)} without a mediator\n"
                              "  fix: set model.mediation.mediator=<channel>")
        return None
    names, up = list(cfg.channel_names), list(med.upstream)
    if not names:
        raise ConfigError("model.mediation needs the data's channel names (model.channel_names); "
                          "they are filled in by mmm-geo fit")
    unknown = [c for c in [med.mediator, *up] if c not in names]
    if unknown or not up or len(set(up)) != len(up) or med.mediator in up:
        raise ConfigError(f"model.mediation: mediator {med.mediator!r} with upstream {up} (unknown: "
                          f"{unknown}); the data's channels are {names}\n  fix: name the mediator "
                          "and one or more other channels, each once, e.g. model.mediation="
                          f"{{mediator: {names[-1]}, upstream: [{names[0]}]}}")
    rf = [c for c in [med.mediator, *up] if c in cfg.rf_channels]
    if rf:
        raise ConfigError(f"model.mediation: {rf} are reach & frequency channels, which a mediation "
                          "does not take yet\n  fix: mediate channels without a frequency column")
    for key, prior in (("effect", med.effect), ("base", med.base), ("sigma", med.sigma)):
        priors.check_prior(f"model.mediation.{key}", prior)
    sub = dataclasses.replace(
        cfg, channel_names=up, channels={k: v for k, v in cfg.channels.items() if k in up},
        media_prior=MediaPriorConfig(kind="effect", prior=med.effect), organic_channels=[], rf_channels=[],
        synergy=SynergyConfig(), time_varying=TimeVaryingConfig())
    return Mediation(names.index(med.mediator), tuple(names.index(c) for c in up),
                     mm.spec(sub, len(up)))


def own(p: Params, med: Mediation) -> Params:
    """The mediator equation's media parameters (prefix removed, fixed priors filled in)."""
    cut = len(PREFIX) + 1
    return mm.complete(med.spec, {k[cut:]: v for k, v in p.items() if k.startswith(PREFIX + "_")})


def sample(data, cfg: ModelConfig, med: Mediation, observe: bool) -> None:
    """The mediator equation (inside the model): its sites and the observed mediator over the
    training periods (drawn instead when ``observe`` is False: the prior predictive)."""
    media, n_geo = data.media, data.media.shape[0]
    reparam = {site: LocScaleReparam(0.0) for site in cfg.noncentered}
    with numpyro.handlers.scope(prefix=PREFIX, divider="_"), numpyro.handlers.reparam(config=reparam):
        q, _ = mm.sample(med.spec, media[..., jnp.asarray(med.upstream)], data.revenue_weight,
                         data.spend_share[jnp.asarray(med.upstream)])
        with numpyro.plate(dims.GEO, n_geo, dim=-1):
            q["base"] = priors.sample("base", cfg.mediation.base, (n_geo,))
        n_season = data.season.shape[-1]
        if n_season:
            with numpyro.plate(dims.FOURIER, n_season, dim=-1):
                q["season_coef"] = priors.sample("season_coef", cfg.priors.seasonality, (n_season,))
        sigma = priors.sample("sigma", cfg.mediation.sigma)
    mu = mean(data, med, {f"{PREFIX}_{k}": v for k, v in q.items()})
    with numpyro.plate(dims.GEO, n_geo, dim=-2), numpyro.plate(dims.TIME, data.y.shape[1], dim=-1), \
            numpyro.handlers.mask(mask=site_priors.observed(data)[None, :]):
        numpyro.sample(OBSERVED, dist.Normal(mu, sigma), obs=media[..., med.mediator] if observe else None)


def mean(data, med: Mediation, p: Params) -> jnp.ndarray:
    """The mediator equation's mean, base + season + upstream response, (geo, time), from the
    model's parameters ``p`` (mediator sites included)."""
    q = own(p, med)
    season = data.season @ q.get("season_coef", jnp.zeros(data.season.shape[-1]))
    response = mm.response(med.spec, q, data.media[..., jnp.asarray(med.upstream)]).sum(-1)
    return q["base"][:, None] + season[None, :] + response


def moved(med: Mediation, q: Params, media: jnp.ndarray) -> jnp.ndarray:
    """The mediator with each upstream channel switched off in its equation, residual held
    fixed, (..., geo, time, upstream); floored at zero exposure."""
    x = media[..., jnp.asarray(med.upstream)]
    drop = mm.counterfactual(med.spec, q, x, jnp.zeros(len(med.upstream), media.dtype))
    return jnp.maximum(media[..., med.mediator, None] - drop, 0.0)


def effects(sp: mm.Spec, med: Mediation, p: Params, media: jnp.ndarray) -> Dict[str, jnp.ndarray]:
    """Direct, indirect and total effect of each upstream channel on the scaled KPI for one
    draw (``p``: the model's parameters, mediator sites included), each (upstream, geo, time)."""
    base = mm.total(sp, p, media)
    shifted = moved(med, own(p, med), media)

    def one(k):
        c = jnp.asarray(med.upstream)[k]
        off = media.at[..., c].set(0.0)
        return {"direct": base - mm.total(sp, p, off),
                "indirect": base - mm.total(sp, p, media.at[..., med.mediator].set(shifted[..., k])),
                "total": base - mm.total(sp, p, off.at[..., med.mediator].set(shifted[..., k]))}

    return jax.vmap(one)(jnp.arange(len(med.upstream)))


def site_coords(med: Optional[Mediation], channel_names) -> Dict[str, list]:
    """Coords of the mediator equation's dims (``mediator_geo`` is set by the caller)."""
    if med is None:
        return {}
    up = [list(channel_names)[c] for c in med.upstream]
    out = {f"{PREFIX}_{dims.CHANNEL}": up}
    out.update({f"{PREFIX}_{k}": v for k, v in mm.site_coords(med.spec, up).items()})
    return out
