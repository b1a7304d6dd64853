"""Checks on the raw table before it becomes an ``xarray.Dataset``.

Each check raises :class:`~mmm_geo.errors.DataError` whose message names the file, the column,
the rows (1-based data rows, the header not counted) and the fix. Nothing is filled in.
"""

from __future__ import annotations

from typing import Iterable, List, Sequence

import numpy as np
import pandas as pd

from mmm_geo.errors import DataError

_MAX_SHOWN = 8


def _rows(index: Iterable[int]) -> str:
    rows = [int(i) + 1 for i in index]
    shown = ", ".join(str(r) for r in rows[:_MAX_SHOWN])
    more = f" and {len(rows) - _MAX_SHOWN} more" if len(rows) > _MAX_SHOWN else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def fail(source: str, column: str | None, problem: str, fix: str) -> None:
    """Raise a DataError in the standard form: where, what, and how to fix it."""
    where = f"{source}, column '{column}'" if column else source
    raise DataError(f"{where}: {problem}\n  fix: {fix}")


def check_columns(df: pd.DataFrame, required: Sequence[tuple[str, str]], source: str) -> None:
    """Every (config key, column) pair must name a column of the table."""
    for key, column in required:
        if column not in df.columns:
            available = ", ".join(map(str, df.columns[:20]))
            fail(source, column, "missing column",
                 f"set {key} to one of the file's columns ({available}) or add the column")


def check_numeric(df: pd.DataFrame, columns: Sequence[str], source: str) -> pd.DataFrame:
    """Parse ``columns`` as numbers; reject text, missing values and infinities."""
    out = df.copy()
    for col in columns:
        raw = df[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad_text = values.isna() & raw.notna() & (raw.astype(str).str.strip().str.lower() != "nan")
        if bad_text.any():
            sample = raw[bad_text].astype(str).iloc[0]
            fail(source, col, f"non-numeric values (e.g. {sample!r}) in {_rows(np.flatnonzero(bad_text))}",
                 "make the column numeric (remove units, currency symbols and thousands separators)")
        missing = values.isna()
        if missing.any():
            fail(source, col, f"missing (NaN) values in {_rows(np.flatnonzero(missing))}",
                 "supply the values; mmm_geo never fills missing data in for you")
        infinite = ~np.isfinite(values.to_numpy(dtype=float))
        if infinite.any():
            fail(source, col, f"infinite values in {_rows(np.flatnonzero(infinite))}",
                 "replace the infinite values with real measurements")
        out[col] = values.astype(float)
    return out


def check_nonnegative(df: pd.DataFrame, columns: Sequence[str], source: str, what: str) -> None:
    """Spend and exposure cannot be negative."""
    for col in columns:
        negative = df[col].to_numpy() < 0
        if negative.any():
            fail(source, col, f"negative {what} in {_rows(np.flatnonzero(negative))}",
                 f"{what} must be >= 0; correct the rows (refunds belong in a control, not in {what})")


def check_positive(df: pd.DataFrame, columns: Sequence[str], source: str, what: str) -> None:
    """Population and revenue per KPI must be strictly positive."""
    for col in columns:
        bad = df[col].to_numpy() <= 0
        if bad.any():
            fail(source, col, f"{what} must be > 0 but is not in {_rows(np.flatnonzero(bad))}",
                 f"correct the {what} values in those rows")


def parse_times(df: pd.DataFrame, column: str, source: str, fmt: str | None) -> pd.Series:
    """Parse the time column; name the rows that are not dates."""
    raw = df[column]
    try:
        times = pd.to_datetime(raw, errors="coerce", format=fmt)
    except (ValueError, TypeError) as err:
        fail(source, column, f"cannot parse dates ({err})", "set data.date_format, e.g. '%Y-%m-%d'")
    bad = times.isna()
    if bad.any():
        fail(source, column, f"unparseable or missing dates in {_rows(np.flatnonzero(bad))}",
             "use ISO dates (YYYY-MM-DD) or set data.date_format")
    return times


def check_panel(df: pd.DataFrame, geo: str, time: str, source: str) -> pd.DatetimeIndex:
    """One row per geo x period; the same regular periods in every geo. Returns the periods."""
    dup = df.duplicated([geo, time], keep=False)
    if dup.any():
        fail(source, f"{geo}, {time}", f"duplicate geo x time rows: {_rows(np.flatnonzero(dup))}",
             "keep one row per geo and period (aggregate or remove the duplicates)")
    ranges = df.groupby(geo, sort=True)[time].agg(["min", "max", "count"])
    if ranges["min"].nunique() > 1 or ranges["max"].nunique() > 1:
        lines = "; ".join(f"{g}: {r['min'].date()}..{r['max'].date()} ({r['count']} periods)"
                          for g, r in ranges.iterrows())
        fail(source, time, f"geos cover different time ranges ({lines})",
             "give every geo the same periods (trim to the common range or supply the missing rows)")
    periods = pd.DatetimeIndex(np.sort(df[time].unique()))
    if len(periods) < 3:
        fail(source, time, f"only {len(periods)} periods", "supply at least a year of weekly data")
    steps = np.diff(periods.values).astype("timedelta64[s]").astype(np.int64)
    step = int(pd.Series(steps).mode().iloc[0])
    irregular = np.flatnonzero(steps != step)
    if irregular.size:
        gaps = ", ".join(f"{periods[i].date()} -> {periods[i + 1].date()}" for i in irregular[:_MAX_SHOWN])
        fail(source, time, f"irregular or missing periods (the usual step is {step // 86400} days; "
             f"breaks at {gaps})", "supply the missing periods; mmm_geo does not fill gaps")
    counts = ranges["count"]
    if (counts != len(periods)).any():
        short = ", ".join(f"{g} ({c} of {len(periods)})" for g, c in counts[counts != len(periods)].items())
        fail(source, time, f"geos with missing periods: {short}",
             "supply a row for every geo in every period")
    return periods


def check_kpi_varies(kpi: np.ndarray, geos: List[str], column: str, source: str) -> None:
    """A constant KPI carries no information about media: refuse it."""
    if np.ptp(kpi) == 0:
        fail(source, column, f"the KPI is constant ({kpi.flat[0]}) in every row",
             "check that data.kpi names the outcome column")
    flat = [g for g, row in zip(geos, kpi) if np.ptp(row) == 0]
    if flat:
        fail(source, column, f"the KPI is constant over time in geo(s) {', '.join(map(str, flat))}",
             "drop those geos or check their KPI values")


def check_spend(spend: np.ndarray, channels: List[str], columns: List[str], source: str) -> None:
    """A channel with zero spend everywhere has no identifiable effect."""
    for c, (name, col) in enumerate(zip(channels, columns)):
        if not np.any(spend[..., c] > 0):
            fail(source, col, f"channel '{name}' has zero spend in every row",
                 f"remove '{name}' from data.channels (it cannot be measured)")


def check_controls(controls: np.ndarray, names: List[str], source: str) -> None:
    """A constant control is collinear with the baseline."""
    for k, name in enumerate(names):
        if np.ptp(controls[..., k]) == 0:
            fail(source, name, "the control is constant in every row",
                 f"remove '{name}' from data.controls (the baseline already covers a constant)")


def check_window(n_periods: int, max_lag: int, source: str) -> None:
    """The adstock window must be shorter than the data, with room to learn the carryover."""
    if n_periods < 2 * max_lag:
        fail(source, None, f"only {n_periods} periods for an adstock window of {max_lag} "
             f"(need at least {2 * max_lag})",
             f"lower model.adstock.max_lag to at most {n_periods // 2} or supply more periods")
