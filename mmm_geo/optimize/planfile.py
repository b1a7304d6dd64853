"""A planned flighting file: spend (optionally exposure) per geo x period x channel for a horizon.

``plan=<csv|parquet>`` comes in one of two layouts:

- **wide**, the run's own data layout (its data config's column names): one row per geo x
  period with the time and geo columns and, per channel, its spend column and optionally its
  exposure column (``tv_spend``, ``tv_impressions``), e.g. Meridian's
  ``hypothetical_geo_all_channels.csv``. It may also give the data's revenue-per-KPI column (then
  the plan's values weigh the KPI) and all of the data's control columns (used by the forecast;
  without them the controls sit at their training mean). Other columns are ignored, except a
  ``*_spend`` column of a channel the run does not model, which is an error.
- **long**: one row per geo x period x channel with the time and geo columns, ``channel`` and
  ``spend`` (and optionally ``exposure``).

Every geo x period (x channel) of the horizon needs exactly one row (spend 0 where nothing is
planned); national data have no geo column. Dates must be periods of the data's calendar. Without
a horizon in the config the plan's dates are the horizon; with one, every row must lie inside it.
Bad rows (unknown geos or channels, dates off the calendar or outside the horizon, negative,
missing or non-numeric spend, duplicates, missing cells) raise a DataError naming the file, the
column, the rows and the fix. Spend without exposure becomes exposure at the data's cost per
exposure of the reference weeks (``mmm_geo.optimize.problem``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, NamedTuple, Optional

import numpy as np
import pandas as pd

from mmm_geo import dims
from mmm_geo.config import DataConfig
from mmm_geo.data import validate as v
from mmm_geo.data.load import read_table
from mmm_geo.errors import ConfigError
from mmm_geo.optimize import horizon as hz

LONG = ("channel", "spend")


class Planned(NamedTuple):
    """A validated plan on the run's geos (G), horizon periods (H) and channels (C).

    Attributes:
        source: the file.
        horizon: its horizon (``mmm_geo.optimize.horizon.Horizon``).
        spend: currency, (G, H, C).
        exposure: exposure in the data's units, (G, H, C); NaN where the plan gives none.
        revenue_per_kpi: (G, H), or None when the plan does not give it.
        controls: the controls in the data's units, (G, H, K), or None.
    """

    source: str
    horizon: hz.Horizon
    spend: np.ndarray
    exposure: np.ndarray
    revenue_per_kpi: Optional[np.ndarray]
    controls: Optional[np.ndarray]

    @property
    def name(self) -> str:
        """The file's name without its suffix (labels the plan in tables)."""
        return Path(self.source).stem


def _reject(df: pd.DataFrame, mask, source: str, column: str, problem: str, fix: str) -> None:
    mask = np.asarray(mask, bool)
    if mask.any():
        v.fail(source, column, f"{problem} in {v._rows(np.flatnonzero(mask))}", fix)


def plan_paths(plan) -> List[str]:
    """The config's ``plan`` (a path or a list of paths) as a list."""
    if plan in (None, "", []):
        return []
    paths = [plan] if isinstance(plan, (str, Path)) else list(plan)
    if not all(isinstance(p, (str, Path)) and str(p) for p in paths):
        raise ConfigError(f"plan={plan!r} is not a file or a list of files\n  fix: plan=<file.csv> "
                          "or plan=[a.csv,b.csv]")
    return [str(p) for p in paths]


def _layout_columns(df: pd.DataFrame, cols: DataConfig, long: bool, source: str) -> None:
    need = [cols.time] + ([cols.geo] if cols.geo else [])
    need += list(LONG) if long else [ch.spend for ch in cols.channels.values() if ch.spend]
    missing = [c for c in need if c not in df.columns]
    if missing:
        spend = ", ".join(ch.spend for ch in cols.channels.values() if ch.spend)
        v.fail(source, missing[0], f"missing column{'s' if len(missing) > 1 else ''} "
               f"{', '.join(map(repr, missing))}",
               f"give the data's columns ({cols.time}{', ' + cols.geo if cols.geo else ''}, "
               f"and the spend columns {spend}), or the long layout ({cols.time}, "
               f"{cols.geo + ', ' if cols.geo else ''}channel, spend)")
    if not long:
        known = {ch.spend for ch in cols.channels.values() if ch.spend}
        extra = [c for c in df.columns if str(c).lower().endswith("_spend") and c not in known]
        if extra:
            v.fail(source, extra[0], "the spend of a channel the run does not model (its "
                   f"channels: {', '.join(cols.channels)})",
                   "drop the column, or fit a model with that channel")


