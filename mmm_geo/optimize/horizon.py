"""The horizon of a plan in the data's calendar: dates, not offsets.

The data's periods define a calendar (:func:`calendar`): a fixed step in days (weekly data: 7
days, so every period falls on the same weekday) or in whole months (monthly or quarterly data, on
the same day of the month or on month ends). Every date on it has an index: 0 at the data's first
period, ``n`` right after its last one. A future period's index is where the model's seasonality
and trend are evaluated (``mmm_geo.forecast``), exactly as the fit evaluated them at its periods.

A horizon (:func:`resolve`) is given by ``start`` and ``weeks``, by a calendar ``period`` (2027Q1,
2027-03 or 2027: the calendar's periods whose date lies inside it), by explicit ``dates``
(consecutive periods), by a historical ``window`` [first, last], or by nothing (the ``weeks``
periods right after the data). It lies entirely after the data (a future plan) or entirely inside
it (a historical window, re-planned with what really happened around it). A date off the
calendar, a horizon that straddles the data's end or starts before the data is a ConfigError
naming the dates and the fix. Periods between the data's end and a later future horizon carry no
spend: only the data's own last periods carry over into it.
"""

from __future__ import annotations

from typing import List, NamedTuple, Sequence

import numpy as np
import pandas as pd

from mmm_geo.errors import ConfigError

AVG_MONTH_DAYS = 30.436875
SHOWN = 6


class Calendar(NamedTuple):
    """The data's periods as a calendar: ``days`` per step, or ``months`` per step (0 otherwise)."""

    first: pd.Timestamp
    n: int
    days: int
    months: int
    month_end: bool


class Horizon(NamedTuple):
    """The horizon's ``dates`` (H,), the index of its first period on the data's calendar
    (``offset``; the data's length for the periods right after it) and whether it lies inside
    the data (``historical``)."""

    dates: pd.DatetimeIndex
    offset: int
    historical: bool

    @property
    def labels(self) -> np.ndarray:
        """The dates as ``YYYY-MM-DD`` strings."""
        return np.asarray(self.dates.strftime("%Y-%m-%d"))


def _fail(problem: str, fix: str) -> None:
    raise ConfigError(f"{problem}\n  fix: {fix}")


