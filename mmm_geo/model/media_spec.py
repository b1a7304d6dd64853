"""The media model's static spec: each channel's forms, priors and interactions, from the config.

:func:`spec` resolves ``model.adstock``, ``model.saturation``, ``model.channels.<name>``,
``model.media_prior`` (``model.organic_prior`` for channels without spend), ``model.synergy`` and
``model.order`` into a hashable :class:`Spec` of plain Python values, which the pure functions of
:mod:`mmm_geo.model.media` take. Unknown names fail here, before any compute.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

from mmm_geo import dims
from mmm_geo.config import ModelConfig, Prior
from mmm_geo.errors import ConfigError
from mmm_geo.model import priors
from mmm_geo.model.forms import ADSTOCKS, SATURATIONS

MEDIA_PRIORS = {"roi": Prior("lognormal", 0.2, 0.9), "mroi": Prior("lognormal", -0.3, 0.9),
                "share": Prior("lognormal", -3.0, 1.2), "effect": Prior("lognormal", -3.0, 1.0)}
ORGANIC_PRIORS = ("share", "effect")     # the size priors a channel without spend can have
ORDERS = ("adstock_first", "saturation_first")


class Site(NamedTuple):
    """One shape-parameter site: ``name`` (e.g. ``adstock_`` + parameter), the form role and parameter,
    the channel positions it covers and their priors (one per channel, one distribution)."""

    name: str
    role: str
    param: str
    channels: Tuple[int, ...]
    priors: Tuple[Prior, ...]


class Spec(NamedTuple):
    """The media model of a config, resolved per channel (static: plain Python values)."""

    n_channel: int
    adstock: Tuple[str, ...]
    saturation: Tuple[str, ...]
    max_lag: int
    normalize: bool
    order: str
    sites: Tuple[Site, ...]
    prior_kinds: Tuple[str, ...]           # per channel: what its size prior is stated in
    media_priors: Tuple[Prior, ...]
    geo_sd: Prior
    pairs: Tuple[Tuple[int, int], ...] = ()     # interacting channel pairs (model.synergy)
    synergy_prior: Prior = Prior("normal", 0.0, 0.5)
    tv_channels: Tuple[int, ...] = ()           # channels with time-varying effects
    tv_basis: int = 12
    tv_lengthscale: float = 26.0
    tv_amplitude: Prior = Prior("halfnormal", 0.3, 0.0)
    rf_channels: Tuple[int, ...] = ()           # reach & frequency channels (model.rf_channels)
    tv_trend: Prior = Prior("normal", 0.0, 0.5)

    @property
    def separable(self) -> bool:
        """No channel interactions: a channel's counterfactual is its own column."""
        return not self.pairs


def _overrides(cfg: ModelConfig, n_channel: int) -> list:
    names = list(cfg.channel_names)
    unknown = sorted(set(cfg.channels) - set(names))
    if unknown and names:
        raise ConfigError(f"model.channels: unknown channel(s) {unknown}; the data's channels are "
                          f"{names}\n  fix: use one of those names")
    if cfg.channels and not names:
        raise ConfigError("model.channels needs the data's channel names (model.channel_names); "
                          "they are filled in by mmm-geo fit")
    if names and len(names) != n_channel:
        raise ConfigError(f"model.channel_names has {len(names)} names for {n_channel} channels")
    return [cfg.channels.get(name) for name in names] if names else [None] * n_channel


def _pairs(cfg: ModelConfig) -> Tuple[Tuple[int, int], ...]:
    names = list(cfg.channel_names)
    out = []
    for pair in cfg.synergy.pairs:
        pair = list(pair)
        if not names:
            raise ConfigError("model.synergy.pairs needs the data's channel names "
                              "(model.channel_names); they are filled in by mmm-geo fit")
        unknown = [c for c in pair if c not in names]
        if len(pair) != 2 or len(set(pair)) != 2 or unknown:
            raise ConfigError(f"model.synergy.pairs: {pair} is not a pair of two different channels"
                              f"{f' (unknown: {unknown})' if unknown else ''}; the data's channels "
                              f"are {names}\n  fix: e.g. model.synergy.pairs=[[{names[0]},"
                              f"{names[-1]}]]")
        key = tuple(sorted(names.index(c) for c in pair))
        if key in out:
            raise ConfigError(f"model.synergy.pairs: {pair} is listed twice\n  fix: list it once")
        out.append(key)
    return tuple(out)


