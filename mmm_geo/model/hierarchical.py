"""The hierarchical multi-geo MMM as a pure NumPyro function of arrays and a frozen config.

On the scaled KPI ``y[g, t]`` (per capita, divided by its mean, see ``mmm_geo.data.scaling``)::

    mu[g,t] = baseline_g (+|x) (trend_t + season_t) + controls[g,t] . gamma(_g)
              + sum_c effect[g,c] * sat_c(adstock_c(media[g,:,c]))[t]
    y[g,t] ~ Normal(mu, sigma)  or  StudentT(nu, mu, sigma)

- ``baseline_g ~ Normal(baseline_mean, baseline_sd)``: geo random intercepts.
- ``log effect[g,c] ~ Normal(media_log_effect_c, media_geo_sd_c)``: geo media effects partially
  pooled around the channel mean (non-centred by default).
- ``effect`` is the weekly effect at the channel's typical exposure (saturation curves are 1 at
  exposure 1), as a share of the mean KPI. ROI follows from it and the spend (see analysis).

:func:`components` is the deterministic part, reused by analysis and the optimizer with posterior
draws, so there is one definition of the mean.
"""

from __future__ import annotations

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
from mmm_geo.model import priors
from mmm_geo.model.transforms import ADSTOCKS, SATURATIONS

Params = Dict[str, jnp.ndarray]

SATURATION_PARAMS = {"hill": ("half_saturation", "slope"), "logistic": ("lam",)}


def check_config(cfg: ModelConfig) -> None:
    """Reject unknown names before any compute."""
    choices = [("model.adstock.kind", cfg.adstock.kind, ADSTOCKS),
               ("model.saturation.kind", cfg.saturation.kind, SATURATIONS),
               ("model.likelihood", cfg.likelihood, LIKELIHOODS),
               ("model.baseline", cfg.baseline, ("additive", "multiplicative"))]
    for key, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is unknown; use one of {sorted(allowed)}")
    for name in ("half_saturation", "slope", "lam"):
        priors.check_prior(f"saturation.{name}", getattr(cfg.saturation, name))
    priors.check_prior("adstock.alpha", cfg.adstock.alpha)
    for name, prior in vars(cfg.priors).items():
        priors.check_prior(name, prior)
    if cfg.adstock.max_lag < 1 or cfg.trend_knots < 0 or cfg.fourier_order < 0:
        raise ConfigError("model.adstock.max_lag must be >= 1, trend_knots and fourier_order >= 0")


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


def media_response(params: Params, media: jnp.ndarray, cfg: ModelConfig) -> jnp.ndarray:
    """Per-geo, per-channel media effect on the scaled KPI, (geo, time, channel)."""
    ad = ADSTOCKS[cfg.adstock.kind](media, params["adstock_alpha"], cfg.adstock.max_lag,
                                    cfg.adstock.normalize)
    sat_args = [params[name] for name in SATURATION_PARAMS[cfg.saturation.kind]]
    sat = SATURATIONS[cfg.saturation.kind](ad, *sat_args)
    return jnp.exp(params["media_log_effect_geo"])[:, None, :] * sat


def lift_effect(params: Params, media: jnp.ndarray, lift, cfg: ModelConfig) -> jnp.ndarray:
    """The model's lift of each lift test (``mmm_geo.data.lift.LiftData``), (lift_test,), scaled:
    the response of the test's channel to the recorded media minus that with the test undone,
    population-weighted over the test's cells."""
    names = ("adstock_alpha", "media_log_effect_geo", *SATURATION_PARAMS[cfg.saturation.kind])

    def one(channel, delta, weight):
        sub = {name: jnp.take(params[name], channel[None], axis=-1) for name in names}
        x = jnp.take(media, channel[None], axis=-1)
        undone = jnp.maximum(x - delta[..., None], 0.0)
        diff = media_response(sub, x, cfg) - media_response(sub, undone, cfg)
        return (diff[..., 0] * weight).sum()

    return jax.vmap(one)(lift.channel, lift.delta, lift.weight)


def components(params: Params, data: ModelData, cfg: ModelConfig,
               media: Optional[jnp.ndarray] = None) -> Dict[str, jnp.ndarray]:
    """Additive parts of the mean: baseline, trend, seasonality (geo, time); controls (geo, time,
    control); media (geo, time, channel; ``media_response`` unless given). Their sum is the mean
    of the scaled KPI."""
    n_geo, n_time = data.y.shape
    trend = data.trend @ params["trend_coef"]
    season = data.season @ params["season_coef"]
    base = jnp.broadcast_to(params["baseline"][:, None], (n_geo, n_time))
    scale = base if cfg.baseline == "multiplicative" else 1.0
    gamma = params["control_geo"] if cfg.controls_per_geo else params["control_coef"][None, :]
    return {
        "baseline": base,
        "trend": scale * jnp.broadcast_to(trend, (n_geo, n_time)),
        "seasonality": scale * jnp.broadcast_to(season, (n_geo, n_time)),
        "controls": data.controls * gamma[:, None, :],
        "media": media_response(params, data.media, cfg) if media is None else media,
    }


