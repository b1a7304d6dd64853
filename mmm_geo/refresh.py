"""``mmm-geo fit refresh_from=<run folder>``: refit on newer data, starting from a previous run.

A refresh keeps the previous run's scaling (its ``scaling.json``: the same units, so its numbers
and the new ones compare) and takes its posterior as the prior: each parameter site of the model
whose draws the previous trace holds with the same dims and coords gets the moment-matched prior
of ``mmm_geo.model.site_priors``, elementwise (per geo, per channel), its sd times
``refresh.widen`` (``mmm_geo.config.RefreshConfig``) but never above the configured prior's sd on
that scale (else a weakly identified parameter, whose posterior is about its prior, would widen
again at every refresh, past the configured prior). At their configured priors stay: the sites
of :data:`KEPT` (their basis is rebuilt for the new data's length), the sites the previous run
lacks or holds with other dims or coords (another config), the ones its draws do not fit, those
sampled non-centred inside the mediator equation, and those nothing depends on once the sites
below them have their own priors: a hierarchy's mean and spread (``baseline_mean``,
``baseline_sd``, ``media_geo_sd``), which then no longer affect the fit. A channel's ROI prior
(``media_roi``) is its ROI over the training window: the previous window's ROI becomes the prior
of the new one's. With ``refresh.correlated`` (the default; false: independent per-site priors) the
per-site priors are the marginals of one joint prior: a multivariate normal on the unconstrained
scale with the previous posterior's correlations between the matched sites
(``site_priors.JOINT``; shrunk toward independence by d / (n + d) for d values from n draws), so
what the data identify only jointly (a channel's effect against the baseline, carryover against
saturation) stays tied together.

The data must have the previous run's geos, channels, controls and treatments, and start with its
periods (it may have more); else exit 2 naming what differs. With ``refresh.new_weeks`` (the
default) the likelihood sees only the periods after the previous training window
(``ModelData.seen``; the earlier ones are the adstock's history and the window of the ROI), and
lift tests measured only in that window are left out: the previous posterior holds them, so each
period counts once. With ``refresh.new_weeks=false`` it sees the previous periods again, which a
widening > 1 allows for (``RefreshConfig``).

The run records the refresh in ``metrics.json["refresh"]`` (:func:`record`) and in its config
(``refresh_from``), and writes ``refresh.csv`` (:func:`changes`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pandas as pd
import xarray as xr
from numpyro.infer.inspect import get_dependencies

from mmm_geo import dims
from mmm_geo.analysis.roi import channel_metrics, interval_table
from mmm_geo.config import FitConfig, ModelConfig
from mmm_geo.data.scaling import ModelData, Scaling, excluded, window_end
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.inference.trace import layout, prior_draws
from mmm_geo.model import site_priors
from mmm_geo.model.hierarchical import model

TABLE = "refresh.csv"
PRIOR_DRAWS = 1000      # draws of the configured priors, for their sd (each refreshed sd's cap)
KEPT = {"trend_coef": "its basis is refitted on the new window",
        "media_time_z": "the time-varying basis depends on the data's length"}
SAME = ((dims.GEO, "geos"), (dims.CHANNEL, "channels"), (dims.CONTROL, "controls"),
        (dims.TREATMENT, "treatments"))


class Previous(NamedTuple):
    """The run a refresh starts from, and (:func:`matched`) the priors taken from it."""

    run: Any            # mmm_geo.run.Run
    end: int            # the length of its training window (periods)
    widen: float
    correlated: bool = False        # a joint prior (the posterior's correlations kept)
    new_weeks: bool = False         # the likelihood sees only the periods after ``end``
    priors: Optional[dict] = None   # {site: (loc, scale)}: what ModelData.priors holds
    kept: Optional[dict] = None     # {site: why}: the sites at their configured priors


def previous(cfg: FitConfig, ds: xr.Dataset, lengths: List[int]) -> Previous:
    """Load ``cfg.refresh_from`` and check it against the new data ``ds`` and the training
    windows ``lengths``; RunError for a missing or incomplete run, ConfigError for a mismatch."""
    from mmm_geo.run import load_run   # (mmm_geo.run imports this module)

    path = Path(cfg.refresh_from)
    fix = "point refresh_from at a completed run folder (one with metrics.json), or drop it"
    if not path.is_dir():
        raise RunError(f"refresh_from={path}: no such run folder\n  fix: {fix}")
    if not cfg.refresh.widen > 0:
        raise ConfigError(f"refresh.widen={cfg.refresh.widen}: give a factor > 0 (1: the previous "
                          "posterior's own sd; the default 2 doubles it)")
    if cfg.validation.folds:
        raise ConfigError("validation.folds with refresh_from: the previous posterior has seen "
                          "the folds' test periods\n  fix: validation.folds=0 (a holdout works)")
    run = load_run(path)
    check_same(run.ds, ds, path)
    end = window_end(run.idata.constant_data["train"].values, excluded(run.idata.constant_data))
    if lengths[-1] < end:
        raise ConfigError(f"refresh_from={path}: the previous run was fitted on the first {end} "
                          f"periods, this fit on only {lengths[-1]}: its posterior has seen the "
                          "periods held out here\n  fix: a smaller validation.holdout")
    return Previous(run, end, float(cfg.refresh.widen), bool(cfg.refresh.correlated),
                    new_weeks=bool(cfg.refresh.new_weeks))


def _names(ds: xr.Dataset, dim: str) -> List[str]:
    return [str(v) for v in ds.coords[dim].values] if dim in ds.coords else []


def check_same(old: xr.Dataset, new: xr.Dataset, path: Path) -> None:
    """ConfigError unless ``new`` has ``old``'s geos, channels, controls and treatments (in the same
    order) and starts with its periods."""
    for dim, what in SAME:
        was, now = _names(old, dim), _names(new, dim)
        if was != now:
            gone, added = [n for n in was if n not in now], [n for n in now if n not in was]
            detail = (f"missing now: {gone}; new: {added}" if gone or added
                      else "the same names in another order")
            raise ConfigError(f"refresh_from={path}: the data's {what} differ from the previous "
                              f"run's ({detail})\n  fix: refresh with data of the previous run's "
                              f"{what} {was}, or fit without refresh_from")
    was, now = old.coords[dims.TIME].values, new.coords[dims.TIME].values
    if len(now) < len(was) or not np.array_equal(now[:len(was)], was):
        span = f"{str(was[0])[:10]} .. {str(was[-1])[:10]}"
        raise ConfigError(f"refresh_from={path}: the data do not start with the previous run's "
                          f"{len(was)} periods ({span})\n  fix: give the previous data with the "
                          "new periods added at the end")


def _latent_sites(data: ModelData, cfg: ModelConfig) -> Tuple[Dict[str, Any], List[str]]:
    """The model's latent sample sites as :func:`site_priors.override` sees them, name ->
    distribution (read with the non-centring off), and those sampled non-centred below the
    model's top level (the override sees them as deterministic); ``data`` without priors."""
    args = jax.tree.map(jnp.asarray, data)

    def trace(c):
        return numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(args, c, args.y)

    plain = trace(dataclasses.replace(cfg, noncentered=[]))
    real = trace(cfg)
    sites = {n: s["fn"] for n, s in plain.items() if s["type"] == "sample" and not s["is_observed"]}
    inner = [n for n in sites if real[n]["type"] == "deterministic" and n not in cfg.noncentered]
    return sites, inner