def _time_varying(cfg: ModelConfig) -> Tuple[int, ...]:
    names = list(cfg.channel_names)
    chosen = list(cfg.time_varying.channels)
    if chosen and not names:
        raise ConfigError("model.time_varying.channels needs the data's channel names "
                          "(model.channel_names); they are filled in by mmm-geo fit")
    unknown = [c for c in chosen if c not in names]
    if unknown or len(set(chosen)) != len(chosen):
        raise ConfigError(f"model.time_varying.channels={chosen}: unknown or repeated channel(s) "
                          f"{unknown}; the data's channels are {names}\n  fix: list each at most once")
    return tuple(sorted(names.index(c) for c in chosen))


def _reach_frequency(cfg: ModelConfig, over: list) -> Tuple[int, ...]:
    """Positions of ``model.rf_channels``, whose saturation is in frequency (none after carryover)."""
    names = list(cfg.channel_names)
    unknown = sorted(set(cfg.rf_channels) - set(names))
    if unknown:
        raise ConfigError(f"model.rf_channels: unknown channel(s) {unknown}; the data's channels are "
                          f"{names}\n  fix: leave model.rf_channels empty (mmm-geo fit fills it in)")
    out = tuple(names.index(c) for c in names if c in cfg.rf_channels)
    for c in out:
        if over[c] and over[c].saturation:
            raise ConfigError(f"model.channels.{names[c]}.saturation: {names[c]} is a reach & "
                              "frequency channel, which saturates in frequency (model.rf)\n  fix: "
                              "remove that override")
    return out


def _kind(value, registry, key) -> str:
    if value not in registry:
        raise ConfigError(f"{key}={value!r} is unknown; use one of {sorted(registry)}")
    return value


def spec(cfg: ModelConfig, n_channel: int) -> Spec:
    """Resolve the media config for ``n_channel`` channels; ConfigError on unknown names."""
    over = _overrides(cfg, n_channel)
    if cfg.order not in ORDERS:
        raise ConfigError(f"model.order={cfg.order!r} is unknown; use one of {list(ORDERS)}")
    ad = tuple(_kind((o and o.adstock) or cfg.adstock.kind, ADSTOCKS, "adstock kind") for o in over)
    rf = _reach_frequency(cfg, over)
    sat = tuple("linear" if c in rf else
                _kind((o and o.saturation) or cfg.saturation.kind, SATURATIONS, "saturation kind")
                for c, o in enumerate(over))
    sites = []
    for role, kinds, registry, group in (("adstock", ad, ADSTOCKS, cfg.adstock),
                                         ("saturation", sat, SATURATIONS, cfg.saturation)):
        for key in group.priors:
            if key not in registry[group.kind].priors:
                raise ConfigError(f"model.{role}.priors.{key}: {group.kind} has no parameter "
                                  f"{key!r}; its parameters are {list(registry[group.kind].priors)}")
        params = dict.fromkeys(p for k in kinds for p in registry[k].priors)
        for param in params:
            chans = tuple(c for c, k in enumerate(kinds) if param in registry[k].priors)
            chosen = []
            for c in chans:
                default = group.priors.get(param) if kinds[c] == group.kind else None
                own = over[c].priors.get(param) if over[c] else None
                chosen.append(_frozen(own or default or registry[kinds[c]].priors[param]))
            sites.append(Site(f"{role}_{param}", role, param, chans, tuple(chosen)))
    if rf:
        sites += [Site(f"rf_{param}", "rf", param, rf, (_frozen(getattr(cfg.rf, param)),) * len(rf))
                  for param in ("half_saturation", "slope")]
    kinds, media = _size_priors(cfg, over)
    out = Spec(n_channel, ad, sat, cfg.adstock.max_lag, cfg.adstock.normalize, cfg.order,
               tuple(sites), kinds, media, cfg.priors.media_geo_sd, _pairs(cfg),
               _frozen(cfg.synergy.prior), _time_varying(cfg), int(cfg.time_varying.basis),
               float(cfg.time_varying.lengthscale), _frozen(cfg.time_varying.amplitude), rf,
               _frozen(cfg.time_varying.trend))
    if out.tv_channels and (out.tv_basis < 1 or out.tv_lengthscale <= 0):
        raise ConfigError("model.time_varying: basis must be >= 1 and lengthscale > 0 (periods)")
    priors.check_prior("media_time_amplitude", out.tv_amplitude)
    priors.check_prior("media_time_trend", out.tv_trend)
    for site in out.sites:
        _one_family(site.name, site.priors)
    for name, chans, _ in size_sites(out):
        _one_family(name, [media[c] for c in chans])
    priors.check_prior("media_geo_sd", cfg.priors.media_geo_sd)
    priors.check_prior("synergy", out.synergy_prior)
    return out