def mean(parts: Dict[str, jnp.ndarray]) -> jnp.ndarray:
    """Sum of :func:`components`, (geo, time)."""
    return (parts["baseline"] + parts["trend"] + parts["seasonality"]
            + parts["controls"].sum(-1) + parts["media"].sum(-1))


LIKELIHOODS = {
    "normal": lambda mu, sigma, nu: dist.Normal(mu, sigma),
    "student_t": lambda mu, sigma, nu: dist.StudentT(nu, mu, sigma),
}


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
    sat = cfg.saturation
    with numpyro.plate(dims.CHANNEL, n_channel, dim=-1):
        p["adstock_alpha"] = priors.sample("adstock_alpha", cfg.adstock.alpha, (n_channel,))
        for name in SATURATION_PARAMS[sat.kind]:
            p[name] = priors.sample(name, getattr(sat, name), (n_channel,))
        p["media_log_effect"] = jnp.log(priors.sample("media_effect", pr.media_effect, (n_channel,)))
        if pooled:
            p["media_geo_sd"] = priors.sample("media_geo_sd", pr.media_geo_sd, (n_channel,))
        with numpyro.plate(dims.GEO, n_geo, dim=-2):
            if pooled:
                p["media_log_effect_geo"] = numpyro.sample(
                    "media_log_effect_geo", dist.Normal(p["media_log_effect"], p["media_geo_sd"]))
            else:
                p["media_log_effect_geo"] = numpyro.deterministic(
                    "media_log_effect_geo", p["media_log_effect"][None, :])
    if cfg.sigma_per_geo:
        with numpyro.plate(dims.GEO, n_geo, dim=-1):
            p["sigma"] = priors.sample("sigma", pr.sigma, (n_geo,))
    else:
        p["sigma"] = priors.sample("sigma", pr.sigma)
    p["nu"] = priors.sample("nu", pr.nu) if cfg.likelihood == "student_t" else jnp.asarray(0.0)
    return p


def _sample_baseline(p: Params, media: jnp.ndarray, data: ModelData, cfg: ModelConfig) -> jnp.ndarray:
    """Geo baselines, sampled through their mean level ``baseline + mean media effect``.

    The prior is unchanged (``baseline_g`` ~ its prior); only the coordinates NUTS moves in
    differ. The level is pinned down by the mean KPI of the geo, while ``baseline_g`` trades off
    one-for-one against the media effects (always-on media look like a constant): sampling the
    level turns that long ridge into a nearly axis-aligned direction in the media effects.
    """
    train = jnp.asarray(data.train, media.dtype)
    media_mean = (media.sum(-1) * train).sum(-1) / train.sum()          # (geo,)
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
    media = media_response(p, data.media, cfg)
    p["baseline"] = _sample_baseline(p, media, data, cfg)
    mu = mean(components(p, data, cfg, media))
    sigma = p["sigma"][:, None] if cfg.sigma_per_geo else p["sigma"]
    with numpyro.plate(dims.GEO, data.y.shape[0], dim=-2), \
            numpyro.plate(dims.TIME, data.y.shape[1], dim=-1), \
            numpyro.handlers.mask(mask=jnp.asarray(data.train)[None, :]):
        numpyro.sample("y", LIKELIHOODS[cfg.likelihood](mu, sigma, p["nu"]), obs=y)
    if data.lift is not None:   # calibration: each lift test is a measurement of the media effect
        with numpyro.plate(dims.LIFT_TEST, data.lift.y.shape[0], dim=-1):
            numpyro.sample("lift", dist.Normal(lift_effect(p, data.media, data.lift, cfg), data.lift.se),
                           obs=None if y is None else data.lift.y)


def model(data: ModelData, cfg: ModelConfig, y: Optional[jnp.ndarray] = None) -> None:
    """The NumPyro model. ``y=None`` draws from the prior predictive (lift tests too).

    Sites named in ``cfg.noncentered`` are sampled non-centred (``LocScaleReparam``).
    """
    reparam = {site: LocScaleReparam(0.0) for site in cfg.noncentered}
    with numpyro.handlers.reparam(config=reparam):
        _model(data, cfg, y)


def params_from_samples(samples: Dict[str, jnp.ndarray], cfg: ModelConfig,
                        n_channel: int, n_geo: int) -> Params:
    """Rebuild the parameter dict :func:`components` needs from posterior sample sites.

    Fixed priors (no site) become their constants; works for one draw or batched along axis 0.
    """
    sat = cfg.saturation
    batch = next(iter(samples.values())).shape[:1] if samples else ()
    p = dict(samples)
    for name in SATURATION_PARAMS[sat.kind]:
        prior = getattr(sat, name)
        if prior.dist == "fixed":
            p[name] = jnp.full(batch + (n_channel,), prior.a)
    if cfg.adstock.alpha.dist == "fixed":
        p["adstock_alpha"] = jnp.full(batch + (n_channel,), cfg.adstock.alpha.a)
    for name, size in (("trend_coef", cfg.trend_knots), ("season_coef", 2 * cfg.fourier_order)):
        p.setdefault(name, jnp.zeros(batch + (size,)))
    p.setdefault("control_coef", jnp.zeros(batch + (0,)))
    p.setdefault("control_geo", jnp.zeros(batch + (n_geo, p["control_coef"].shape[-1])))
    return p
