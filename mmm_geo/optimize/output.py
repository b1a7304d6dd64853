"""Tables, printout and files of an optimizer :class:`~mmm_geo.optimize.plan.Result`.

Files written into ``<run>/<output>/``: ``allocation.csv`` (per channel), ``allocation_geo.csv``
(per geo x channel, when asked or for cell decisions), ``outcomes.csv`` (every plan side by side),
``flighting.csv`` (current and recommended spend per week, geo and channel, by date, and the
timed flighting with ``timing=true``; the tables carry the horizon's first and last week),
``timing.csv`` (with ``timing=true``: per week and channel, the recommended totals' spend under
the historical pattern and timed),
``optimize.json`` (settings, solver status, optimality check, totals) and ``optimize.nc`` (per-draw
outcomes, plans, marginal returns and per-draw optimal allocations).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.stack import read_stack
from mmm_geo.config import OptimizeConfig
from mmm_geo.errors import ConfigError
from mmm_geo.inference.trace import atomic_write
from mmm_geo.optimize.plan import Result, plan_run
from mmm_geo.optimize.stacked import contributing, stack_draws

QUANTILES = (0.05, 0.5, 0.95)
RANGE_TOL = 1e-6      # relative slack of the observed-range check


def allocation_table(result: Result) -> pd.DataFrame:
    """Per channel: current and recommended spend, bounds, the range of spend the data saw over
    spans of the horizon's length and whether the recommendation is ``below``, ``within`` or
    ``above`` it, marginal return at the optimum (mean and 90 % interval over draws) and the spread
    of the per-draw optimal spend."""
    pb = result.problem
    cur, rec = result.plans["current"].sum(0), result.plans["recommended"].sum(0)
    q = np.quantile(result.mroi, [0.05, 0.95], axis=0)
    table = pd.DataFrame({
        "channel": pb.channels, "current": cur, "recommended": rec, "change": rec - cur,
        "change_pct": np.where(cur > 0, 100 * (rec - cur) / np.where(cur > 0, cur, 1), np.nan),
        "min": pb.channel_lo, "max": pb.channel_hi,
        "at_bound": (rec <= pb.channel_lo * (1 + 1e-6) + 1e-9)
        | (rec >= pb.channel_hi * (1 - 1e-6)),
        "mroi_mean": result.mroi.mean(0), "mroi_p5": q[0], "mroi_p95": q[1],
    })
    if pb.observed is not None:
        lo, hi = pb.observed
        table = table.assign(observed_min=lo, observed_max=hi, data_range=np.where(
            rec < lo * (1 - RANGE_TOL), "below", np.where(rec > hi * (1 + RANGE_TOL), "above", "within")))
    if len(result.draw_optima):
        opt = result.draw_optima
        qo = np.quantile(opt, [0.05, 0.5, 0.95], axis=0)
        table = table.assign(draw_opt_mean=opt.mean(0), draw_opt_sd=opt.std(0), draw_opt_p5=qo[0],
                             draw_opt_p50=qo[1], draw_opt_p95=qo[2])
    return table


def geo_table(result: Result) -> pd.DataFrame:
    """Per geo x channel: current and recommended spend."""
    pb = result.problem
    g, c = np.meshgrid(np.arange(len(pb.geos)), np.arange(len(pb.channels)), indexing="ij")
    cur, rec = result.plans["current"], result.plans["recommended"]
    return pd.DataFrame({"geo": pb.geos[g.ravel()], "channel": pb.channels[c.ravel()],
                         "current": cur.ravel(), "recommended": rec.ravel(),
                         "change": (rec - cur).ravel()})


def dated(table: pd.DataFrame, result: Result) -> pd.DataFrame:
    """``table`` with the horizon's first and last week as columns."""
    weeks = result.problem.weeks
    return table.assign(first_week=str(weeks[0]), last_week=str(weeks[-1]))


