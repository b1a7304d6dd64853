"""Checks on the raw table before it becomes an ``xarray.Dataset``.

Each check raises :class:`~mmm_geo.errors.DataError` whose message names the file, the column,
the rows (1-based data rows, the header not counted) and the fix. Nothing is filled in.
"""

from __future__ import annotations

import warnings
from typing import Iterable, List, Sequence

import numpy as np
import pandas as pd

from mmm_geo.errors import DataError

_MAX_SHOWN = 8
LARGEST = 1e15   # |value| above this is an error: sums and ratios of it overflow float32


def _rows(index: Iterable[int]) -> str:
    """'rows 3, 7-9 and 12 more' from 0-based positions (shown 1-based; runs collapsed)."""
    rows = sorted({int(i) + 1 for i in index})
    runs: List[List[int]] = []
    for r in rows:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:_MAX_SHOWN])
    rest = sum(b - a + 1 for a, b in runs[_MAX_SHOWN:])
    more = f" and {rest} more" if rest else ""
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
    """Parse ``columns`` as numbers; reject text, missing values, infinities and values beyond
    ``LARGEST``."""
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
        huge = np.abs(values.to_numpy(dtype=float)) > LARGEST
        if huge.any():
            fail(source, col, f"values beyond {LARGEST:g} in magnitude (e.g. {values[huge].iloc[0]:g}) "
                 f"in {_rows(np.flatnonzero(huge))}",
                 "correct them (a unit or decimal error?), or give the column in larger units "
                 "(thousands, millions): the model works on ratios, so the units do not matter")
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
            fail(source, col, f"{what} must be > 0 but is zero or negative in {_rows(np.flatnonzero(bad))}",
                 f"correct those rows (every {what} must be a positive number)")


def check_frequency(df: pd.DataFrame, column: str, exposure: str, source: str) -> list:
    """A reach & frequency channel's frequency is above 0 in every row with impressions (else the
    reach, impressions / frequency, is undefined) and never negative. Returns a warning naming
    the rows with impressions whose frequency is below 1 (more people reached than impressions:
    usually noise in a reach estimate; they are kept as recorded)."""
    freq, expo = df[column].to_numpy(), df[exposure].to_numpy()
    bad = (freq < 0) | ((expo > 0) & (freq <= 0))
    if bad.any():
        fail(source, column, f"frequency must be > 0 where {exposure} is above 0 (and never "
             f"negative) but is not in {_rows(np.flatnonzero(bad))}",
             "correct those rows: frequency = impressions / reach, the average exposures per "
             "person reached")
    low = np.flatnonzero((expo > 0) & (freq < 1))
    return [f"{source}, column '{column}': frequency below 1 (reach above impressions) in "
            f"{_rows(low)}; kept as recorded"] if len(low) else []


def check_present(df: pd.DataFrame, column: str, source: str) -> None:
    """A label column (the geo) must have a value in every row: a blank would become a geo of its own."""
    missing = df[column].isna().to_numpy() | (df[column].astype(str).str.strip() == "").to_numpy()
    if missing.any():
        fail(source, column, f"missing values in {_rows(np.flatnonzero(missing))}",
             "fill in the geo of those rows (or remove them); mmm_geo never guesses it")


def parse_times(df: pd.DataFrame, column: str, source: str, fmt: str | None) -> pd.Series:
    """Parse the time column; name the rows that are not dates. Dates with a time zone keep their
    local date and time (the zone is dropped)."""
    raw = df[column]
    try:
        with warnings.catch_warnings():      # "could not infer format": each date parsed alone
            warnings.simplefilter("ignore", UserWarning)
            times = pd.to_datetime(raw, errors="coerce", format=fmt)
    except (ValueError, TypeError) as err:
        fail(source, column, f"cannot parse dates ({err})", "set data.date_format, e.g. '%Y-%m-%d'")
    bad = times.isna()
    if bad.any():
        fail(source, column, f"unparseable or missing dates in {_rows(np.flatnonzero(bad))}",
             "use ISO dates (YYYY-MM-DD) or set data.date_format")
    if not pd.api.types.is_datetime64_any_dtype(times):
        fail(source, column, "dates with different time zones or of mixed types",
             "give every date in one form, e.g. ISO dates (YYYY-MM-DD) without a time zone")
    return times.dt.tz_localize(None) if times.dt.tz is not None else times   # the local dates


def _calendar_regular(periods: pd.DatetimeIndex) -> bool:
    """Whole-month steps (monthly, quarterly) on the same day or all on month ends: regular."""
    months = np.diff(periods.year * 12 + periods.month)
    same_day = periods.day.nunique() == 1 or bool(periods.is_month_end.all())
    return bool(same_day and months[0] > 0 and np.all(months == months[0]))


def drop_geos(df: pd.DataFrame, geo: str, names: Sequence[str], source: str) -> pd.DataFrame:
    """``df`` without the rows of the geos ``names`` (``data.exclude_geos``); each must be a geo
    of the data, and at least one geo must remain. The index (data rows) is kept."""
    if not names:
        return df
    present = set(df[geo])
    unknown = [str(g) for g in names if str(g) not in present]
    if unknown:
        fail(source, geo, f"data.exclude_geos names {', '.join(unknown)}, not a geo of the data "
             f"(geos: {', '.join(sorted(present)[:_MAX_SHOWN])}{' ...' if len(present) > _MAX_SHOWN else ''})",
             "name geos exactly as the geo column writes them")
    keep = ~df[geo].isin([str(g) for g in names])
    if not keep.any():
        fail(source, geo, "data.exclude_geos names every geo", "exclude only the geos that are wrong")
    return df[keep]


