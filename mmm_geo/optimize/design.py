"""Which geo experiment to run next: the expected value of sample information of candidate tests.

A candidate test changes one channel's spend in a set of geos for the last ``weeks`` weeks of the
training data, by ``change`` times the recorded spend (-1 a go-dark, +1 a doubling). Its lift in
each posterior draw is the model's own lift-test response (``mmm_geo.model.media.lift``, the
function the likelihood calibrates with), so the test is judged at the recent level and pattern of
spend. The measured lift carries noise of standard error ``se_factor * sqrt(sum of the test
cells' residual variances)``: the fit's residuals per geo, doubled in variance by default
(``se_factor`` sqrt 2) for a test read against matched control geos or weeks.

The preposterior analysis, per candidate, over D posterior draws of the budget problem (the same
problem as ``mmm-geo optimize``):

1. for each of J "true" draws j, simulate the measured lift ``y_j = lift_j + se * eps_j``;
2. update the posterior by importance reweighting, ``w_jd ~ N(y_j | lift_d, se)``, draw j left
   out of its own update (else a sharp test would "learn" the truth it was simulated from); the
   effective sample size of each update is kept, and a candidate whose updates fall below
   ``min_ess`` on average is flagged ``degenerate`` (a reweighted posterior that thin needs a refit
   with the lift test, ``data.lift_tests``, to be trusted);
3. re-optimise the budget under ``w_j`` (the posterior-mean objective, vmapped over j);
4. judge the updated decision and the current one under draw j: EVSI is the mean over j of
   ``outcome_j(updated plan) - outcome_j(current plan)``, with its Monte Carlo standard error. The
   current plan is re-optimised without draw j as well, so that neither decision has seen the
   truth it is judged by. An update as thin as a few effective draws over-fits them, which biases
   EVSI down: hence the ``degenerate`` flag.

Also per candidate: the cost (the spend the test moves plus the revenue a go-dark is expected to
lose), the power of a two-sided 5 % test of the lift, and the expected width of the tested
channel's 90 % ROI interval after the test relative to now. Candidates rank by EVSI per cost.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import List, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from mmm_geo import dims
from mmm_geo.analysis.accuracy import train_mask
from mmm_geo.analysis.checks import predictive_bands
from mmm_geo.analysis.contributions import sites
from mmm_geo.analysis.draws import take
from mmm_geo.analysis.lift import lift_draws
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.data.lift import with_lift_tests
from mmm_geo.errors import ConfigError
from mmm_geo.files import atomic_write
from mmm_geo.optimize.objective import Args, Spec, as_args, scores, with_offset
from mmm_geo.optimize.plan import feasible, settings_of, single_plan, spec_of
from mmm_geo.optimize.problem import build_problem, current_mix, to_decision
from mmm_geo.optimize.response import build_terms, draw_params
from mmm_geo.optimize.solver import Feasible, Settings, solve

HALF = "half"   # every other geo by total KPI: a treated half matched to a control half


class Candidate(NamedTuple):
    channel: str
    geos: str        # "all" or names joined by "|"
    weeks: int
    change: float    # spend change as a multiple of the recorded spend


def geo_sets(ds: xr.Dataset, wanted: List[str]) -> List[str]:
    """The geo sets to test: ``wanted`` with ``half`` resolved; by default ``all`` and, with
    more than one geo, ``half``."""
    geos = [str(g) for g in ds[dims.GEO].values]
    wanted = list(wanted) or (["all", HALF] if len(geos) > 1 else ["all"])
    order = np.argsort(-ds["kpi"].sum(dims.TIME).values, kind="stable")
    out = []
    for s in wanted:
        if s == HALF:
            out.append("|".join(geos[i] for i in order[::2]))
            continue
        names = [n.strip() for n in str(s).split("|")]
        unknown = [n for n in names if n != "all" and n not in geos]
        if unknown:
            raise ConfigError(f"geo_sets: unknown geo {unknown[0]!r}\n  fix: use the data's geos "
                              f"({', '.join(geos[:10])}), several joined by '|', 'all' or '{HALF}'")
        out.append("|".join(names))
    return out


def candidates(ds: xr.Dataset, cfg) -> List[Candidate]:
    """Every channel (with spend) x geo set x duration x spend change of the config."""
    spend = ds["spend"].values
    chans = list(cfg.channels) or [str(c) for i, c in enumerate(ds[dims.CHANNEL].values)
                                   if np.nansum(spend[..., i]) > 0]
    known = [str(c) for c in ds[dims.CHANNEL].values]
    for c in chans:
        if c not in known:
            raise ConfigError(f"channels: unknown channel {c!r}\n  fix: use one of {', '.join(known)}")
    bad = [w for w in cfg.test_weeks if int(w) < 1] + [c for c in cfg.changes if c < -1 or c == 0]
    if bad:
        raise ConfigError(f"test_weeks / changes: {bad[0]} is not a test\n  fix: weeks >= 1; a "
                          "change between -1 (go dark) and any positive multiple, not 0")
    return [Candidate(c, g, int(w), float(x)) for c in chans for g in geo_sets(ds, cfg.geo_sets)
            for w in cfg.test_weeks for x in cfg.changes]


def without_lifts(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without its lift tests (the candidates take their place)."""
    return ds.drop_vars([v for v in ds.data_vars if str(v).startswith("lift_")])