def flighting_table(result: Result) -> pd.DataFrame:
    """Per week (date) x geo x channel: the current and the recommended spend (historical
    pattern), and with ``timing=true`` the recommended weekly flighting ("timed")."""
    pb = result.problem
    g, h, c = pb.pattern.shape
    idx = np.indices((h, g, c)).reshape(3, -1)
    weekly = {k: result.plans[k][:, None, :] * pb.pattern for k in ("current", "recommended")}
    if result.timing is not None:
        weekly["timed"] = result.timing.weekly
    return pd.DataFrame({"week": pb.weeks[idx[0]], "geo": pb.geos[idx[1]],
                         "channel": pb.channels[idx[2]],
                         **{k: v.transpose(1, 0, 2).ravel() for k, v in weekly.items()}})


def timing_table(result: Result) -> pd.DataFrame:
    """Per week x channel, summed over geos: the recommended totals' spend under the historical
    pattern and under the recommended weekly flighting (``timing=true``)."""
    pb, t = result.problem, result.timing
    h, c = np.indices(t.weekly.shape[1:]).reshape(2, -1)
    return pd.DataFrame({"week": pb.weeks[h], "channel": pb.channels[c],
                         "history_pattern": t.history.sum(0).ravel(),
                         "timed": t.weekly.sum(0).ravel()})


def timing_gain(result: Result) -> dict:
    """What the weekly flighting adds to the recommended totals under the historical pattern,
    per draw: mean, 90 % interval, probability it is positive, and the solver's status."""
    t = result.timing
    gain = t.value - t.history_value
    q = np.quantile(gain, [0.05, 0.5, 0.95])
    return {"gain_mean": float(gain.mean()), "gain_p5": float(q[0]), "gain_p50": float(q[1]),
            "gain_p95": float(q[2]), "p_gain_positive": float(np.mean(gain > 0)),
            "gain_pct": float(100 * gain.mean() / max(abs(t.history_value.mean()), 1e-30)),
            **t.status}


def outcome_table(result: Result) -> pd.DataFrame:
    """Every plan side by side: spend, the outcome's mean and 5/50/95 % quantiles over draws, its
    return per unit spend, and the probability that the plan beats the current mix."""
    rows = []
    base = result.scores["current"]
    for name, plan in result.plans.items():
        v, s = result.value[name], result.scores[name]
        q = np.quantile(v, QUANTILES)
        row = {"plan": name, "spend": float(plan.sum()), "mean": float(v.mean()), "p5": q[0],
               "p50": q[1], "p95": q[2],
               "return_per_spend": float(v.mean() / max(plan.sum(), 1e-30)),
               "p_beats_current": np.nan if name == "current" else float(np.mean(s > base))}
        if result.spec.objective == "profit":
            row.update(profit_mean=float(s.mean()), profit_p5=float(np.quantile(s, 0.05)),
                       profit_p95=float(np.quantile(s, 0.95)))
        rows.append(row)
    return pd.DataFrame(rows)


def to_dataset(result: Result) -> xr.Dataset:
    """Per-draw outcomes (plan, draw), plans (plan, geo, channel), marginal returns (draw, channel)
    and per-draw optimal channel spend (alloc_draw, channel)."""
    pb = result.problem
    names = list(result.plans)
    return xr.Dataset(
        {
            "outcome": (("plan", dims.DRAW), np.stack([result.value[n] for n in names])),
            "score": (("plan", dims.DRAW), np.stack([result.scores[n] for n in names])),
            "spend": (("plan", dims.GEO, dims.CHANNEL), np.stack([result.plans[n] for n in names])),
            "mroi": ((dims.DRAW, dims.CHANNEL), result.mroi),
            "draw_optimal_spend": (("alloc_draw", dims.CHANNEL), result.draw_optima),
            "posterior_index": ((dims.DRAW,), np.asarray(result.draw_ids, int)),
        },
        coords={"plan": names, dims.GEO: pb.geos, dims.CHANNEL: pb.channels,
                dims.DRAW: np.arange(len(result.value["current"]))},
        attrs={"objective": result.spec.objective, "budget": pb.budget,
               "status": result.status["status"]},
    )


