"""Non-media treatments (price, promotions, events): a log-linear multiplier on the mean KPI.

For geo g and period t, with ``S[g,t]`` the sum of the other parts of the mean (baseline, trend,
seasonality, controls, media) and ``z[g,t,k]`` the treatment inputs (``mmm_geo.data.treatments``)::

    mu[g,t] = S[g,t] * exp(sum_k b[g,k] z[g,t,k])

- price: ``z = log(price / ref_price_g)`` (``ref``: the geo's mean training price), so the mean
  is multiplied by ``(price / ref)^b`` and ``b`` is the price elasticity of the KPI exactly
  (``d log mu / d log price = b``);
- promotion (0/1 or an intensity): ``z`` is the column, so a full promotion week multiplies the
  mean by ``exp(b)``: its lift is ``exp(b) - 1`` (a KPI share).

The other parts (media included) are their values at the reference price without promotions:
ROI, its prior, lift tests and the optimizer are stated there (after the data a price stays at
its reference and there is no promotion, so the optimizer's horizon is exactly that).
Coefficients are national (``pooling: national``) or per geo (``pooling: geo``:
``b[g,k] = b_k + sd_k eta[g,k]``, ``eta ~ Normal(0, 1)``, non-centred).

What the treatments add to the mean (:func:`parts`) is ``S (exp(L) - 1)``, ``L = sum_k b z``,
split over the treatments in proportion to their ``b_k z_k``: additive, exact in sum, and each
treatment's own counterfactual when it is the only one active.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from mmm_geo import dims
from mmm_geo.config import ModelConfig, Prior
from mmm_geo.data.treatments import KINDS
from mmm_geo.errors import ConfigError
from mmm_geo.model import priors
from mmm_geo.model.media import _sample_vector   # one vector of per-element priors

POOLING = ("national", "geo")
KIND_PRIORS = {"price": Prior("normal", -1.0, 1.0), "promotion": Prior("normal", 0.0, 0.3)}
GEO_SD = Prior("halfnormal", 0.1, 0.0)
SITE, SD_SITE, ETA_SITE = "treatment_coef", "treatment_geo_sd", "treatment_geo_eta"
EPS = 1e-6


class Spec(NamedTuple):
    """The treatments of a config (static): names, kinds, coefficient priors (one family), the
    positions with per-geo coefficients and their spread priors."""

    names: Tuple[str, ...] = ()
    kinds: Tuple[str, ...] = ()
    priors: Tuple[Prior, ...] = ()
    geo: Tuple[int, ...] = ()
    geo_sd: Tuple[Prior, ...] = ()


def _prior(entry, default: Prior) -> Prior:
    return default if entry is None else Prior(entry.dist, float(entry.a), float(entry.b))


def spec(cfg: ModelConfig) -> Spec:
    """Resolve ``model.treatments`` against the data's ``treatment_kinds``; unknown names fail."""
    kinds = dict(cfg.treatment_kinds)
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ConfigError(f"data.treatments.{name}.kind={kind!r} is unknown; use one of "
                              f"{', '.join(KINDS)}")
    if kinds:
        extra = sorted(set(cfg.treatments) - set(kinds))
        if extra:
            raise ConfigError(f"model.treatments: {extra} are not treatments of the data "
                              f"({sorted(kinds)})\n  fix: name them under data.treatments or "
                              "drop them")
    models = {name: cfg.treatments.get(name) for name in kinds}
    chosen, geo, geo_sd = [], [], []
    for k, (name, m) in enumerate(models.items()):
        pooling = m.pooling if m is not None else "national"
        if pooling not in POOLING:
            raise ConfigError(f"model.treatments.{name}.pooling={pooling!r} is unknown; use one of "
                              f"{', '.join(POOLING)}")
        chosen.append(_prior(m.prior if m is not None else None, KIND_PRIORS[kinds[name]]))
        priors.check_prior(f"treatments.{name}", chosen[-1])
        if pooling == "geo":
            geo.append(k)
            geo_sd.append(_prior(m.geo_sd, GEO_SD))
            priors.check_prior(f"treatments.{name}.geo_sd", geo_sd[-1])
    for group, what in ((chosen, "prior"), (geo_sd, "geo_sd")):
        if len({p.dist for p in group}) > 1:
            raise ConfigError(f"model.treatments: every treatment's {what} must use one "
                              f"distribution (got {sorted({p.dist for p in group})})\n  fix: "
                              "e.g. give all of them normal priors")
    return Spec(tuple(kinds), tuple(kinds.values()), tuple(chosen), tuple(geo), tuple(geo_sd))


def sample(sp: Spec, n_geo: int) -> Dict[str, jnp.ndarray]:
    """The treatments' sites (inside the model): national coefficients and, for per-geo ones,
    their spread and standardised geo deviations. Nothing without treatments."""
    if not sp.names:
        return {}
    out = {SITE: _sample_vector(SITE, sp.priors, dims.TREATMENT)}
    if sp.geo:
        out[SD_SITE] = _sample_vector(SD_SITE, sp.geo_sd, dims.GEO_TREATMENT)
        with numpyro.plate(dims.GEO_TREATMENT, len(sp.geo), dim=-1), \
                numpyro.plate(dims.GEO, n_geo, dim=-2):
            out[ETA_SITE] = numpyro.sample(ETA_SITE, dist.Normal(0.0, 1.0))
    return out


def coefficients(sp: Spec, params: Dict[str, jnp.ndarray], n_geo: int) -> jnp.ndarray:
    """Per-geo coefficients ``b[g,k]``, (geo, treatment); fixed priors become their constants."""
    if not sp.names:
        return jnp.zeros((n_geo, 0))
    fixed = lambda chosen: jnp.asarray([p.a for p in chosen])  # noqa: E731
    coef = params[SITE] if SITE in params else fixed(sp.priors)
    out = jnp.broadcast_to(coef[None, :], (n_geo, len(sp.names)))
    if sp.geo:
        sd = params[SD_SITE] if SD_SITE in params else fixed(sp.geo_sd)
        out = out.at[:, jnp.asarray(sp.geo)].add(sd * params[ETA_SITE])
    return out


def log_effect(sp: Spec, params: Dict[str, jnp.ndarray], z: jnp.ndarray) -> jnp.ndarray:
    """``b[g,k] z[g,t,k]``, (geo, time, treatment): each treatment's log multiplier."""
    return z * coefficients(sp, params, z.shape[0])[:, None, :]


def parts(sp: Spec, params: Dict[str, jnp.ndarray], z: jnp.ndarray,
          untreated: jnp.ndarray) -> jnp.ndarray:
    """Each treatment's additive part of the mean, (geo, time, treatment): ``S (exp(L) - 1)``
    split in proportion to ``b_k z_k`` (module docstring); ``untreated`` is ``S`` (geo, time)."""
    each = log_effect(sp, params, z)
    total = each.sum(-1)
    small = jnp.abs(total) < EPS
    safe = jnp.where(small, 1.0, total)
    ratio = jnp.where(small, 1.0 + 0.5 * total, jnp.expm1(safe) / safe)   # (exp(L) - 1) / L
    return (untreated * ratio)[..., None] * each


def site_coords(sp: Spec) -> Dict[str, list]:
    """Coords of the treatment dims of the trace."""
    if not sp.names:
        return {}
    out = {dims.TREATMENT: list(sp.names)}
    if sp.geo:
        out[dims.GEO_TREATMENT] = [sp.names[k] for k in sp.geo]
    return out