def candidate_tests(ds: xr.Dataset, cands: List[Candidate], n_train: int) -> xr.Dataset:
    """``ds`` with the candidates as its lift tests, each over the whole recorded spend of its
    cells in the last ``weeks`` training periods (``mmm_geo.data.lift``)."""
    if any(c.weeks > n_train for c in cands):
        raise ConfigError(f"test_weeks: longer than the {n_train} fitted weeks\n  fix: shorter tests")
    return with_lift_tests(without_lifts(ds), candidate_frame(cands, ds, n_train),
                           "design-test candidates")


def candidate_frame(cands: List[Candidate], ds: xr.Dataset, n_train: int) -> pd.DataFrame:
    """The candidates as a lift-test table (placeholder lift and SE)."""
    times = pd.DatetimeIndex(ds[dims.TIME].values)
    return pd.DataFrame({"channel": [c.channel for c in cands], "geo": [c.geos for c in cands],
                         "start": [times[n_train - c.weeks] for c in cands],
                         "end": [times[n_train - 1] for c in cands], "lift": 0.0, "lift_se": 1.0,
                         "spend": "all"})


def candidate_lifts(run, cands: List[Candidate], n_train: int, ids: np.ndarray):
    """Per candidate: the lift per draw (D, K) in KPI units, the recorded spend of its cells, their
    mean revenue per KPI and the test's cells (K, geo, time)."""
    ds = without_lifts(run.ds)
    base = candidate_tests(run.ds, cands, n_train)
    cells = base["lift_window"].values > 0                                   # (K, geo, time)
    recorded = base["lift_spend"].values.sum((1, 2))
    rpk = np.array([run.ds["revenue_per_kpi"].values[m].mean() for m in cells])
    post = take(run.idata.posterior[sites(run.idata.posterior)], ids)
    lifts = np.zeros((len(ids), len(cands)))
    for k, c in enumerate(cands):
        one = base.isel({dims.LIFT_TEST: [k]})
        if c.change > 0:     # a heavy-up: the recorded spend of the cells plus the added part
            chan = known_index(ds, c.channel)
            factor = 1.0 + c.change * cells[k][..., None] * (np.arange(ds.sizes[dims.CHANNEL]) == chan)
            one = one.assign(spend=ds["spend"] * factor,
                             **({"exposure": ds["exposure"] * factor} if "exposure" in ds else {}))
        one = one.assign(lift_spend=one["lift_spend"] * abs(c.change))
        lifts[:, k] = lift_draws(post, one, run.scaling, run.config.model)[:, 0]
    return lifts, recorded * np.abs([c.change for c in cands]), rpk, cells


def known_index(ds: xr.Dataset, channel: str) -> int:
    return [str(c) for c in ds[dims.CHANNEL].values].index(channel)


