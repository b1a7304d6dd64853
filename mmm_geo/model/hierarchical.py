"""The hierarchical multi-geo MMM as a pure NumPyro function of arrays and a frozen config.

On the scaled KPI ``y[g, t]`` (per capita, divided by its mean, see ``mmm_geo.data.scaling``)::

    mu[g,t] = baseline_g (+|x) (trend_t + season_t) + controls[g,t] . gamma(_g)
              + media[g,t]            (``mmm_geo.model.media``: adstock, saturation, effect)
    y[g,t] ~ a likelihood with mean mu (``LIKELIHOODS``)

- ``baseline_g ~ Normal(baseline_mean, baseline_sd)``: geo random intercepts.
- Non-media treatments (price, promotions) multiply the mean by ``exp(sum_k b_k z_k)``
  (``mmm_geo.model.treatments``); what they add is the ``treatments`` part.
- The media term, its priors (on the ROI scale by default) and its geo effects are the media
  component's; every likelihood has mean ``mu``, so contributions (counterfactual differences of
  the mean) mean the same under each.

:func:`components` is the deterministic part, reused by analysis and the optimizer with posterior
draws, so there is one definition of the mean.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import LocScaleReparam

from mmm_geo import dims
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import ModelData
from mmm_geo.errors import ConfigError
from mmm_geo.model import media as mm
from mmm_geo.model import mediation
from mmm_geo.model import priors
from mmm_geo.model import site_priors
from mmm_geo.model import treatments as tr

Params = Dict[str, jnp.ndarray]
COUNT_LIKELIHOODS = ("poisson", "negbinomial")


def check_config(cfg: ModelConfig) -> None:
    """Reject unknown names before any compute (per-channel overrides once channels are known)."""
    choices = [("model.likelihood", cfg.likelihood, LIKELIHOODS),
               ("model.baseline", cfg.baseline, ("additive", "multiplicative"))]
    for key, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is unknown; use one of {sorted(allowed)}")
    n_channel = max(len(cfg.channel_names), 1)
    early = dataclasses.replace(cfg, channels={}, synergy=dataclasses.replace(cfg.synergy, pairs=[]),
                                time_varying=dataclasses.replace(cfg.time_varying, channels=[]))
    mm.spec(cfg if cfg.channel_names else early, n_channel)
    tr.spec(cfg)
    if cfg.channel_names:
        mediation.resolve(cfg)
    for name, prior in vars(cfg.priors).items():
        priors.check_prior(name, prior)
    if cfg.adstock.max_lag < 1 or cfg.trend_knots < 0 or cfg.fourier_order < 0:
        raise ConfigError("model.adstock.max_lag must be >= 1, trend_knots and fourier_order >= 0")


def check_count_kpi(cfg: ModelConfig, ds) -> None:
    """Count likelihoods need a KPI of whole, non-negative numbers."""
    if cfg.likelihood not in COUNT_LIKELIHOODS:
        return
    kpi = np.asarray(ds["kpi"].values, float)
    bad = np.flatnonzero((kpi < 0) | (np.abs(kpi - np.round(kpi)) > 1e-6))
    if bad.size:
        raise ConfigError(f"{ds.attrs.get('source', 'data')}: model.likelihood={cfg.likelihood} "
                          f"needs a count KPI (whole numbers >= 0), but {bad.size} KPI values are "
                          f"not (first: {kpi.ravel()[bad[0]]!r})\n  fix: use likelihood=normal, "
                          "student_t or lognormal for this KPI")


def trend_basis(n_time: int, n_knots: int, n_fit: Optional[int] = None) -> np.ndarray:
    """An orthogonal basis (time, knot) for a centred piecewise-linear trend.

    With iid ``Normal(0, s)`` values at ``n_knots + 1`` evenly spaced knots over the first
    ``n_fit`` periods (default all), the trend (centred over them, so the geo baselines carry the
    mean level) is ``B c`` with ``B`` the centred interpolation weights. Writing ``B = U S V'`` and
    ``trend = (U S) z`` with ``z ~ Normal(0, s)`` gives exactly the same prior on the trend with
    orthogonal columns: knot values themselves form a long ridge (e.g. with one knot per week,
    shifting all of them moves only the first week) that costs NUTS hundreds of leapfrog steps.
    Periods after ``n_fit`` (a holdout) keep the trend flat at its last fitted value.
    """
    n_fit = n_time if n_fit is None else n_fit
    if n_knots == 0:
        return np.zeros((n_time, 0))
    knots = np.linspace(0, n_fit - 1, n_knots + 1)
    eye = np.eye(n_knots + 1)
    basis = np.stack([np.interp(np.arange(n_time), knots, eye[k]) for k in range(n_knots + 1)], -1)
    basis = basis - basis[:n_fit].mean(axis=0)
    _, _, vt = np.linalg.svd(basis[:n_fit], full_matrices=False)
    return basis @ vt[:n_knots].T


def fourier_basis(n_time: int, order: int, period: float, offset: int = 0) -> np.ndarray:
    """Yearly Fourier terms (time, 2 * order): sin and cos of 2 pi k t / period, k = 1..order."""
    t = np.arange(offset, offset + n_time)[:, None] * 2 * np.pi / period
    k = np.arange(1, order + 1)[None, :]
    return np.concatenate([np.sin(t * k), np.cos(t * k)], axis=-1)


def time_bases(n_time: int, cfg: ModelConfig, n_fit: Optional[int] = None):
    """(trend, season) bases over ``n_time`` periods, the trend fitted on the first ``n_fit``."""
    return (trend_basis(n_time, cfg.trend_knots, n_fit),
            fourier_basis(n_time, cfg.fourier_order, cfg.period))


def media_parts(sp: mm.Spec, params: Params, unit: jnp.ndarray) -> Dict[str, jnp.ndarray]:
    """The media parts of the mean from the unit response: ``media`` (geo, time, channel) and
    ``synergy`` (geo, time, synergy pair)."""
    return {"media": mm.scale(params, unit), "synergy": mm.synergy(sp, params, unit)}


def components(params: Params, data: ModelData, cfg: ModelConfig,
               media: Optional[Dict[str, jnp.ndarray]] = None) -> Dict[str, jnp.ndarray]:
    """Additive parts of the mean: baseline, trend, seasonality (geo, time); controls (geo, time,
    control); the :func:`media_parts` (computed unless given). Their sum is the mean of the
    scaled KPI."""
    if media is None:
        sp = mm.spec(cfg, data.media.shape[-1])
        unit = mm.unit_response(sp, mm.with_frequency(params, data.frequency), data.media)
        media = media_parts(sp, params, unit)
    n_geo, n_time = data.y.shape
    trend = data.trend @ params["trend_coef"]
    season = data.season @ params["season_coef"]
    base = jnp.broadcast_to(params["baseline"][:, None], (n_geo, n_time))
    scale = base if cfg.baseline == "multiplicative" else 1.0
    gamma = params["control_geo"] if cfg.controls_per_geo else params["control_coef"][None, :]
    out = {
        "baseline": base,
        "trend": scale * jnp.broadcast_to(trend, (n_geo, n_time)),
        "seasonality": scale * jnp.broadcast_to(season, (n_geo, n_time)),
        "controls": data.controls * gamma[:, None, :],
        **media,
    }
    if data.treatments is not None and data.treatments.shape[-1]:   # mmm_geo.model.treatments
        out["treatments"] = tr.parts(tr.spec(cfg), params, data.treatments, mean(out))
    return out


def mean(parts: Dict[str, jnp.ndarray]) -> jnp.ndarray:
    """Sum of :func:`components`, (geo, time)."""
    return (parts["baseline"] + parts["trend"] + parts["seasonality"]
            + parts["controls"].sum(-1) + parts["media"].sum(-1) + parts["synergy"].sum(-1)
            + (parts["treatments"].sum(-1) if "treatments" in parts else 0.0))


POSITIVE = 1e-6   # floor of the mean where a likelihood needs it positive
LIKELIHOODS = {   # (mean, sigma, nu, concentration, KPI units per scaled unit) -> distribution
    "normal": lambda mu, sigma, nu, conc, unit: dist.Normal(mu, sigma),
    "student_t": lambda mu, sigma, nu, conc, unit: dist.StudentT(nu, mu, sigma),
    "lognormal": lambda mu, sigma, nu, conc, unit: dist.LogNormal(
        jnp.log(jnp.maximum(mu, POSITIVE)) - 0.5 * sigma ** 2, sigma),
    "poisson": lambda mu, sigma, nu, conc, unit: dist.Poisson(jnp.maximum(mu, POSITIVE) * unit),
    "negbinomial": lambda mu, sigma, nu, conc, unit: dist.NegativeBinomial2(
        jnp.maximum(mu, POSITIVE) * unit, conc),
}


def observed(y: jnp.ndarray, data: ModelData, cfg: ModelConfig) -> jnp.ndarray:
    """The likelihood's observation of the scaled KPI: counts for count likelihoods."""
    if cfg.likelihood in COUNT_LIKELIHOODS:
        return jnp.round(y * data.kpi_unit[:, None])
    return y