def check_panel(df: pd.DataFrame, geo: str, time: str, source: str) -> pd.DatetimeIndex:
    """One row per geo x period; the same regular periods in every geo. Returns the periods.

    ``df``'s index holds the data row positions (0-based), which the messages report.
    """
    dup = df.duplicated([geo, time], keep=False).to_numpy()
    if dup.any():
        where = sorted(df.loc[dup, geo].astype(str).unique())
        fail(source, f"{geo}, {time}", f"duplicate geo x time rows: {_rows(df.index[dup])} "
             f"(geo{'s' if len(where) > 1 else ''} {', '.join(where[:_MAX_SHOWN])})",
             "keep one row per geo and period (aggregate or remove the duplicates), or leave the "
             f"geo out with data.exclude_geos=[{','.join(where[:_MAX_SHOWN])}]")
    ranges = df.groupby(geo, sort=True)[time].agg(["min", "max", "count"])
    if ranges["min"].nunique() > 1 or ranges["max"].nunique() > 1:
        lines = "; ".join(f"{g}: {r['min'].date()}..{r['max'].date()} ({r['count']} periods)"
                          for g, r in ranges.iterrows())
        outside = (df[time] < ranges["min"].max()) | (df[time] > ranges["max"].min())
        fail(source, time, f"geos cover different time ranges ({lines}); "
             f"{_rows(df.index[outside.to_numpy()])} lie outside the range common to all geos",
             "give every geo the same periods (trim to the common range or supply the missing rows)")
    periods = pd.DatetimeIndex(np.sort(df[time].unique()))
    if len(periods) < 3:
        fail(source, time, f"only {len(periods)} periods", "supply at least a year of weekly data")
    steps = np.diff(periods.values).astype("timedelta64[s]").astype(np.int64)
    step = int(pd.Series(steps).mode().iloc[0])
    irregular = np.flatnonzero(steps != step)
    if irregular.size and not _calendar_regular(periods):
        gaps = ", ".join(f"{periods[i].date()} -> {periods[i + 1].date()}" for i in irregular[:_MAX_SHOWN])
        after = df[time].isin(periods[irregular + 1]).to_numpy()
        fail(source, time, f"irregular or missing periods (the usual step is {step / 86400:g} days; "
             f"breaks at {gaps}; the periods after the breaks are in {_rows(df.index[after])})",
             "supply the missing periods or correct the dates; mmm_geo does not fill gaps")
    counts = ranges["count"]
    if (counts != len(periods)).any():
        short = "; ".join(
            f"{g} lacks {', '.join(str(d.date()) for d in periods.difference(df.loc[df[geo] == g, time])[:4])}"
            f" ({c} of {len(periods)} periods)" for g, c in counts[counts != len(periods)].items())
        fail(source, time, f"geos with missing periods: {short}",
             "supply a row for every geo in every period; mmm_geo does not fill gaps")
    return periods


def _geo_rows(rows: np.ndarray | None, mask: np.ndarray) -> str:
    """' (rows ...)' for the (geo, time) cells selected by ``mask``; '' when rows are unknown."""
    return f" ({_rows(rows[mask])})" if rows is not None else ""


def check_kpi_varies(kpi: np.ndarray, geos: List[str], column: str, source: str,
                     rows: np.ndarray | None = None) -> None:
    """A constant KPI carries no information about media: refuse it.

    ``rows`` (geo, time) holds the 0-based data row of each cell, for the message.
    """
    if np.ptp(kpi) == 0:
        fail(source, column, f"the KPI is constant ({kpi.flat[0]:g}) in every row",
             "check that data.kpi names the outcome column")
    flat = np.array([np.ptp(row) == 0 for row in kpi])
    if flat.any():
        names = ", ".join(str(g) for g, f in zip(geos, flat) if f)
        fail(source, column, f"the KPI is constant over time in geo(s) {names}"
             f"{_geo_rows(rows, np.broadcast_to(flat[:, None], kpi.shape))}",
             "drop those geos or check their KPI values")


def check_spend(spend: np.ndarray, channels: List[str], columns: List[str], source: str,
                what: str = "spend") -> None:
    """A channel with zero spend (or exposure) everywhere has no identifiable effect."""
    for c, (name, col) in enumerate(zip(channels, columns)):
        if not np.any(spend[..., c] > 0):
            fail(source, col, f"channel '{name}' has zero {what} in every row",
                 f"remove '{name}' from data.channels (it cannot be measured) or correct the column")


def check_controls(controls: np.ndarray, names: List[str], source: str) -> None:
    """A constant control is collinear with the baseline."""
    for k, name in enumerate(names):
        if np.ptp(controls[..., k]) == 0:
            fail(source, name, f"the control is constant ({controls.flat[k]:g}) in every row",
                 f"remove '{name}' from data.controls (the baseline already covers a constant)")


def check_constant_per_geo(values: np.ndarray, geos: List[str], column: str, source: str,
                           rows: np.ndarray | None = None) -> np.ndarray:
    """One value per geo (population); returns it. Names the rows that differ from the geo's first."""
    differs = values != values[:, :1]
    if differs.any():
        names = ", ".join(str(g) for g, d in zip(geos, differs.any(axis=1)) if d)
        fail(source, column, f"the value changes over time in geo(s) {names}{_geo_rows(rows, differs)}",
             "give one value per geo in every row (e.g. the geo's average population)")
    return values[:, 0]


def check_window(n_periods: int, max_lag: int, source: str) -> None:
    """The adstock window must be shorter than the data, with room to learn the carryover."""
    if n_periods < 2 * max_lag:
        fail(source, None, f"only {n_periods} periods for an adstock window of model.adstock.max_lag="
             f"{max_lag} (need at least {2 * max_lag} periods)",
             f"lower model.adstock.max_lag to at most {max(n_periods // 2, 1)} or supply more periods")