def noise_se(run, cells: np.ndarray, n_train: int, factor: float) -> np.ndarray:
    """Standard error of each test's measured lift (K,) from the fit's per-geo residual variance
    over the training weeks (module docstring)."""
    bands = predictive_bands(run.idata)
    resid = (bands["observed"] - bands["mean"]).values[:, :n_train]
    var = np.nanvar(resid, axis=1, ddof=1)                                   # (geo,)
    return factor * np.sqrt((cells * var[None, :, None]).sum((1, 2)))


@partial(jax.jit, static_argnames=("spec", "settings"))
def weighted_optima(x0: jnp.ndarray, feas: Feasible, args: Args, w: jnp.ndarray, spec: Spec,
                    settings: Settings) -> jnp.ndarray:
    """The plan maximising the ``w``-weighted mean outcome for each row of ``w`` (J, D), (J, n)."""
    def one(wj):
        value = lambda x, a: jnp.sum(wj * scores(x, a, spec)) / a.budget  # noqa: E731
        return solve(value, x0, feas, args, with_offset(settings, spec)).x
    return jax.vmap(one)(w)


@partial(jax.jit, static_argnames=("spec",))
def outcomes(xs: jnp.ndarray, args: Args, spec: Spec) -> jnp.ndarray:
    """Per-draw outcome of each plan in ``xs`` (J, n), (J, D)."""
    return jax.vmap(lambda x: scores(x, args, spec))(xs)


