"""The planning problem of a saved run as plain arrays: horizon, carry-in, flighting,
spend-to-exposure conversion, value weights, the historical (current) mix and the constraints.

Shapes use G geos, C channels, H horizon weeks, L the adstock ``max_lag`` and E = H + tail evaluated
weeks (tail = L - 1 when the effect of horizon spend after the horizon counts, else 0).

- Horizon: the H = ``horizon_weeks`` weeks after the data, dates in the data's calendar
  (``mmm_geo.optimize.horizon``), or a historical ``window`` re-planned.
- Reference weeks: the last H weeks of the data (future), or the window itself. Their spend is the
  current mix: per cell (geo x channel) its total ``reference``; scaled to the budget it is the mix
  the recommendation is compared with.
- Flighting: a cell total is spread over the horizon weeks by ``pattern`` (the reference weeks'
  pattern of that cell, or flat); channel totals are split across geos by ``geo_share``. A plan
  file (``mmm_geo.optimize.planfile``) replaces both: its cell totals are the current mix and its
  weekly shape (exposure per unit of the cell's total) the flighting.
- Carry-in: the ``L - 1`` weeks before the horizon keep their actual (scaled) exposure; weeks
  between the data's end and a later horizon carry none.
- Conversion: spend -> scaled exposure at the reference weeks' cost per exposure of each cell.
- Spend after the horizon is taken as zero, so the tail counts only the carryover of horizon spend.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple

import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.frequency import recorded
from mmm_geo.config import ModelConfig, OptimizeConfig
from mmm_geo.data.scaling import Scaling, model_data
from mmm_geo.errors import ConfigError
from mmm_geo.optimize.horizon import resolve
from mmm_geo.optimize.planfile import Planned, scaled_exposure

OBJECTIVES = ("mean", "mean_sd", "cvar", "quantile", "profit")
METRICS = ("revenue", "kpi")
DECISIONS = ("channel", "cell")
FLIGHTINGS = ("history", "flat")
TARGETS = ("roi", "mroi", "outcome")


class Problem(NamedTuple):
    """Fixed arrays of one planning problem (NumPy, float64).

    Attributes:
        geos, channels: names, (G,) and (C,).
        weeks: the horizon's dates, (H,) (``YYYY-MM-DD``).
        pre: scaled exposure of the L - 1 weeks before the horizon, (G, L-1, C).
        unit_exposure: scaled exposure per currency unit of a cell's horizon total, (G, H, C).
        tail: number of weeks evaluated after the horizon.
        weights: user units (revenue, or KPI for ``metric=kpi``) per unit of scaled KPI in each
            evaluated week, (G, E); profit always uses revenue.
        reference: historical spend of each cell over the reference weeks, (G, C).
        geo_share: split of each channel across geos, (G, C); columns sum to 1.
        budget: the total budget (currency).
        lo, hi: bounds of the decision in currency: (C,) for channel decisions, (G*C,) for cells.
        channel_lo, channel_hi: per-channel total bounds, (C,).
        geo_lo, geo_hi: per-geo total bounds, (G,) (open unless ``geo_bounds``).
        decision: "channel" or "cell".
        cap: whether the budget is a ceiling rather than exact.
        pattern: share of each cell's horizon spend in each week, (G, H, C).
        conversion: scaled exposure per currency unit spent in each cell and week, (G, H, C)
            (``unit_exposure = pattern * conversion``; a plan file's own exposure where it has one).
        offset: index of the first horizon week on the data's calendar (``mmm_geo.optimize.
            horizon``; the data's length for the weeks right after it).
        frequency: the planned frequency of each channel, (C,) (1 for channels without reach &
            frequency), the media component's ``FREQUENCY`` input over the whole sequence (its
            carried-in weeks too); None: no reach & frequency channel.
        rf_channels: the names of the reach & frequency channels.
        observed: the least and the most each channel spent nationally in any run of the
            horizon's length in the data, (2, C) (:func:`observed_range`): outside it the
            recommendation rests on the model's curve where no data were.
    """

    geos: np.ndarray
    channels: np.ndarray
    weeks: np.ndarray
    pre: np.ndarray
    unit_exposure: np.ndarray
    tail: int
    weights: np.ndarray
    reference: np.ndarray
    geo_share: np.ndarray
    budget: float
    lo: np.ndarray
    hi: np.ndarray
    channel_lo: np.ndarray
    channel_hi: np.ndarray
    geo_lo: np.ndarray
    geo_hi: np.ndarray
    decision: str
    cap: bool
    pattern: np.ndarray
    offset: int
    conversion: np.ndarray
    frequency: Optional[np.ndarray] = None
    rf_channels: Tuple[str, ...] = ()
    observed: Optional[np.ndarray] = None


def _fail(problem: str, fix: str) -> None:
    raise ConfigError(f"{problem}\n  fix: {fix}")


def check_mediation(model: ModelConfig) -> None:
    """Refuse a run with a mediator (``model.mediation``): the planner's response is each
    channel's direct one, which would leave out what an upstream channel drives through the
    mediator."""
    med = model.mediation
    if med.mediator:
        _fail(f"the run has a mediator (model.mediation: {med.mediator} driven by "
              f"{list(med.upstream)}); the optimizer and forecasts plan each channel's direct "
              "response only, which leaves out the upstream channels' mediated effect",
              "read the direct, indirect and total effects and the total ROI in the run's "
              "summary.csv; plan with a run fitted without model.mediation")


def check_settings(cfg: OptimizeConfig) -> None:
    """Reject unknown names and out-of-range numbers before any compute."""
    o = cfg.optimizer
    for key, value, allowed in [("optimizer.objective", o.objective, OBJECTIVES),
                                ("optimizer.metric", o.metric, METRICS),
                                ("optimizer.decision", o.decision, DECISIONS),
                                ("flighting", cfg.flighting, FLIGHTINGS)]:
        if value not in allowed:
            _fail(f"{key}={value!r} is unknown", f"use one of {', '.join(allowed)}")
    if cfg.target is not None and cfg.target not in TARGETS:
        _fail(f"target={cfg.target!r} is unknown", f"use one of {', '.join(TARGETS)}, or null")
    if cfg.budget is not None and not (np.isfinite(cfg.budget) and cfg.budget > 0):
        _fail(f"budget={cfg.budget} is not a positive amount", "give budget=<total spend> > 0, "
              "or leave it out to plan the historical spend")
    checks = [
        (cfg.horizon_weeks >= 1, f"horizon_weeks={cfg.horizon_weeks}", "horizon_weeks >= 1"),
        (0 < o.alpha < 1, f"optimizer.alpha={o.alpha}", "a level strictly between 0 and 1"),
        (o.risk_lambda >= 0, f"optimizer.risk_lambda={o.risk_lambda}", "risk_lambda >= 0"),
        (o.margin > 0, f"optimizer.margin={o.margin}", "margin > 0"),
        (o.draws is None or o.draws >= 1, f"optimizer.draws={o.draws}", "draws >= 1 or null"),
        (o.learning_rate > 0, f"optimizer.learning_rate={o.learning_rate}", "learning_rate > 0"),
        (o.max_iter >= 1, f"optimizer.max_iter={o.max_iter}", "max_iter >= 1"),
        (o.tol > 0 and o.kkt_tol > 0, f"optimizer.tol={o.tol}, kkt_tol={o.kkt_tol}",
         "tolerances > 0"),
        (o.projection_iter >= 1, f"optimizer.projection_iter={o.projection_iter}",
         "projection_iter >= 1"),
        (o.allocation_draws >= 0, f"optimizer.allocation_draws={o.allocation_draws}", ">= 0"),
        (cfg.target_value > 0, f"target_value={cfg.target_value}", "target_value > 0"),
        (cfg.week_cap is None or cfg.week_cap >= 1, f"week_cap={cfg.week_cap}",
         "week_cap >= 1 (a multiple of a cell's average weekly spend) or null"),
    ]
    for ok, what, fix in checks:
        if not ok:
            _fail(f"{what} is out of range", f"use {fix}")
    if cfg.geo_bounds and o.decision != "cell":
        _fail("geo_bounds need channel x geo decisions", "add optimizer.decision=cell")
    if cfg.target is not None and cfg.budget_cap:
        _fail("target mode searches the budget itself; budget_cap does not apply",
              "drop budget_cap=true or target")


def _bound_pair(name: str, value: Any, what: str) -> Tuple[float, float]:
    """[min, max], {min:, max:} or a number (both) -> (min, max) with open sides as 0 / inf."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pair = [value, value]
    elif isinstance(value, dict) and set(value) <= {"min", "max"}:
        pair = [value.get("min"), value.get("max")]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = list(value)
    else:
        _fail(f"{what}.{name}={value!r} is not a bound",
              f"write {what}.{name}=[min,max] (null for an open side)")
    try:
        lo = 0.0 if pair[0] is None else float(pair[0])
        hi = np.inf if pair[1] is None else float(pair[1])
    except (TypeError, ValueError):
        _fail(f"{what}.{name}={value!r} has a non-numeric side", "use numbers or null")
    if not (lo >= 0 and hi >= lo):
        _fail(f"{what}.{name}: min {lo:g} and max {hi:g} are not 0 <= min <= max", "fix the bound")
    return lo, hi