def _mismatch(name: str, source: str, post: xr.Dataset, coords: dict, named: dict) -> str:
    """Why the previous posterior cannot give the prior of site ``name`` ('' when it can)."""
    basis = next((k for k in KEPT if name == k or name.endswith("_" + k)), None)  # mediator_...
    if basis is not None:
        return KEPT[basis]
    if source not in post:
        return "not in the previous run"
    was, now = post[source], named.get(source, [])
    if list(was.dims[2:]) != list(now):
        return f"dims {list(was.dims[2:])} in the previous run, {list(now)} now"
    for d in now:
        if d in coords and [str(v) for v in was.coords[d].values] != [str(v) for v in coords[d]]:
            return f"other {d} coords in the previous run"
    return ""


def disconnected(data: ModelData, cfg: ModelConfig, table: dict) -> List[str]:
    """The sites of ``table`` on which nothing else in the model depends once ``table``'s priors
    are in place (NumPyro's dependency graph of the posterior)."""
    args = jax.tree.map(jnp.asarray, data._replace(priors=table))
    deps = get_dependencies(model, model_args=(args, cfg),
                            model_kwargs={"y": args.y})["posterior_dependencies"]
    return [name for name in table if name in deps and set(deps[name]) == {name}]


def _flat(values: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + values.shape[2:])      # (chain, draw, ...) -> (sample, ...)