def summary(result: Result, cfg: OptimizeConfig) -> dict:
    """The JSON summary: config, horizon, budget, solver status and optimality check."""
    pb = result.problem
    return {"config": asdict(cfg), "budget": pb.budget, "horizon_weeks": [str(w) for w in pb.weeks],
            "plan": str(cfg.plan) if cfg.plan else None,
            "tail_weeks": pb.tail, "decision": pb.decision, "solver": result.status,
            "target": result.target,
            "timing": timing_gain(result) if result.timing is not None else None,
            "recommended": dict(zip(pb.channels, result.plans["recommended"].sum(0).tolist())),
            "outside_data": outside_data(allocation_table(result)),
            "rf_frequency": planned_frequencies(pb)}


def outside_data(table: pd.DataFrame) -> Dict[str, str]:
    """Channel -> ``below`` or ``above`` for recommendations outside the spend the data saw."""
    if "data_range" not in table:
        return {}
    out = table[table["data_range"] != "within"]
    return dict(zip(out["channel"].astype(str), out["data_range"]))


def planned_frequencies(pb) -> dict:
    """The frequency each reach & frequency channel is planned at (``Problem.frequency``)."""
    return {} if pb.frequency is None else {
        str(c): float(f) for c, f in zip(pb.channels, pb.frequency) if str(c) in pb.rf_channels}