def _size_priors(cfg: ModelConfig, over: list) -> Tuple[Tuple[str, ...], Tuple[Prior, ...]]:
    """Each channel's size-prior kind and prior: ``model.media_prior`` for paid channels,
    ``model.organic_prior`` for the channels without spend (``model.organic_channels``), a
    channel's own ``priors.<kind>`` over either."""
    paid = _kind(cfg.media_prior.kind, MEDIA_PRIORS, "model.media_prior.kind")
    organic = _kind(cfg.organic_prior.kind, MEDIA_PRIORS, "model.organic_prior.kind")
    if organic not in ORGANIC_PRIORS:
        raise ConfigError(f"model.organic_prior.kind={organic!r}: a channel without spend has no "
                          f"ROI\n  fix: use one of {list(ORGANIC_PRIORS)}")
    names = list(cfg.channel_names) or [None] * len(over)
    kinds, chosen = [], []
    for name, o in zip(names, over):
        own = name in cfg.organic_channels
        kind, group = (organic, cfg.organic_prior) if own else (paid, cfg.media_prior)
        kinds.append(kind)
        chosen.append(_frozen((o.priors.get(kind) if o else None) or group.prior or MEDIA_PRIORS[kind]))
    return tuple(kinds), tuple(chosen)


def size_sites(sp: Spec) -> list:
    """``(site name, channels, dim)`` of each size-prior kind in use: ``media_<kind>`` over its
    channels (dim ``channel`` when it covers all, else ``media_<kind>_channel``)."""
    out = []
    for kind in dict.fromkeys(sp.prior_kinds):
        chans = tuple(c for c, k in enumerate(sp.prior_kinds) if k == kind)
        dim = dims.CHANNEL if len(chans) == sp.n_channel else f"media_{kind}_channel"
        out.append((f"media_{kind}", chans, dim))
    return out


def _frozen(prior) -> Prior:
    """A hashable :class:`Prior` of a config prior entry."""
    return Prior(prior.dist, float(prior.a), float(prior.b))


def _one_family(name: str, chosen) -> None:
    for prior in chosen:
        priors.check_prior(name, prior)
    if len({p.dist for p in chosen}) > 1:
        raise ConfigError(f"{name}: per-channel priors must share one distribution, got "
                          f"{sorted({p.dist for p in chosen})}\n  fix: change only their a and b")


def site_dim(s: Site, sp: Spec) -> str:
    """The dim of a site's channel axis: ``channel``, or ``<site>_channel`` for a subset."""
    return dims.CHANNEL if len(s.channels) == sp.n_channel else f"{s.name}_channel"


def site_coords(sp: Spec, channel_names) -> Dict[str, list]:
    """Coords of the subset channel dims of :func:`site_dim`."""
    names = list(channel_names)
    out = {site_dim(s, sp): [names[c] for c in s.channels] for s in sp.sites
           if site_dim(s, sp) != dims.CHANNEL}
    out.update({dim: [names[c] for c in chans] for _, chans, dim in size_sites(sp)
                if dim != dims.CHANNEL})
    if sp.pairs:
        out[dims.PAIR] = pair_names(sp, names)
    if sp.tv_channels and len(sp.tv_channels) < sp.n_channel:
        out["time_varying_channel"] = [names[c] for c in sp.tv_channels]
    return out


def pair_names(sp: Spec, channel_names) -> list:
    """``"a:b"`` per synergy pair."""
    return [f"{channel_names[i]}:{channel_names[j]}" for i, j in sp.pairs]