def matched(previous: Previous, ds: xr.Dataset, data: ModelData, cfg: ModelConfig) -> Previous:
    """``previous`` with the priors of the refresh of the model ``cfg`` on ``data`` (the new
    window's inputs at the previous scaling): ``{site: (loc, scale)}`` in the data's dtype, each
    sd at most the configured prior's (:data:`PRIOR_DRAWS` draws of it), and the sites kept at
    their configured priors, ``{site: reason}``."""
    post = previous.run.idata.posterior
    data = data._replace(priors=None)
    sites, inner = _latent_sites(data, cfg)
    coords, named = layout(ds, data, cfg)
    configured = prior_draws(data, cfg, jax.random.key(0), PRIOR_DRAWS)
    table, kept = {}, {}
    for name, fn in sites.items():
        source = site_priors.SHIFTED.get(name, name)
        reason = ("sampled non-centred inside the mediator equation" if name in inner
                  else _mismatch(name, source, post, coords, named))
        if not reason:
            got = site_priors.match(_flat(post[source].values), fn, previous.widen,
                                    name in site_priors.SHIFTED, _flat(configured[source]))
            if got is None:
                reason = "previous draws outside the support of its configured prior"
            else:
                table[name] = tuple(jnp.asarray(a, data.y.dtype) for a in got)
        if reason:
            kept[name] = reason
    for name in disconnected(data, cfg, table):
        del table[name]
        kept[name] = "nothing depends on it once the sites below it have refreshed priors"
    if previous.correlated and table:
        z = np.concatenate([_standard(post, name, sites[name]) for name in sorted(table)], axis=1)
        table[site_priors.JOINT] = (jnp.asarray(site_priors.correlation(z), data.y.dtype),)
    return previous._replace(priors=table, kept=kept)


def _standard(post: xr.Dataset, name: str, fn) -> np.ndarray:
    """The previous draws of site ``name`` on its unconstrained scale, (sample, size)."""
    source = site_priors.SHIFTED.get(name, name)
    support = site_priors.site_support(fn, name in site_priors.SHIFTED)
    z = site_priors.unconstrained(_flat(post[source].values), support)
    return z.reshape(z.shape[0], -1)


def record(previous: Previous, n_train: int) -> dict:
    """``metrics.json["refresh"]``: the previous run, the widening, the periods, the sites whose
    prior is the previous posterior and those kept at their configured priors (with why)."""
    return {"from": str(previous.run.path), "from_config_hash": previous.run.metrics["config_hash"],
            "widen": previous.widen, "previous_periods": previous.end, "periods": n_train,
            "new_periods": n_train - previous.end,
            "sites": sorted(set(previous.priors) - {site_priors.JOINT}),
            "correlated": site_priors.JOINT in previous.priors, "new_weeks": previous.new_weeks,
            "kept": previous.kept}


def _roi(metrics: xr.Dataset, label: str) -> pd.DataFrame:
    """ROI median and 90 % interval per channel, columns ``label``, ``label_p5``, ``label_p95``."""
    table = interval_table(metrics, ("roi",))[["channel", "median", "p5", "p95"]]
    return table.rename(columns={"median": label, "p5": f"{label}_p5", "p95": f"{label}_p95"})


def changes(previous: Previous, idata, metrics: xr.Dataset, ds: xr.Dataset, scaling: Scaling,
            cfg: FitConfig) -> pd.DataFrame:
    """``refresh.csv``: per channel the ROI of the previous run (``before``, over its window),
    under the refreshed prior (``prior``: the new trace's prior draws) and of this fit
    (``after``), each median and 90 % interval; ``change`` = after / before - 1 (medians), and
    ``prior_quantile``: the share of the refreshed prior's draws below the new median (0.5: the
    new periods agree with what the previous run expected; near 0 or 1: they moved the ROI to the
    prior's tail). Channels without ROI (organic) are left out."""
    prior = channel_metrics(idata.prior, ds, scaling, cfg.model, cfg.inference.ppc_batch)
    out = (_roi(previous.run.idata.posterior, "before").merge(_roi(prior, "prior"), on="channel")
           .merge(_roi(metrics, "after"), on="channel"))
    draws = prior["roi"].stack(sample=(dims.CHAIN, dims.DRAW)).to_pandas()    # channel x draw
    out["change"] = out["after"] / out["before"] - 1
    out["prior_quantile"] = [float((draws.loc[c] < m).mean())
                             for c, m in zip(out["channel"], out["after"])]
    return out


def print_changes(table: pd.DataFrame, rec: dict) -> None:
    """The refresh's printout: what it started from and what changed per channel."""
    print(f"\nRefresh of {rec['from']}: {rec['new_periods']} new periods (fitted on "
          f"{rec['periods']}, the previous run on {rec['previous_periods']}); the previous "
          f"posterior (sd x {rec['widen']:g}) is the prior of {len(rec['sites'])} sites"
          + ("; the likelihood sees only the new periods" if rec.get("new_weeks") else "")
          + (f"; configured priors kept for {', '.join(rec['kept'])}" if rec["kept"] else ""))
    print("ROI before (previous run), under the refreshed prior and after: median [90% interval]")
    cols = ["channel", "before", "before_p5", "before_p95", "prior", "after", "after_p5",
            "after_p95", "change", "prior_quantile"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