def save(result: Result, cfg: OptimizeConfig, folder: Path, per_geo: bool) -> List[Path]:
    """Write the tables, the summary and the netCDF into ``folder`` (atomically); returns paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames: Dict[str, pd.DataFrame] = {"allocation.csv": dated(allocation_table(result), result),
                                       "outcomes.csv": dated(outcome_table(result), result),
                                       "flighting.csv": flighting_table(result)}
    if per_geo:
        frames["allocation_geo.csv"] = dated(geo_table(result), result)
    if result.timing is not None:
        frames["timing.csv"] = timing_table(result)
    paths = []
    for name, frame in frames.items():
        atomic_write(folder / name, lambda p, f=frame: f.to_csv(p, index=False))
        paths.append(folder / name)
    text = json.dumps(summary(result, cfg), indent=2, default=_json_default)
    atomic_write(folder / "optimize.json", lambda p: p.write_text(text))
    atomic_write(folder / "optimize.nc",
                 lambda p: to_dataset(result).to_netcdf(str(p), engine="h5netcdf"))
    return paths + [folder / "optimize.json", folder / "optimize.nc"]


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3f}"


def print_report(result: Result, per_geo: bool = False) -> None:
    """Human-readable allocation, outcomes and solver status."""
    st, pb = result.status, result.problem
    horizon = f"{pb.weeks[0]} .. {pb.weeks[-1]}" if len(pb.weeks) > 1 else str(pb.weeks[0])
    print(f"\nBudget {pb.budget:,.0f} over {len(pb.weeks)} weeks ({horizon}; + {pb.tail} carryover "
          f"weeks), objective {result.spec.objective}, {st['draws']} posterior draws")
    for name, f in planned_frequencies(pb).items():
        print(f"{name}: reach & frequency, planned at frequency {f:.2f} (the budget buys reach)")
    if result.target:
        t = result.target
        note = " (the search limit)" if t["at_search_limit"] else ""
        print(f"target mode: {t['kind']} {t['value']:g} -> budget {t['budget']:,.0f}{note}")
    cols = ["channel", "current", "recommended", "change_pct", "at_bound", "mroi_mean", "mroi_p5",
            "mroi_p95"]
    table = allocation_table(result)
    cols += ["data_range"] if "data_range" in table else []
    if "draw_opt_sd" in table:
        cols += ["draw_opt_p5", "draw_opt_p95"]
    print("\nRecommended spend per channel (marginal return at the optimum; range of the per-draw "
          "optimum):")
    print(table[cols].to_string(index=False, float_format=_fmt))
    rows = table.set_index("channel")
    for name, side in outside_data(table).items():
        edge = rows.loc[name, "observed_min" if side == "below" else "observed_max"]
        print(f"note: {name}'s recommended {_fmt(rows.loc[name, 'recommended'])} is {side} the "
              f"spend of any {len(pb.weeks)} weeks of the data ({'least' if side == 'below' else 'most'} "
              f"{_fmt(edge)}): the response there is the model's extrapolation; "
              f"bounds.{name}=[lo,hi] keeps it in range, a lift test at that level checks it")
    if per_geo:
        print("\nPer geo:")
        print(geo_table(result).to_string(index=False, float_format=_fmt))
    print("\nOutcome over the posterior (incremental value in the evaluated weeks):")
    print(outcome_table(result).to_string(index=False, float_format=_fmt))
    if result.timing is not None:
        _print_timing(result)
    ok = ("passed" if st["kkt_ok"] else "FAILED" if st["smooth"]
          else "not met (the objective is not smooth)")
    print(f"\nsolver: {st['status']} after {st['iterations']} iterations (residual "
          f"{st['residual']:.2e}, tol {st['tol']:g}); optimality check {ok}: marginal-return gap "
          f"{st['kkt_gap']:.2%} across {st['free']} unbounded coordinates "
          f"(tol {st['kkt_tol']:.0%});"
          f" {st['solve_s']:.1f} s")


def _print_timing(result: Result) -> None:
    g = timing_gain(result)
    table = timing_table(result).pivot(index="week", columns="channel", values="timed")
    print("\nRecommended weekly flighting (spend per week and channel, all geos):")
    print(table.to_string(float_format=_fmt))
    ok = "passed" if g["kkt_ok"] else "FAILED" if g["smooth"] else "not met (not smooth)"
    print(f"timing adds {_fmt(g['gain_mean'])} ({g['gain_pct']:.1f} %; 90 % interval "
          f"{_fmt(g['gain_p5'])} to {_fmt(g['gain_p95'])}, positive in {g['p_gain_positive']:.0%} "
          f"of draws) over the historical weekly pattern at the recommended totals; solver "
          f"{g['status']} after {g['iterations']} iterations, per-cell optimality check {ok} "
          f"(gap {g['kkt_gap']:.2%})")


def run_optimize(cfg: OptimizeConfig) -> Result:
    """``mmm-geo optimize``: load the run (or a comparison folder's model stack,
    ``mmm_geo.optimize.stacked``), optimise, print the report, save it in that folder."""
    from mmm_geo.experiments import tracking
    from mmm_geo.run import load_run

    if not cfg.run:
        raise ConfigError("no run given\n  fix: mmm-geo optimize run=<folder of a completed fit>")
    where = tracking.target(cfg, Path(cfg.run))
    folder = Path(cfg.run)
    stack = read_stack(folder)
    if stack is None:
        run, draws = load_run(folder), None
    else:
        members = contributing(stack)
        runs = [load_run(Path(m.path)) for m in members]
        run, draws = runs[0], stack_draws(members, runs, cfg.optimizer)
        print("planning over the stacked posterior of " + ", ".join(
            f"{m.run} (weight {m.weight:.3f}, {len(m.draws)} draws)" for m in members))
    result = plan_run(run, cfg, draws)
    per_geo = cfg.per_geo or cfg.optimizer.decision == "cell"
    print_report(result, per_geo)
    paths = save(result, cfg, folder / cfg.output, per_geo)
    print(f"\nsaved {', '.join(p.name for p in paths)} to {folder / cfg.output}")
    tracking.log_optimize(where, cfg, Path(cfg.run), Path(cfg.run) / cfg.output)
    return result