def _cells(df: pd.DataFrame, keys: List[str], shape: tuple, source: str, labels) -> None:
    """Every cell of ``shape`` exactly once (duplicates and missing cells are errors)."""
    dup = df.duplicated(keys, keep=False).to_numpy()
    _reject(df, dup, source, ", ".join(keys), "duplicate rows",
            "keep one row per " + " x ".join(keys) + " (add them up or remove the duplicates)")
    count = np.zeros(shape, int)
    np.add.at(count, tuple(df[f"__{k}"].to_numpy() for k in ("g", "h", "c")[:len(shape)]), 1)
    if (count == 0).any():
        cells = np.argwhere(count == 0)
        shown = "; ".join(" ".join(str(lab[i]) for lab, i in zip(labels, cell))
                          for cell in cells[:hz.SHOWN])
        more = f" and {len(cells) - hz.SHOWN} more" if len(cells) > hz.SHOWN else ""
        v.fail(source, None, f"{len(cells)} cells of the horizon have no row ({shown}{more})",
               "add a row for every geo and period of the horizon (spend 0 where nothing is "
               "planned)")


def read_plan(path: str, cols: DataConfig, geos: List[str], channels: List[str],
              times: pd.DatetimeIndex, horizon: Optional[hz.Horizon] = None) -> Planned:
    """Read and validate a plan file against the run (see the module docstring).

    Args:
        path: the file.
        cols: the run's data config (column names).
        geos, channels: the run's geos and channels.
        times: the data's periods (the calendar).
        horizon: the configured horizon, or None (the plan's dates are the horizon).
    """
    source = str(path)
    df = read_table(path, "plan").reset_index(drop=True)
    if not len(df):
        v.fail(source, None, "no rows", "give one row per geo x period of the horizon")
    long = set(LONG) <= set(df.columns) and not any(ch.spend and ch.spend in df.columns
                                                   for ch in cols.channels.values())
    _layout_columns(df, cols, long, source)
    pairs = [(c, cols.channels[c]) for c in channels]
    spend_cols = ["spend"] if long else [ch.spend for _, ch in pairs if ch.spend]   # organic: none
    exp_cols = (["exposure"] if "exposure" in df.columns else []) if long else \
        [ch.exposure for _, ch in pairs if ch.exposure and ch.exposure in df.columns]
    rpk = cols.revenue_per_kpi if cols.revenue_per_kpi in df.columns and not long else None
    ctrl = [c for c in cols.controls if c in df.columns] if not long else []
    if ctrl and len(ctrl) < len(cols.controls):
        absent = [c for c in cols.controls if c not in ctrl]
        v.fail(source, absent[0], "the plan gives some of the data's controls, not all",
               f"add {', '.join(absent)}, or drop the control columns (they then sit at their "
               "mean)")
    df = v.check_numeric(df, list(dict.fromkeys(spend_cols + exp_cols + ([rpk] if rpk else [])
                                                + ctrl)), source)
    v.check_nonnegative(df, spend_cols, source, "spend")
    v.check_nonnegative(df, exp_cols, source, "exposure")
    if rpk:
        v.check_positive(df, [rpk], source, "revenue per KPI")
    stamps = pd.DatetimeIndex(v.parse_times(df, cols.time, source, cols.date_format))
    df[cols.time] = stamps
    cal = hz.calendar(times)
    idx, on = hz.index_of(cal, stamps)
    if (~on).any():
        _reject(df, ~on, source, cols.time, hz.off_calendar(cal, stamps[~on][0]),
                f"date the rows on the data's periods ({hz.describe(cal)})")
    if cols.geo:
        v.check_present(df, cols.geo, source)
        names = df[cols.geo].astype(str)
        bad = ~names.isin(geos).to_numpy()
        _reject(df, bad, source, cols.geo,
                f"unknown geo {names[bad].iloc[0]!r}" if bad.any() else "",
                f"use the run's geos ({', '.join(geos[:10])}{', ...' if len(geos) > 10 else ''})")
        df["__g"] = [geos.index(n) for n in names]
    else:
        df["__g"] = 0
    if long:
        chan = df["channel"].astype(str)
        bad = ~chan.isin(channels).to_numpy()
        _reject(df, bad, source, "channel", f"unknown channel {chan[bad].iloc[0]!r}" if bad.any()
                else "", f"use the run's channels ({', '.join(channels)})")
        df["__c"] = [channels.index(c) for c in chan]
    if horizon is None:
        horizon = hz.from_indices(cal, np.unique(idx), f"{source}, column '{cols.time}'")
    else:
        outside = (idx < horizon.offset) | (idx >= horizon.offset + len(horizon.dates))
        _reject(df, outside, source, cols.time, f"dates outside the horizon "
                f"{horizon.dates[0].date()} .. {horizon.dates[-1].date()}",
                "drop those rows, or give the horizon that the plan covers")
    df["__h"] = idx - horizon.offset
    n_g, n_h, n_c = len(geos) if cols.geo else 1, len(horizon.dates), len(channels)
    keys = [k for k in (cols.geo, cols.time) if k] + (["channel"] if long else [])
    labels = [geos, horizon.labels] + ([channels] if long else [])
    _cells(df, keys, (n_g, n_h, n_c) if long else (n_g, n_h), source, labels)
    gi, hi = df["__g"].to_numpy(), df["__h"].to_numpy()
    spend, exposure = np.zeros((n_g, n_h, n_c)), np.full((n_g, n_h, n_c), np.nan)
    if long:
        ci = df["__c"].to_numpy()
        spend[gi, hi, ci] = df["spend"].to_numpy(float)
        if exp_cols:
            exposure[gi, hi, ci] = df["exposure"].to_numpy(float)
    else:
        for c, (_, ch) in enumerate(pairs):
            if ch.spend:
                spend[gi, hi, c] = df[ch.spend].to_numpy(float)
            if ch.exposure in exp_cols:
                exposure[gi, hi, c] = df[ch.exposure].to_numpy(float)
    rpk_grid = None
    if rpk:
        rpk_grid = np.zeros((n_g, n_h))
        rpk_grid[gi, hi] = df[rpk].to_numpy(float)
    controls = None
    if ctrl:
        controls = np.zeros((n_g, n_h, len(ctrl)))
        controls[gi, hi] = df[ctrl].to_numpy(float)
    return Planned(source, horizon, spend, exposure, rpk_grid, controls)


