"""A simulated mediator with known truth (``simulation.mediation``), in plain NumPy.

Written, like ``mmm_geo.data.sim_forms``, independently of the model. The mediator channel's
exposure (per capita, in units of its mean non-zero level) becomes::

    m[g,t] = (b_g + lift * sum_{c in upstream} u[g,c] * s_c[g,t] + noise * mean(b) * e[g,t]) / k

with ``s_c`` channel c's saturated carryover (its own forms, as in the KPI), ``u`` log-normal geo
effects with the KPI's spread, ``b_g`` uniform in [0.6, 1.0] and ``k`` the mean of the numerator
(so ``m`` averages 1). The mediator has no spend column; the KPI responds to it as to any channel.

Truth per upstream channel (revenue): ``direct`` (c off, the mediator as recorded), ``indirect``
(c on, the mediator minus its response to c: the noise held fixed), ``total`` (both) and
``roi_total`` (total / c's spend), the model's definitions (``mmm_geo.model.mediation``).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from mmm_geo.config import SimulationConfig
from mmm_geo.data.sim_forms import Media, adstock, saturate, total_effect
from mmm_geo.errors import ConfigError


class Mediator(NamedTuple):
    """The simulated mediator: channel positions and its response to upstream exposure."""

    mediator: int
    upstream: tuple
    effect: np.ndarray          # (geo, upstream): the mediator's rise per unit saturated carryover


def check(cfg: SimulationConfig, names: list) -> None:
    """ConfigError unless the mediator and its upstream channels are distinct panel channels."""
    med = cfg.mediation
    if not med.mediator and not med.upstream:
        return
    chosen = [med.mediator, *med.upstream]
    if (not med.mediator or not med.upstream or len(set(chosen)) != len(chosen)
            or not set(chosen) <= set(names) or med.lift < 0 or med.noise < 0):
        raise ConfigError(f"simulation.mediation: mediator {med.mediator!r}, upstream "
                          f"{list(med.upstream)}: name distinct channels of the panel {names}, with "
                          f"lift and noise >= 0\n  fix: e.g. simulation.mediation={{mediator: "
                          f"{names[-1]}, upstream: [{names[0]}]}}")


def _response(x: np.ndarray, media: Media, med: Mediator) -> np.ndarray:
    """The mediator's response to each upstream channel, (geo, time, upstream)."""
    up = list(med.upstream)
    sat = saturate(adstock(x[..., up], media.weights[:, up]), [media.saturation[c] for c in up],
                   {n: v[up] for n, v in media.params.items() if np.ndim(v) == 1 and len(v) == x.shape[-1]})
    return med.effect[:, None, :] * sat


def mediate(cfg: SimulationConfig, x: np.ndarray, media: Media,
            names: list) -> tuple[np.ndarray, Optional[Mediator]]:
    """``x`` with the mediator's column replaced by the simulated mediator (see module docstring),
    and the mediator (None without ``simulation.mediation``)."""
    if not cfg.mediation.mediator:
        return x, None
    rng = np.random.default_rng([cfg.seed, 6])        # its own stream: the panel is unchanged
    g, t = x.shape[:2]
    up = tuple(names.index(c) for c in cfg.mediation.upstream)
    effect = cfg.mediation.lift * np.exp(cfg.media_geo_sd * rng.normal(size=(g, len(up))))
    med = Mediator(names.index(cfg.mediation.mediator), up, effect)
    base = rng.uniform(0.6, 1.0, size=(g, 1))
    raw = base + _response(x, media, med).sum(-1) + cfg.mediation.noise * base.mean() * rng.normal(size=(g, t))
    raw = np.maximum(raw, 0.0)
    k = raw.mean()
    out = x.copy()
    out[..., med.mediator] = raw / k
    return out, med._replace(effect=effect / k)


def respond(x_obs: np.ndarray, x_new: np.ndarray, media: Media, med: Optional[Mediator]) -> np.ndarray:
    """``x_new`` (upstream exposure changed from ``x_obs``) with the mediator moved by its
    response to that change, its noise held fixed."""
    if med is None:
        return x_new
    out = x_new.copy()
    shift = (_response(x_obs, media, med) - _response(x_new, media, med)).sum(-1)
    out[..., med.mediator] = np.maximum(x_obs[..., med.mediator] - shift, 0.0)
    return out


def truth(x: np.ndarray, spend: np.ndarray, pop: np.ndarray, media: Media, med: Mediator,
          names: list) -> dict:
    """True direct, indirect and total revenue effect and total ROI per upstream channel."""
    def tot(xx):
        return float((total_effect(xx, media) * pop[:, None]).sum())

    out = {}
    for c in med.upstream:
        off = x.copy()
        off[..., c] = 0.0
        direct, both = tot(x) - tot(off), tot(x) - tot(respond(x, off, media, med))
        moved = respond(x, off, media, med)[..., med.mediator]
        held = x.copy()
        held[..., med.mediator] = moved
        out[names[c]] = {"direct": direct, "indirect": tot(x) - tot(held), "total": both,
                         "roi_total": both / float(spend[..., c].sum())}
    return {"mediator": names[med.mediator], "upstream": out}