def to_scaled(y_site: np.ndarray, data: ModelData, cfg: ModelConfig) -> np.ndarray:
    """Draws of the ``y`` site (..., geo, time) back on the scaled KPI (inverse of ``observed``)."""
    if cfg.likelihood in COUNT_LIKELIHOODS:
        return np.asarray(y_site) / np.asarray(data.kpi_unit)[:, None]
    return np.asarray(y_site)


def _vector(name: str, prior, dim: str, size: int) -> jnp.ndarray:
    """A vector site in plate ``dim``; an empty vector (no site) when ``size`` is 0."""
    if size == 0:
        return jnp.zeros((0,))
    with numpyro.plate(dim, size, dim=-1):
        return priors.sample(name, prior, (size,))


def _sample_params(data: ModelData, cfg: ModelConfig) -> Params:
    n_geo, n_time, n_channel = data.media.shape
    n_control = data.controls.shape[-1]
    pr, p = cfg.priors, {}
    pooled = n_geo > 1   # with one geo there is no spread across geos to learn: no hierarchy
    if pooled:
        p["baseline_mean"] = priors.sample("baseline_mean", pr.baseline_mean)
        p["baseline_sd"] = priors.sample("baseline_sd", pr.baseline_sd)
    p["trend_coef"] = _vector("trend_coef", pr.trend, dims.KNOT, cfg.trend_knots)
    p["season_coef"] = _vector("season_coef", pr.seasonality, dims.FOURIER, 2 * cfg.fourier_order)
    p["control_coef"] = _vector("control_coef", pr.control, dims.CONTROL, n_control)
    p["control_geo"] = jnp.zeros((n_geo, n_control))
    if cfg.controls_per_geo and n_control:
        with numpyro.plate(dims.CONTROL, n_control, dim=-1):
            p["control_geo_sd"] = priors.sample("control_geo_sd", pr.control_geo_sd, (n_control,))
            with numpyro.plate(dims.GEO, n_geo, dim=-2):
                p["control_geo"] = numpyro.sample(
                    "control_geo", dist.Normal(p["control_coef"], p["control_geo_sd"]))
    media, unit = mm.sample(mm.spec(cfg, n_channel), data.media, data.revenue_weight, data.spend_share,
                            data.frequency)
    p.update(media, media_unit=unit)
    p.update(tr.sample(tr.spec(cfg), n_geo))
    if cfg.sigma_per_geo:
        with numpyro.plate(dims.GEO, n_geo, dim=-1):
            p["sigma"] = priors.sample("sigma", pr.sigma, (n_geo,))
    else:
        p["sigma"] = priors.sample("sigma", pr.sigma)
    p["nu"] = priors.sample("nu", pr.nu) if cfg.likelihood == "student_t" else jnp.asarray(0.0)
    p["concentration"] = (priors.sample("concentration", pr.concentration)
                          if cfg.likelihood == "negbinomial" else jnp.asarray(1.0))
    return p


