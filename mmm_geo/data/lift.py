"""Lift tests (geo experiments, conversion lift studies) as calibration data.

A lift-test table (CSV or Parquet, ``data.lift_tests``) has one row per experiment:

- ``channel``: a configured channel name;
- ``geo`` (optional column): the geo the test ran in, several joined by ``|``, or ``all``;
  without the column every test covers all geos (national data);
- ``start``, ``end``: the first and last period of the test's spend change (inclusive), in the
  data's time format;
- ``cooldown`` (optional column, default 0): the periods after ``end`` over which the lift was
  still measured (carryover); the lift counts from ``start`` to ``end`` plus ``cooldown`` periods;
- ``lift``: the KPI the test caused over those periods and geos, in the KPI column's units
  (negative when the test removed spend);
- ``lift_se``: its standard error (> 0);
- ``spend`` (optional column): the spend the test changed. A positive number: the recorded spend
  includes that much the test added (a heavy-up). A negative number: the test removed that much, so
  the recorded spend lacks it (a go-dark test). ``all``: the test is the whole recorded spend of
  those cells against none. Without the column every test is ``all``.

The spend change is spread over the test's cells in proportion to their recorded spend (evenly
where none is recorded). The model's lift is its response to the recorded media minus its response
with the change undone, summed over the test's geos and measured periods (carryover after them is
not counted). A test whose measured periods reach into held-out periods is not used by that fit.

On the Dataset the tests become ``lift_channel``, ``lift_measured``, ``lift_se`` (dim
``lift_test``) and ``lift_spend``, ``lift_window`` (``lift_test, geo, time``), so they travel with
the data into the trace and back.
"""

from __future__ import annotations

from typing import Callable, List, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.data import validate as v

REQUIRED = ("channel", "start", "end", "lift", "lift_se")
ALL = "all"
VARS = ("lift_channel", "lift_measured", "lift_se", "lift_spend", "lift_window")


class LiftData(NamedTuple):
    """Lift tests in the model's scaled units (a pytree).

    Attributes:
        channel: channel index of each test, (lift_test,).
        delta: scaled exposure the test added, (lift_test, geo, time).
        weight: population weight of each measured cell, (lift_test, geo, time); the weights of a
            test sum to 1, so ``sum(weight * per-capita scaled effect)`` is the scaled lift.
        y: measured lift, scaled, (lift_test,).
        se: its standard error, scaled, (lift_test,).
    """

    channel: np.ndarray
    delta: np.ndarray
    weight: np.ndarray
    y: np.ndarray
    se: np.ndarray


def _bad(df: pd.DataFrame, mask: np.ndarray, source: str, column: str, problem: str, fix: str) -> None:
    if np.any(mask):
        v.fail(source, column, f"{problem} in {v._rows(np.flatnonzero(mask))}", fix)


def _geo_masks(df: pd.DataFrame, geos: List[str], source: str) -> np.ndarray:
    """(test, geo) booleans from the optional ``geo`` column."""
    if "geo" not in df.columns:
        return np.ones((len(df), len(geos)), bool)
    v.check_present(df, "geo", source)
    masks, unknown = np.zeros((len(df), len(geos)), bool), []
    for i, cell in enumerate(df["geo"].astype(str)):
        names = [name.strip() for name in cell.split("|")]
        if ALL in names:
            masks[i] = True
            continue
        unknown += [(i, n) for n in names if n not in geos]
        masks[i] = np.isin(geos, names)
    if unknown:
        _bad(df, np.isin(np.arange(len(df)), [i for i, _ in unknown]), source, "geo",
             f"unknown geo {unknown[0][1]!r}", f"use the data's geos ({', '.join(geos[:10])}), "
             f"several joined by '|', or '{ALL}'")
    return masks


def _cooldown(df: pd.DataFrame, source: str) -> np.ndarray:
    """Measured periods after ``end`` (the optional ``cooldown`` column; 0 without it)."""
    if "cooldown" not in df.columns:
        return np.zeros(len(df), int)
    values = v.check_numeric(df, ["cooldown"], source)["cooldown"].to_numpy(float)
    _bad(df, (values < 0) | (values != np.round(values)), source, "cooldown",
         "not a whole number of periods >= 0", "give the periods measured after end, e.g. 4")
    return values.astype(int)


def _spend_change(df: pd.DataFrame, recorded: np.ndarray, source: str) -> np.ndarray:
    """Per-test spend change from the optional ``spend`` column; NaN stands for ``all``."""
    if "spend" not in df.columns:
        return np.full(len(df), np.nan)
    text = df["spend"].astype(str).str.strip().str.lower()
    is_all = (text == ALL).to_numpy()
    values = pd.to_numeric(df["spend"].where(~is_all), errors="coerce").to_numpy(float)
    _bad(df, ~is_all & ~np.isfinite(values), source, "spend", "not a number or 'all'",
         "give the spend the test changed (+ added, - removed) or 'all'")
    _bad(df, values == 0, source, "spend", "zero spend change",
         "a test that changed no spend calibrates nothing; remove the row")
    _bad(df, values > recorded * (1 + 1e-9), source, "spend",
         "more spend added than the data record in the test's geos and periods",
         "a heavy-up's added spend is part of the recorded spend; check the rows' geos, periods "
         "and amount")
    _bad(df, is_all & (recorded <= 0), source, "spend",
         "'all' but no spend is recorded in the test's geos and periods",
         "give the spend the test removed as a negative number")
    return np.where(is_all, np.nan, values)