def run_columns(run) -> DataConfig:
    """The data config (column names) of a loaded run; a simulated run's own columns."""
    from mmm_geo.data.simulate import data_config

    cfg = run.config
    return cfg.data if cfg.data.path is not None else data_config(cfg.simulation)


def load_plan(run, path: str, spec, default_weeks: int, window=()) -> Planned:
    """The plan file ``path`` validated against a loaded run and the horizon of ``spec`` (a
    :class:`~mmm_geo.plan_config.HorizonSpec`) when it gives one."""
    times = pd.DatetimeIndex(run.ds.coords[dims.TIME].values)
    horizon = hz.resolve(spec, times, default_weeks, window) if hz.given(spec, window) else None
    return read_plan(path, run_columns(run), [str(g) for g in run.ds.coords[dims.GEO].values],
                     [str(c) for c in run.ds.coords[dims.CHANNEL].values], times, horizon)


def scaled_exposure(planned: Planned, per_unit: np.ndarray, population: np.ndarray,
                    media_scale: np.ndarray) -> np.ndarray:
    """The plan's scaled exposure (G, H, C): its own exposure where given, else its spend times
    ``per_unit`` (scaled exposure per currency unit, (G, 1 or H, C))."""
    own = planned.exposure / population[:, None, None] / np.asarray(media_scale)[None, None, :]
    return np.where(np.isnan(planned.exposure), planned.spend * per_unit, own)
