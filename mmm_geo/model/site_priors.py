"""Priors of named sample sites replaced by moment-matched normals: a refresh's previous posterior.

A table ``{site: (loc, scale)}`` (``ModelData.priors``, built by ``mmm_geo.refresh``) replaces the
prior of each named latent site of the model by a normal on the site's unconstrained scale pushed
through the bijection to its support (``numpyro.distributions.biject_to``)::

    z = T^{-1}(x) ~ Normal(loc, scale)      x = T(z)

so a real site (log geo effects, controls, synergy) gets ``Normal(loc, scale)``, a positive one
(ROI, noise scale, geo spreads) a log-normal, a (0, 1) one (adstock decay) a logit-normal.
Elementwise: ``loc`` and ``scale`` have the site's full shape (geo, channel, ...), and the sites'
plates are unchanged. :func:`match` gives them from posterior draws: the mean and ``widen`` times
the standard deviation of the draws' ``T^{-1}``, at most the configured prior's. The geo baselines
are sampled through their level (``mmm_geo.model.hierarchical._sample_baseline``): the prior of
``baseline_level`` is matched on the draws of ``baseline`` and keeps the site's shift (the mean
media effect of the new window).

:func:`override` is the one NumPyro handler that does it, applied by ``hierarchical.model`` around
the model below its non-centring (so a matched ``media_geo`` is still sampled non-centred).

The per-site normals are the marginals of a joint prior: the table's :data:`JOINT` entry, when
present, is the lower Cholesky factor ``L`` of the correlation matrix ``R`` of the matched sites'
standardised unconstrained values ``z = (T^{-1}(x) - loc) / scale`` (sites in sorted order, each
raveled), and :meth:`override.correlate` adds ``log N(z; 0, R) - sum log N(z_i; 0, 1)`` to the
log density, so the prior over the matched sites is the multivariate normal with those marginals
and correlations (:func:`correlation` gives ``L`` from the previous posterior's draws). Prior
predictive draws (``numpyro.infer.Predictive``) ignore the factor: they show the marginals.

:func:`observed` is the likelihood's mask: a refresh with ``refresh.new_weeks`` leaves out the
periods its priors already hold (``ModelData.seen``), so they count once.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import IdentityTransform, biject_to
from numpyro.primitives import Messenger

SHIFTED = {"baseline_level": "baseline"}   # site -> the variable its prior is matched on
MIN_SCALE = 1e-3    # floor of a matched scale (unconstrained units): a degenerate site stays proper
JOINT = "_correlation"   # table key of the joint prior's Cholesky factor (not a site)
Table = Dict[str, Tuple[jnp.ndarray, ...]]


def observed(data) -> jnp.ndarray:
    """The periods the likelihood sees, bool (time,): ``data.train`` from ``data.seen`` on."""
    return jnp.asarray(data.train) & (jnp.arange(data.train.shape[0]) >= data.seen)


def unconstrained(draws: np.ndarray, support) -> np.ndarray:
    """Draws of a site with ``support`` on its unconstrained scale (NaN outside the support)."""
    z = np.asarray(biject_to(support).inv(jnp.asarray(draws, jnp.float32)), np.float64)
    return np.where(np.isfinite(z), z, np.nan)


def match(draws: np.ndarray, fn: dist.Distribution, widen: float, shifted: bool = False,
          prior: Optional[np.ndarray] = None) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(loc, scale) of the prior matched to ``draws`` (sample axis first, then the site's shape)
    of a site with distribution ``fn``: mean and ``widen`` x standard deviation of the draws on
    the unconstrained scale of ``fn``'s support (of its base distribution's for a shifted site),
    elementwise; the scale at most the standard deviation of the configured ``prior``'s draws on
    that scale (when given: the matched prior is never vaguer than the configured one, so repeated
    widening cannot compound) and at least :data:`MIN_SCALE`. None when a draw lies outside that
    support (the site's configured prior family cannot hold the previous posterior)."""
    support = site_support(fn, shifted)
    z = unconstrained(draws, support)
    if np.isnan(z).any():
        return None
    sd = widen * (z.std(axis=0, ddof=1) if z.shape[0] > 1 else np.zeros(z.shape[1:]))
    if prior is not None:
        sd = np.minimum(sd, np.nanstd(unconstrained(prior, support), axis=0, ddof=1))
    return z.mean(axis=0), np.maximum(sd, MIN_SCALE)


def correlation(z: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of the correlation matrix of draws ``z`` (sample, d), shrunk toward
    the identity by ``d / (n + d)`` (n draws: a noisy estimate of many correlations from few
    draws is pulled toward independence, and the matrix stays positive definite)."""
    n, d = z.shape
    sd = z.std(axis=0)
    r = np.corrcoef(z, rowvar=False) if d > 1 else np.ones((1, 1))
    r = np.where(np.outer(sd, sd) > 0, np.nan_to_num(r), 0.0)
    np.fill_diagonal(r, 1.0)
    shrink = d / (n + d)
    return np.linalg.cholesky((1 - shrink) * r + shrink * np.eye(d))


def site_support(fn: dist.Distribution, shifted: bool = False):
    """The support whose unconstrained scale a site's matched prior is normal on."""
    return _unwrap(fn).base_dist.support if shifted else fn.support


def _unwrap(fn: dist.Distribution) -> dist.Distribution:
    while isinstance(fn, dist.ExpandedDistribution):
        fn = fn.base_dist
    return fn


def matched(loc, scale, fn: dist.Distribution, shifted: bool = False) -> dist.Distribution:
    """The replacement of a site's distribution ``fn``: ``Normal(loc, scale)`` through the
    bijection to ``fn``'s support, or through ``fn``'s own transforms for a shifted site."""
    base = dist.Normal(loc, scale)
    if shifted:
        return dist.TransformedDistribution(base, _unwrap(fn).transforms)
    transform = biject_to(fn.support)
    if isinstance(transform, IdentityTransform):
        return base
    return dist.TransformedDistribution(base, transform)


class override(Messenger):
    """Replace the distribution of each latent sample site named in ``priors`` (see the module
    docstring); observed sites and every other site are untouched."""

    def __init__(self, fn=None, priors: Optional[Table] = None):
        self.priors = priors or {}
        self.fns: Dict[str, dist.Distribution] = {}   # the matched ones (a reparam drops msg["fn"])
        self.z: Dict[str, jnp.ndarray] = {}
        super().__init__(fn)

    def process_message(self, msg) -> None:
        name = msg.get("name")
        if msg["type"] == "sample" and not msg["is_observed"] and name in self.priors:
            loc, scale = self.priors[name]
            msg["fn"] = self.fns[name] = matched(loc, scale, msg["fn"], name in SHIFTED)

    def postprocess_message(self, msg) -> None:
        name = msg.get("name")
        if JOINT in self.priors and name in self.fns and msg["value"] is not None:
            loc, scale = self.priors[name]
            u = msg["value"]
            for t in reversed(getattr(self.fns[name], "transforms", [])):
                u = t.inv(u)
            self.z[name] = ((u - loc) / scale).reshape(-1)

    def correlate(self) -> None:
        """Add the joint prior's correlation factor (see the module docstring); call after the
        model's sites are sampled, inside this handler. Nothing without a :data:`JOINT` entry."""
        if JOINT not in self.priors:
            return
        (chol,) = self.priors[JOINT]
        z = jnp.concatenate([self.z[k] for k in sorted(self.z)])
        w = jsl.solve_triangular(chol, z, lower=True)
        numpyro.factor(JOINT, -0.5 * (w @ w - z @ z) - jnp.log(jnp.diag(chol)).sum())