def with_lift_tests(ds: xr.Dataset, df: pd.DataFrame, source: str, date_format=None) -> xr.Dataset:
    """Validate a lift-test table against ``ds`` and add it to the Dataset (module docstring)."""
    if len(df) == 0:
        v.fail(source, None, "no lift tests in the file", "add rows or unset data.lift_tests")
    df = df.reset_index(drop=True)
    v.check_columns(df, [(f"lift test column '{c}'", c) for c in REQUIRED], source)
    channels = [str(c) for c in ds[dims.CHANNEL].values]
    unknown = ~df["channel"].astype(str).isin(channels).to_numpy()
    _bad(df, unknown, source, "channel", f"unknown channel {df['channel'][unknown].iloc[0]!r}"
         if unknown.any() else "", f"use one of the configured channels: {', '.join(channels)}")
    df = v.check_numeric(df, ["lift", "lift_se"], source)
    v.check_positive(df, ["lift_se"], source, "lift standard error")
    periods = pd.DatetimeIndex(ds[dims.TIME].values)
    start = v.parse_times(df, "start", source, date_format).to_numpy()
    end = v.parse_times(df, "end", source, date_format).to_numpy()
    _bad(df, start > end, source, "start, end", "start after end", "swap or correct the dates")
    outside = (start < periods[0]) | (end > periods[-1])
    _bad(df, outside, source, "start, end", f"periods outside the data ({periods[0].date()} to "
         f"{periods[-1].date()})", "give periods the data cover")
    in_window = (periods.values[None, :] >= start[:, None]) & (periods.values[None, :] <= end[:, None])
    _bad(df, ~in_window.any(1), source, "start, end", "no data period between start and end",
         "widen the window to include at least one period")
    cool = _cooldown(df, source)
    last = in_window.shape[1] - 1 - np.argmax(in_window[:, ::-1], 1)          # last spend period
    _bad(df, last + cool >= len(periods), source, "cooldown", "measured periods run past the data",
         "shorten the cooldown or drop the test")
    idx = np.arange(len(periods))[None, :]
    measured = in_window | ((idx > last[:, None]) & (idx <= (last + cool)[:, None]))
    geo_mask = _geo_masks(df, [str(g) for g in ds[dims.GEO].values], source)
    window = geo_mask[:, :, None] & in_window[:, None, :]                     # (test, geo, time)
    chan = np.asarray([channels.index(str(c)) for c in df["channel"]])
    cell_spend = np.moveaxis(ds["spend"].values[..., chan], -1, 0) * window   # (test, geo, time)
    recorded = cell_spend.sum((1, 2))
    change = _spend_change(df, recorded, source)
    share = np.where(recorded[:, None, None] > 0, cell_spend / np.maximum(recorded, 1e-300)[:, None, None],
                     window / window.sum((1, 2), keepdims=True))
    spend = np.where(np.isnan(change), recorded, change)[:, None, None] * share
    test, gt = [dims.LIFT_TEST], [dims.LIFT_TEST, dims.GEO, dims.TIME]
    return ds.assign(lift_channel=(test, chan), lift_measured=(test, df["lift"].to_numpy(float)),
                     lift_se=(test, df["lift_se"].to_numpy(float)), lift_spend=(gt, spend),
                     lift_window=(gt, (geo_mask[:, :, None] & measured[:, None, :]).astype(float)))


def lift_data(ds: xr.Dataset, exposure: Callable[[np.ndarray], np.ndarray], kpi_scale: float,
              train: np.ndarray, dtype=np.float32, seen: int = 0):
    """:class:`LiftData` of the tests measured within the ``train`` periods (bool (time,)), less
    those measured only in the first ``seen`` (already in a refresh's priors), or None.

    ``exposure(spend)`` maps spend (..., geo, time, channel) to the model's scaled exposure.
    """
    if "lift_channel" not in ds:
        return None
    window = ds["lift_window"].values
    keep = ~window[:, :, ~np.asarray(train, bool)].any((1, 2)) & window[:, :, seen:].any((1, 2))
    if not keep.any():
        return None
    chan, window = ds["lift_channel"].values[keep], window[keep]
    n_channel = ds.sizes[dims.CHANNEL]
    one_hot = np.eye(n_channel)[chan][:, None, None, :]                      # (test, 1, 1, channel)
    delta = (exposure(ds["lift_spend"].values[keep][..., None] * one_hot) * one_hot).sum(-1)
    pop_cells = window * ds["population"].values[None, :, None]
    norm = lift_kpi_units(ds, kpi_scale)[keep]
    return LiftData(chan.astype(np.int32), delta.astype(dtype),
                    (pop_cells / pop_cells.sum((1, 2), keepdims=True)).astype(dtype),
                    (ds["lift_measured"].values[keep] / norm).astype(dtype),
                    (ds["lift_se"].values[keep] / norm).astype(dtype))


def lift_kpi_units(ds: xr.Dataset, kpi_scale: float) -> np.ndarray:
    """Factor from the scaled lift of each test to the KPI's units, (lift_test,)."""
    pop_cells = ds["lift_window"].values * ds["population"].values[None, :, None]
    return kpi_scale * pop_cells.sum((1, 2))