def _sample_baseline(p: Params, media: jnp.ndarray, data: ModelData, cfg: ModelConfig) -> jnp.ndarray:
    """Geo baselines, sampled through their mean level ``baseline + mean media effect``
    (``media``: the whole media effect, (geo, time)).

    The prior is unchanged (``baseline_g`` ~ its prior); only the coordinates NUTS moves in
    differ. The level is pinned down by the mean KPI of the geo, while ``baseline_g`` trades off
    one-for-one against the media effects (always-on media look like a constant): sampling the
    level turns that long ridge into a nearly axis-aligned direction in the media effects.
    """
    train = jnp.asarray(data.train, media.dtype)
    media_mean = (media * train).sum(-1) / train.sum()          # (geo,)
    pr = cfg.priors.baseline_mean
    prior = (dist.Normal(p["baseline_mean"], p["baseline_sd"]) if "baseline_mean" in p
             else priors.PRIORS[pr.dist](pr.a, pr.b))
    with numpyro.plate(dims.GEO, media.shape[0], dim=-1):
        shifted = dist.TransformedDistribution(prior.expand([media.shape[0]]),
                                               dist.transforms.AffineTransform(media_mean, 1.0))
        level = numpyro.sample("baseline_level", shifted)
        return numpyro.deterministic("baseline", level - media_mean)