def calendar(times: Sequence) -> Calendar:
    """The calendar of the data's (validated, regular) periods."""
    times = pd.DatetimeIndex(times)
    steps = np.unique(np.diff(times.values))
    day = np.timedelta64(1, "D")
    if len(steps) == 1 and steps[0] % day == np.timedelta64(0, "ns"):
        return Calendar(times[0], len(times), int(steps[0] // day), 0, False)
    months = int(np.diff(times.year * 12 + times.month)[0])
    return Calendar(times[0], len(times), 0, months, bool(times.is_month_end.all()))


def describe(cal: Calendar) -> str:
    """The calendar in words, e.g. 'weekly, on Mondays'."""
    if cal.days == 7:
        return f"weekly, on {cal.first.day_name()}s"
    if cal.days:
        return f"every {cal.days} day{'s' if cal.days > 1 else ''}"
    what = "monthly" if cal.months == 1 else f"every {cal.months} months"
    return f"{what}, on {'month ends' if cal.month_end else f'day {cal.first.day} of the month'}"


def date_at(cal: Calendar, idx: np.ndarray) -> pd.DatetimeIndex:
    """The dates of calendar indices ``idx`` (any integers, also before or after the data)."""
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    if cal.days:
        return pd.DatetimeIndex(cal.first + pd.to_timedelta(idx * cal.days, unit="D"))
    out = [cal.first + pd.DateOffset(months=int(k * cal.months)) for k in idx]
    return pd.DatetimeIndex([d + pd.offsets.MonthEnd(0) if cal.month_end else d for d in out])


def _floor_index(cal: Calendar, stamps: pd.DatetimeIndex) -> np.ndarray:
    """The index of the last calendar period on or before each date."""
    step = cal.days or cal.months * AVG_MONTH_DAYS
    guess = np.floor(((stamps - cal.first) / pd.Timedelta(days=1)) / step).astype(np.int64)
    out = np.asarray(guess)
    for _ in range(3):   # month lengths vary: correct the estimate by whole steps
        out = np.where(date_at(cal, out).values > stamps.values, out - 1, out)
        nxt = out + 1
        out = np.where(date_at(cal, nxt).values <= stamps.values, nxt, out)
    return out


def index_of(cal: Calendar, stamps: Sequence) -> tuple:
    """Calendar index of each date and whether the date is a period of the calendar."""
    stamps = pd.DatetimeIndex(stamps)
    idx = _floor_index(cal, stamps)
    return idx, np.asarray(date_at(cal, idx) == stamps)


def off_calendar(cal: Calendar, stamp: pd.Timestamp) -> str:
    """Why ``stamp`` is not a period and the nearest ones, for an error message."""
    k = int(_floor_index(cal, pd.DatetimeIndex([stamp]))[0])
    near = date_at(cal, [k, k + 1])
    day = f" (a {stamp.day_name()})" if cal.days == 7 else ""
    return (f"{stamp.date()}{day} is not a period of the data's calendar ({describe(cal)}, first "
            f"period {cal.first.date()}); the nearest periods are {near[0].date()} and "
            f"{near[1].date()}")


def _parse(text, key: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(str(text))
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        _fail(f"{key}={text!r} is not a date", f"write it as YYYY-MM-DD, e.g. {key}=2027-01-04")
    return stamp


def _place(cal: Calendar, texts: Sequence, key: str) -> np.ndarray:
    stamps = pd.DatetimeIndex([_parse(t, key) for t in texts])
    idx, ok = index_of(cal, stamps)
    if not ok.all():
        stamp = stamps[~ok][0]
        k = int(_floor_index(cal, pd.DatetimeIndex([stamp]))[0])
        _fail(f"{key}: {off_calendar(cal, stamp)}",
              f"use {date_at(cal, [k])[0].date()} or {date_at(cal, [k + 1])[0].date()}")
    return idx


def _in_period(cal: Calendar, text) -> np.ndarray:
    """Calendar indices whose date lies inside the calendar period ``text`` (2027Q1, 2027-03)."""
    try:
        period = pd.Period(str(text))
    except (ValueError, TypeError):
        period = None
    if period is None:
        _fail(f"period={text!r} is not a calendar period",
              "give a quarter (period=2027Q1), a month (period=2027-03) or a year (period=2027)")
    lo, hi = period.start_time, period.end_time
    k0 = int(_floor_index(cal, pd.DatetimeIndex([lo]))[0])
    k1 = int(_floor_index(cal, pd.DatetimeIndex([hi]))[0])
    idx = np.arange(k0, k1 + 1)
    dates = date_at(cal, idx)
    idx = idx[(dates >= lo) & (dates <= hi)]
    if not len(idx):
        _fail(f"period={text} ({lo.date()} .. {hi.date()}) holds no period of the data's calendar "
              f"({describe(cal)})", "give a longer period, or start= with weeks=")
    return idx


def _window(cal: Calendar, window: List[str]) -> np.ndarray:
    """The historical ``window`` [first, last] (dates of the data, inclusive) as indices."""
    if len(window) != 2:
        _fail(f"window={list(window)} must be [first_week, last_week]",
              "give window=[2024-01-01,2024-03-25] (inclusive), or no window for a future horizon")
    idx = []
    for text in window:
        try:
            stamp = pd.Timestamp(str(text))
        except (ValueError, TypeError):
            stamp = pd.NaT
        k, ok = index_of(cal, [stamp]) if not pd.isna(stamp) else ([0], [False])
        if not (ok[0] and 0 <= k[0] < cal.n):
            last = date_at(cal, [cal.n - 1])[0]
            _fail(f"window week {text!r} is not a week of the data ({cal.first.date()} .. "
                  f"{last.date()})", "use dates that appear in the data's time column")
        idx.append(int(k[0]))
    if idx[1] < idx[0]:
        _fail(f"window {list(window)} ends before it starts", "give [first_week, last_week]")
    return np.arange(idx[0], idx[1] + 1)


def from_indices(cal: Calendar, idx: np.ndarray, what: str) -> Horizon:
    """A :class:`Horizon` of calendar indices: consecutive, after the data or inside it."""
    idx = np.asarray(idx, dtype=np.int64)
    dates = date_at(cal, np.sort(idx))
    if len(np.unique(idx)) != len(idx):
        _fail(f"{what}: a period appears twice", "give each period once")
    idx = np.sort(idx)
    missing = np.setdiff1d(np.arange(idx[0], idx[-1] + 1), idx)
    if missing.size:
        shown = ", ".join(str(d.date()) for d in date_at(cal, missing[:SHOWN]))
        _fail(f"{what}: the periods are not consecutive (missing {shown}"
              f"{' and more' if missing.size > SHOWN else ''})",
              "give consecutive periods; plan a gap as periods with zero spend")
    last = date_at(cal, [cal.n - 1])[0]
    if idx[0] < 0:
        _fail(f"{what}: {dates[0].date()} is before the data's first period "
              f"{cal.first.date()}",
              "plan periods the data cover (a historical window) or after them")
    if idx[0] < cal.n <= idx[-1]:
        _fail(f"{what}: {dates[0].date()} .. {dates[-1].date()} straddles the data's last period "
              f"{last.date()}", f"start a future horizon after {last.date()} (the next period is "
              f"{date_at(cal, [cal.n])[0].date()}), or keep a historical window inside the data")
    return Horizon(dates, int(idx[0]), bool(idx[-1] < cal.n))


def given(spec, window: Sequence = ()) -> List[str]:
    """The keys that give the horizon (start, period, dates, window)."""
    keys = (("start", spec.start), ("period", spec.period), ("dates", list(spec.dates)),
            ("window", list(window)))
    return [k for k, v in keys if v not in (None, "", [])]


def resolve(spec, times: Sequence, default_weeks: int, window: Sequence = ()) -> Horizon:
    """The horizon of a :class:`~mmm_geo.plan_config.HorizonSpec` on the data's ``times``.

    Args:
        spec: the config (start, weeks, period, dates).
        times: the data's periods.
        default_weeks: the horizon's length when ``spec.weeks`` is null.
        window: a historical [first, last] window (optimize's ``window``).
    """
    cal = calendar(times)
    keys = given(spec, window)
    if len(keys) > 1:
        _fail(f"{' and '.join(keys)} both give the horizon",
              "give one of start= (with weeks=), period=, dates= or window=")
    weeks = default_weeks if spec.weeks is None else int(spec.weeks)
    if spec.weeks is not None and keys and keys[0] != "start":
        _fail(f"weeks={spec.weeks} goes with start= (or alone, for the weeks after the data), "
              f"not with {keys[0]}=", f"drop weeks= or give start= instead of {keys[0]}=")
    if weeks < 1:
        _fail(f"weeks={weeks} is out of range", "use weeks >= 1")
    if not keys:
        return from_indices(cal, np.arange(cal.n, cal.n + weeks), "horizon")
    key = keys[0]
    if key == "start":
        idx = _place(cal, [spec.start], "start")[0] + np.arange(weeks)
    elif key == "period":
        idx = _in_period(cal, spec.period)
    elif key == "dates":
        idx = _place(cal, list(spec.dates), "dates")
    else:
        idx = _window(cal, list(window))
    return from_indices(cal, idx, f"{key}={spec.period}" if key == "period" else key)