def reweight(lift: np.ndarray, se: float, outer: np.ndarray, rng) -> tuple:
    """Simulated measurements for the outer draws and the importance weights they give every draw
    (draw j left out of its own), ((J, D) weights, (J,) effective sample sizes)."""
    y = lift[outer] + se * rng.standard_normal(len(outer))
    logw = -0.5 * ((y[:, None] - lift[None, :]) / se) ** 2
    logw[np.arange(len(outer)), outer] = -np.inf
    w = np.exp(logw - logw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    return w, 1.0 / (w ** 2).sum(1)


def interval_width(values: np.ndarray, w: np.ndarray, prob: float = 0.9) -> np.ndarray:
    """Width of the central ``prob`` interval of ``values`` (D,) under each weight row (J, D)."""
    order = np.argsort(values)
    cum = np.cumsum(w[:, order], axis=1)
    lo = values[order][np.argmax(cum >= (1 - prob) / 2, axis=1)]
    hi = values[order][np.argmax(cum >= (1 + prob) / 2, axis=1)]
    return hi - lo


def design(run, cfg) -> pd.DataFrame:
    """The ranked candidate tests of a loaded run under a :class:`~mmm_geo.config.DesignConfig`."""
    model = run.config.model
    n_train = int(train_mask(run.idata).sum())
    cands = candidates(run.ds, cfg)
    problem = build_problem(run.ds, run.scaling, model, cfg, planned=single_plan(run, cfg))
    params, ids = draw_params(run.idata.posterior, model, cfg.draws, cfg.seed)
    terms = build_terms(params, problem, model)
    spec = spec_of(cfg, model, len(problem.channels))
    spec = spec._replace(objective="profit" if spec.objective == "profit" else "mean")
    settings = settings_of(cfg)
    feas = feasible(problem)
    args = as_args(terms, problem.weights, problem.geo_share, problem.budget)
    x0 = jnp.asarray(to_decision(problem, current_mix(problem)) / problem.budget, jnp.float32)
    n = len(ids)
    now = weighted_optima(x0, feas, args, jnp.full((1, n), 1.0 / n, jnp.float32), spec, settings)
    lifts, moved, rpk, cells = candidate_lifts(run, cands, n_train, ids)
    se = noise_se(run, cells, n_train, cfg.se_factor)
    roi = channel_metrics(take(run.idata.posterior[sites(run.idata.posterior)], ids), run.ds,
                          run.scaling, model)["roi"].transpose(..., dims.CHANNEL).values[0]   # (D, C)
    prior_width = [interval_width(r, np.full((1, n), 1.0 / n))[0] for r in roi.T]
    rng = np.random.default_rng(cfg.seed)
    outer = np.sort(rng.choice(n, size=min(cfg.outer_draws, n), replace=False))
    j = np.arange(len(outer))
    flat = np.full((len(outer), n), 1.0 / (n - 1))
    flat[j, outer] = 0.0                                     # the current plan without draw j too
    current = weighted_optima(now[0], feas, args, jnp.asarray(flat, jnp.float32), spec, settings)
    base_out = np.asarray(outcomes(current, args, spec))[j, outer]
    rows = []
    for k, c in enumerate(cands):
        w, ess = reweight(lifts[:, k], float(se[k]), outer, rng)
        xs = weighted_optima(now[0], feas, args, jnp.asarray(w, jnp.float32), spec, settings)
        gain = np.asarray(outcomes(xs, args, spec))[j, outer] - base_out
        ch = known_index(run.ds, c.channel)
        roi_c, prior_w = roi[:, ch], prior_width[ch]
        mean_lift = float(lifts[:, k].mean())
        z = np.abs(lifts[:, k]) / se[k]
        cost = float(moved[k]) + (max(mean_lift, 0.0) * float(rpk[k]) if c.change < 0 else 0.0)
        evsi = float(gain.mean())
        rows.append({
            "channel": c.channel, "geos": c.geos, "weeks": c.weeks, "change": c.change,
            "start": str(pd.Timestamp(run.ds[dims.TIME].values[n_train - c.weeks]).date()),
            "spend_moved": float(moved[k]), "cost": cost,
            "lift_mean": mean_lift * (np.sign(c.change)), "lift_se": float(se[k]),
            "power": float(np.mean(norm.sf(1.959964 - z) + norm.cdf(-1.959964 - z))),
            "roi_width_ratio": float(np.mean(interval_width(roi_c, w)) / prior_w) if prior_w > 0 else np.nan,
            "evsi": evsi, "evsi_se": float(gain.std(ddof=1) / np.sqrt(len(gain))),
            "evsi_per_cost": evsi / cost if cost > 0 else np.nan,
            "ess_mean": float(ess.mean()), "degenerate": bool(ess.mean() < cfg.min_ess),
        })
    table = pd.DataFrame(rows).sort_values("evsi_per_cost", ascending=False, kind="stable")
    return table.reset_index(drop=True).assign(rank=lambda t: np.arange(1, len(t) + 1))


def run_design(cfg) -> pd.DataFrame:
    """``mmm-geo design-test``: rank the candidate tests of a saved run, print the best ones and
    save ``design.csv`` and ``design.json`` in ``<run>/<output>/``."""
    from mmm_geo.run import load_run

    if not cfg.run:
        raise ConfigError("no run given\n  fix: mmm-geo design-test run=<folder of a completed fit>")
    table = design(load_run(Path(cfg.run)), cfg)
    folder = Path(cfg.run) / cfg.output
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "design.csv", lambda p: table.to_csv(p, index=False))
    best = table.iloc[0].to_dict()
    meta = {"recommended": best, "candidates": len(table), "draws": cfg.draws,
            "outer_draws": cfg.outer_draws, "se_factor": cfg.se_factor, "budget": cfg.budget,
            "horizon_weeks": cfg.horizon_weeks}
    text = json.dumps(meta, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    atomic_write(folder / "design.json", lambda p: p.write_text(text))
    cols = ["rank", "channel", "geos", "weeks", "change", "cost", "power", "roi_width_ratio",
            "evsi", "evsi_se", "evsi_per_cost", "ess_mean", "degenerate"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[cols].head(10).to_string(index=False, float_format=lambda x: f"{x:,.3g}"))
    print(f"\nrun next: {best['channel']} x{1 + best['change']:g} of its spend in "
          f"{'all geos' if best['geos'] == 'all' else best['geos'].replace('|', ', ')} for "
          f"{best['weeks']} weeks (expected value of the information {best['evsi']:,.0f}, "
          f"cost {best['cost']:,.0f}, power {best['power']:.0%})")
    print(f"saved design.csv, design.json to {folder}")
    return table