def _model(data: ModelData, cfg: ModelConfig, y: Optional[jnp.ndarray]) -> None:
    p = _sample_params(data, cfg)
    sp = mm.spec(cfg, data.media.shape[-1])
    media = media_parts(sp, p, p.pop("media_unit"))
    p["baseline"] = _sample_baseline(p, media["media"].sum(-1) + media["synergy"].sum(-1), data, cfg)
    mu = mean(components(p, data, cfg, media))
    sigma = p["sigma"][:, None] if cfg.sigma_per_geo else p["sigma"]
    with numpyro.plate(dims.GEO, data.y.shape[0], dim=-2), \
            numpyro.plate(dims.TIME, data.y.shape[1], dim=-1), \
            numpyro.handlers.mask(mask=site_priors.observed(data)[None, :]):
        likelihood = LIKELIHOODS[cfg.likelihood](mu, sigma, p["nu"], p["concentration"],
                                                 data.kpi_unit[:, None])
        numpyro.sample("y", likelihood, obs=None if y is None else observed(y, data, cfg))
    if data.lift is not None:   # calibration: each lift test is a measurement of the media effect
        with numpyro.plate(dims.LIFT_TEST, data.lift.y.shape[0], dim=-1):
            numpyro.sample("lift", dist.Normal(mm.lift(sp, p, data.media, data.lift), data.lift.se),
                           obs=None if y is None else data.lift.y)
    med = mediation.resolve(cfg)
    if med is not None:     # the mediator's own equation (mmm_geo.model.mediation)
        mediation.sample(data, cfg, med, observe=y is not None)


def model(data: ModelData, cfg: ModelConfig, y: Optional[jnp.ndarray] = None) -> None:
    """The NumPyro model. ``y=None`` draws from the prior predictive (lift tests too).

    Sites named in ``cfg.noncentered`` are sampled non-centred (``LocScaleReparam``); the sites
    named in ``data.priors`` have those priors instead of the configured ones (a refresh,
    ``mmm_geo.model.site_priors``), applied before the non-centring.
    """
    reparam = {site: LocScaleReparam(0.0) for site in cfg.noncentered}
    prior = site_priors.override(priors=data.priors)
    with numpyro.handlers.reparam(config=reparam), prior:
        _model(data, cfg, y)
        prior.correlate()


def params_from_samples(samples: Dict[str, jnp.ndarray], cfg: ModelConfig,
                        n_channel: int, n_geo: int) -> Params:
    """Rebuild the parameter dict :func:`components` needs from posterior sample sites.

    Fixed priors (no site) become their constants; works for one draw or batched along axis 0.
    """
    batch = next(iter(samples.values())).shape[:1] if samples else ()
    p = mm.complete(mm.spec(cfg, n_channel), dict(samples))
    for name, size in (("trend_coef", cfg.trend_knots), ("season_coef", 2 * cfg.fourier_order)):
        p.setdefault(name, jnp.zeros(batch + (size,)))
    p.setdefault("control_coef", jnp.zeros(batch + (0,)))
    p.setdefault("control_geo", jnp.zeros(batch + (n_geo, p["control_coef"].shape[-1])))
    return p
