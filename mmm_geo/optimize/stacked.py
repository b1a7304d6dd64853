"""Plan over a model stack: ``mmm-geo optimize run=<comparison folder with stack.json>``.

The stack (``mmm_geo.analysis.stack``) names member runs and, per member, the posterior draws the
stacked posterior takes from it. The optimizer then plans over those draws: each draw's media
parameters come from its own member's posterior (``optimizer.draws`` subsamples the stacked draws,
seeded by ``optimizer.seed``), and the planning problem (horizon, carry-in, costs) from the data
the members share.

The members must share the data (KPI, spend, exposure, population, revenue per KPI, geos, weeks
and channels, and so the media and KPI scaling) and the media model's form (adstock and
saturation kinds per channel, ``max_lag``, normalisation, order, synergy pairs): one media
response then evaluates every draw. Members that differ in other parts (priors, controls, trend,
seasonality, likelihood) stack freely; members with different media forms are refused with a
ConfigError.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from mmm_geo import dims
from mmm_geo.analysis.draws import n_samples
from mmm_geo.analysis.stack import Member, Stack
from mmm_geo.config import OptimizerConfig
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.model import media as mm
from mmm_geo.optimize.response import media_params, pick

SHARED = ("kpi", "spend", "exposure", "population", "revenue_per_kpi")


def media_form(model, n_channel: int) -> tuple:
    """What the media response of a model config depends on (not its priors)."""
    sp = mm.spec(model, n_channel)
    return (sp.adstock, sp.saturation, sp.max_lag, sp.normalize, sp.order, sp.pairs,
            tuple((s.name, s.channels) for s in sp.sites))


def contributing(stack: Stack) -> Tuple[Member, ...]:
    """The members that contribute draws to the stacked posterior (weight > 0 in effect)."""
    return tuple(m for m in stack.members if m.draws)


def check_members(members: Sequence[Member], runs: Sequence) -> None:
    """ConfigError unless the member runs share data, channels and media form; RunError when a
    member changed since the stack was built."""
    first, name0 = runs[0], members[0].path
    n_channel = first.ds.sizes[dims.CHANNEL]
    for member, run in zip(members, runs):
        if n_samples(run.idata.posterior) != member.samples or \
                run.metrics.get("config_hash", "") != member.config_hash:
            raise RunError(f"{member.path}: the run changed since the stack was built (now "
                           f"{n_samples(run.idata.posterior)} draws, config hash "
                           f"{run.metrics.get('config_hash')})\n  fix: re-run mmm-geo compare "
                           "<runs> --stack --out <the comparison folder>")
        if run is first:
            continue
        for d in (dims.GEO, dims.TIME, dims.CHANNEL):
            if not np.array_equal(run.ds.coords[d].values, first.ds.coords[d].values):
                raise ConfigError(f"the stack's runs have different {d}s ({name0} vs "
                                  f"{member.path})\n  fix: stack runs fitted to the same data")
        for var in SHARED:
            if not np.array_equal(run.ds[var].values, first.ds[var].values):
                raise ConfigError(f"the stack's runs were fitted to different data ({var} differs "
                                  f"between {name0} and {member.path})\n  fix: stack runs of "
                                  "one dataset, or optimize each run on its own")
        if (run.scaling.kpi_scale, run.scaling.media_scale) != \
                (first.scaling.kpi_scale, first.scaling.media_scale):
            raise ConfigError(f"the stack's runs scale the data differently ({name0} vs "
                              f"{member.path}: different training windows)\n  fix: stack runs "
                              "fitted on the same training window")
        if media_form(run.config.model, n_channel) != media_form(first.config.model, n_channel):
            raise ConfigError(
                f"the stack's runs have different media forms (adstock, saturation, max_lag, "
                f"order or synergy: {name0} vs {member.path}), so one media response cannot "
                "evaluate all their draws\n  fix: optimize over a stack of runs that share the "
                "media model "
                "(they may differ in priors, controls, trend or seasonality), or optimize "
                "each run on its own")


def stack_draws(members: Sequence[Member], runs: Sequence,
                o: OptimizerConfig) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """The media parameters of the contributing ``members``' stacked draws (or of the seeded
    ``o.draws`` subsample of them), each from its own member's posterior (``runs``, loaded), and
    their indices among those stacked draws."""
    check_members(members, runs)
    flat = np.concatenate([np.asarray(m.draws, int) for m in members])
    owner = np.repeat(np.arange(len(runs)), [len(m.draws) for m in members])
    ids = pick(len(flat), o.draws, o.seed)
    parts = [media_params(run.idata.posterior, run.config.model, flat[ids][owner[ids] == k])
             for k, run in enumerate(runs) if np.any(owner[ids] == k)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, ids