def _resolve(names: np.ndarray, spec: dict, ref: np.ndarray, relative: bool,
             what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Per-name bounds in currency: (lo, hi), open by default; unknown names are errors."""
    lo, hi = np.zeros(len(names)), np.full(len(names), np.inf)
    known = list(names)
    for name, value in spec.items():
        if name not in known:
            _fail(f"{what}: {name!r} is not in the run", f"use one of {', '.join(known)}")
        j = known.index(name)
        a, b = _bound_pair(name, value, what)
        lo[j], hi[j] = (a * ref[j], b * ref[j]) if relative else (a, b)
    return lo, np.where(np.isnan(hi), np.inf, hi)


def _check_sum(lo: np.ndarray, hi: np.ndarray, budget: float, cap: bool, what: str) -> None:
    if lo.sum() > budget * (1 + 1e-9):
        _fail(f"the {what} minimums add up to {lo.sum():,.2f}, more than the budget {budget:,.2f}",
              f"raise the budget or lower the {what} minimums (locked channels count at their "
              "historical spend)")
    if not cap and hi.sum() < budget * (1 - 1e-9):
        _fail(f"the {what} maximums add up to {hi.sum():,.2f}, less than the budget {budget:,.2f}",
              f"lower the budget, raise the {what} maximums, or set budget_cap=true")


def _conversion(ds: xr.Dataset, scaling: Scaling, start: int, n_ref: int, first_ref: int,
                window: bool) -> np.ndarray:
    """Scaled exposure per currency unit, (G, H or 1, C): weekly in a window, else the reference
    weeks' spend-weighted average (channel average where a cell had no spend)."""
    spend = ds["spend"].values
    media = model_data(ds, scaling, np.float64).media
    sl = slice(first_ref, first_ref + n_ref)
    tot_s, tot_m = spend[:, sl].sum(1), media[:, sl].sum(1)
    cpe = spend.sum((0, 1)) / np.maximum(ds["exposure"].values.sum((0, 1)), 1e-300)
    per_unit = cpe[None, :] * ds["population"].values[:, None] * np.asarray(scaling.media_scale)[None, :]
    fallback = np.where(per_unit > 0, 1.0 / np.where(per_unit > 0, per_unit, 1.0), 0.0)  # organic: 0
    avg = np.where(tot_s > 0, tot_m / np.where(tot_s > 0, tot_s, 1.0), fallback)
    if not window:
        return avg[:, None, :]
    s, m = spend[:, start:start + n_ref], media[:, start:start + n_ref]
    return np.where(s > 0, m / np.where(s > 0, s, 1.0), avg[:, None, :])


def build_problem(ds: xr.Dataset, scaling: Scaling, model: ModelConfig, cfg: OptimizeConfig,
                  budget: Optional[float] = None, planned: Optional[Planned] = None) -> Problem:
    """The planning problem of data ``ds`` (a run's Dataset) under ``cfg``.

    Args:
        ds: the run's Dataset (kpi, revenue_per_kpi, spend, exposure, population).
        scaling: the run's scaling.
        model: the run's model config (adstock ``max_lag``).
        cfg: the optimize config.
        budget: overrides ``cfg.budget`` (the target mode searches it).
        planned: a plan file read by ``mmm_geo.optimize.planfile.load_plan``: its horizon, its
            cell totals as the current mix and its weekly shape as the flighting.

    Returns:
        The :class:`Problem`; ConfigError on an unusable horizon, unknown names or infeasible
        bounds.
    """
    check_settings(cfg)
    check_mediation(model)
    n_geo, n_time, n_ch = ds.sizes[dims.GEO], ds.sizes[dims.TIME], ds.sizes[dims.CHANNEL]
    lag = model.adstock.max_lag
    times = ds.coords[dims.TIME].values
    hz = planned.horizon if planned is not None else resolve(cfg, times, cfg.horizon_weeks,
                                                             cfg.window)
    start, horizon, window = hz.offset, len(hz.dates), hz.historical
    if window:
        first_ref, n_ref = start, horizon
    else:
        if horizon > n_time and cfg.flighting == "history" and planned is None:
            _fail(f"the horizon of {horizon} weeks is longer than the data ({n_time} weeks), so "
                  "it has no historical weekly pattern", "use flighting=flat or a shorter horizon")
        n_ref = min(horizon, n_time)
        first_ref = n_time - n_ref
    spend = ds["spend"].values
    ref_weeks = spend[:, first_ref:first_ref + n_ref]              # (G, n_ref, C)
    conversion = _conversion(ds, scaling, start, n_ref, first_ref, window)
    if planned is not None:
        reference = planned.spend.sum(1)
        flight = scaled_exposure(planned, conversion, ds["population"].values,
                                 np.asarray(scaling.media_scale))
        safe = np.where(reference > 0, reference, 1.0)[:, None, :]
        unit_exposure = np.where(reference[:, None, :] > 0, flight / safe, conversion / horizon)
        pattern = np.where(reference[:, None, :] > 0, planned.spend / safe, 1.0 / horizon)
        conversion = np.where(planned.spend > 0,
                              flight / np.where(planned.spend > 0, planned.spend, 1.0), conversion)
    else:
        reference = ref_weeks.sum(1) * (horizon / n_ref)
        if cfg.flighting == "history" and n_ref == horizon:
            tot = ref_weeks.sum(1, keepdims=True)
            pattern = np.where(tot > 0, ref_weeks / np.where(tot > 0, tot, 1.0), 1.0 / horizon)
        else:
            pattern = np.full((n_geo, horizon, n_ch), 1.0 / horizon)
        unit_exposure = pattern * conversion
    if reference.sum() <= 0:
        what = "the plan has" if planned is not None else "the reference weeks have"
        _fail(f"{what} no spend at all, so there is no current mix",
              "pick a window or horizon whose preceding weeks have spend, or plan some spend")

    media = model_data(ds, scaling, np.float64).media
    pre = np.zeros((n_geo, lag - 1, n_ch))
    first, stop = max(0, start - (lag - 1)), min(start, n_time)   # data periods that carry in
    if stop > first:
        pre[:, first - (start - (lag - 1)):stop - (start - (lag - 1))] = media[:, first:stop]
    tail = lag - 1 if cfg.carryover_after else 0
    rpk = ds["revenue_per_kpi"].values
    rpk_ref = rpk[:, first_ref:first_ref + n_ref].mean(1, keepdims=True)
    rpk_eval = np.repeat(rpk_ref, horizon + tail, axis=1)
    if planned is not None and planned.revenue_per_kpi is not None:
        rpk_eval[:, :horizon] = planned.revenue_per_kpi
        rpk_eval[:, horizon:] = planned.revenue_per_kpi.mean(1, keepdims=True)
    elif window:
        have = min(horizon + tail, n_time - start)
        rpk_eval[:, :have] = rpk[:, start:start + have]
    unit = scaling.kpi_scale * ds["population"].values[:, None]
    use_revenue = cfg.optimizer.metric == "revenue" or cfg.optimizer.objective == "profit"

    pop_share = ds["population"].values / ds["population"].values.sum()
    ch_tot = reference.sum(0, keepdims=True)
    geo_share = np.where(ch_tot > 0, reference / np.where(ch_tot > 0, ch_tot, 1.0),
                         pop_share[:, None])
    channels = np.asarray(ds.coords[dims.CHANNEL].values).astype(str)
    geos = np.asarray(ds.coords[dims.GEO].values).astype(str)
    total = float(reference.sum()) if budget is None and cfg.budget is None else float(
        budget if budget is not None else cfg.budget)
    lo, hi, bounds = _constraints(cfg, channels, geos, reference, total, model.organic_channels)
    return Problem(geos=geos, channels=channels, weeks=hz.labels, pre=pre,
                   unit_exposure=unit_exposure, tail=tail,
                   weights=unit * (rpk_eval if use_revenue else 1.0),
                   reference=reference, geo_share=geo_share,
                   budget=total, lo=lo, hi=hi, decision=cfg.optimizer.decision,
                   cap=cfg.budget_cap, pattern=pattern * np.ones_like(unit_exposure),
                   offset=start, conversion=conversion * np.ones_like(unit_exposure),
                   frequency=planned_frequency(ds, cfg, model.rf_channels, first_ref, n_ref),
                   rf_channels=tuple(model.rf_channels), observed=observed_range(spend, horizon),
                   **bounds)


def observed_range(spend: np.ndarray, weeks: int) -> np.ndarray:
    """The least and the most national spend of each channel in any ``weeks`` consecutive weeks
    of ``spend`` (G, T, C), (2, C); a span longer than the data scales the data's total to it."""
    national = spend.sum(0)
    n = min(weeks, len(national))
    cum = np.concatenate([np.zeros((1, national.shape[1])), np.cumsum(national, 0)])
    sums = (cum[n:] - cum[:-n]) * (weeks / n)
    return np.stack([sums.min(0), sums.max(0)])


def planned_frequency(ds: xr.Dataset, cfg: OptimizeConfig, rf: List[str], first: int,
                      n: int) -> Optional[np.ndarray]:
    """Each channel's planned frequency (C,): ``cfg.rf_frequency`` where given, else the reference
    weeks' impressions over reach (1 without reach & frequency); None without such channels."""
    names = [str(c) for c in ds.coords[dims.CHANNEL].values]
    for name, value in cfg.rf_frequency.items():
        if name not in rf or not float(value) >= 1:
            why = "a frequency must be >= 1" if name in rf else f"{name!r} is not a reach & frequency channel"
            _fail(f"rf_frequency.{name}={value}: {why}",
                  f"plan reach & frequency channels ({list(rf) or 'none in this run'}) at a frequency >= 1")
    if not rf:
        return None
    window = ds.isel({dims.TIME: slice(first, first + n)})
    out = np.ones(len(names))
    for name in rf:
        out[names.index(name)] = float(cfg.rf_frequency.get(name, recorded(window, name)))
    return out


def _constraints(cfg: OptimizeConfig, channels: np.ndarray, geos: np.ndarray, reference: np.ndarray,
                 budget: float, organic=()):
    """Decision bounds and group bounds in currency, after the feasibility checks. Organic and
    impressions-only channels (no spend) are locked at zero: the budget buys none of them, and
    their exposure is left out of the planned weeks and of the no-spend comparison alike."""
    for name in organic:
        if name in cfg.bounds or name in cfg.locked:
            _fail(f"channel {name!r} has no spend (organic or impressions-only media), so the "
                  "budget cannot buy it", f"drop {name!r} from bounds and locked")
    ref_ch, ref_geo = reference.sum(0), reference.sum(1)
    c_lo, c_hi = _resolve(channels, dict(cfg.bounds), ref_ch, cfg.bounds_relative, "bounds")
    g_lo, g_hi = _resolve(geos, dict(cfg.geo_bounds), ref_geo, cfg.geo_bounds_relative,
                          "geo_bounds")
    locked: List[str] = list(cfg.locked)
    for name in locked:
        if name not in channels:
            _fail(f"locked: {name!r} is not a channel of the run",
                  f"use one of {', '.join(channels)}")
        if name in cfg.bounds:
            _fail(f"channel {name!r} is both locked and bounded",
                  "drop it from bounds or from locked")
    is_locked = np.isin(channels, locked + list(organic))
    c_lo, c_hi = np.where(is_locked, ref_ch, c_lo), np.where(is_locked, ref_ch, c_hi)
    _check_sum(c_lo, c_hi, budget, cfg.budget_cap, "channel")
    _check_sum(g_lo, g_hi, budget, cfg.budget_cap, "geo")
    if cfg.optimizer.decision == "channel":
        lo, hi = c_lo, c_hi
    else:
        lo = np.where(is_locked[None, :], reference, 0.0).ravel()
        hi = np.where(is_locked[None, :], reference, np.inf).ravel()
    return lo, hi, {"channel_lo": c_lo, "channel_hi": c_hi, "geo_lo": g_lo, "geo_hi": g_hi}


def current_mix(problem: Problem, budget: Optional[float] = None) -> np.ndarray:
    """The historical mix scaled to ``budget`` (default: the problem's), per cell (G, C)."""
    total = problem.budget if budget is None else budget
    return problem.reference * (total / problem.reference.sum())


def cells(problem: Problem, decision: np.ndarray) -> np.ndarray:
    """Decision vector -> cell totals (G, C): channel totals are split by ``geo_share``."""
    decision = np.asarray(decision, dtype=float)
    if problem.decision == "channel":
        return problem.geo_share * decision[None, :]
    return decision.reshape(problem.geo_share.shape)


def to_decision(problem: Problem, cell_totals: np.ndarray) -> np.ndarray:
    """Cell totals (G, C) -> the decision vector (channel totals, or the flattened cells)."""
    cell_totals = np.asarray(cell_totals, dtype=float)
    return cell_totals.sum(0) if problem.decision == "channel" else cell_totals.ravel()
