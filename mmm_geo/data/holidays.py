"""Holiday indicators from the calendar (``data.holidays``), added to the controls.

A data file rarely carries holiday flags, yet retail KPIs jump in the weeks of Thanksgiving or
Christmas. ``data.holidays: [thanksgiving, christmas]`` (or ``[us]`` for all the US holidays below)
adds one control per holiday, named ``holiday_<name>``: 1 in the period that contains the holiday's
date, 0 elsewhere. The period labelled ``t`` is taken to cover ``[t, t + step)`` (week-start
labels); with week-ending labels the flag lands one period early. Each indicator gets a control coefficient like any control, so its posterior is the
holiday's lift in the KPI (the report's contributions show it over time). A forecast or a
plan of weeks after the data sets each flag from the calendar too (:func:`in_window`).

The dates follow fixed rules (no extra dependency): fixed days (new year, Valentine's, July 4,
Halloween, Christmas), n-th weekdays (Memorial Day, Labor Day, Mother's Day, Thanksgiving and
Cyber Monday after it) and Easter (the Gregorian computus).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable, Dict, List, Sequence

import numpy as np
import pandas as pd

from mmm_geo.errors import DataError

PREFIX = "holiday_"


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (Monday 0) of a month; n = -1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


RULES: Dict[str, Callable[[int], date]] = {
    "new_year": lambda y: date(y, 1, 1),
    "valentines": lambda y: date(y, 2, 14),
    "easter": _easter,
    "mothers_day": lambda y: _nth_weekday(y, 5, 6, 2),
    "memorial_day": lambda y: _nth_weekday(y, 5, 0, -1),
    "independence_day": lambda y: date(y, 7, 4),
    "labor_day": lambda y: _nth_weekday(y, 9, 0, 1),
    "halloween": lambda y: date(y, 10, 31),
    "thanksgiving": lambda y: _nth_weekday(y, 11, 3, 4),
    "cyber_monday": lambda y: _nth_weekday(y, 11, 3, 4) + timedelta(days=4),
    "christmas": lambda y: date(y, 12, 25),
}
SETS = {"us": ["new_year", "memorial_day", "independence_day", "labor_day", "thanksgiving",
               "christmas"]}


def names(requested: Sequence[str]) -> List[str]:
    """The holidays of ``data.holidays`` (set names expanded, order kept, no repeats)."""
    out: List[str] = []
    for name in requested:
        for h in SETS.get(str(name), [str(name)]):
            if h not in RULES:
                raise DataError(f"data.holidays: unknown holiday {h!r}\n  fix: use any of "
                                f"{', '.join(RULES)} or the set {', '.join(SETS)}")
            if h not in out:
                out.append(h)
    return out


def flag(name: str, periods: pd.DatetimeIndex, step: pd.Timedelta) -> np.ndarray:
    """Float (time,): 1 in each period ``[t, t + step)`` that contains holiday ``name``."""
    starts = periods.values
    out = np.zeros(len(periods))
    for year in range(periods[0].year - 1, periods[-1].year + 2):
        day = np.datetime64(pd.Timestamp(RULES[name](year)))
        out[(starts <= day) & (day < starts + step.to_timedelta64())] = 1.0
    return out


def in_window(controls: Sequence[str], weeks: Sequence, step: pd.Timedelta) -> Dict[int, np.ndarray]:
    """For a forecast window after the data: control position -> its holiday flag over ``weeks``,
    for every ``holiday_*`` control (the other controls have no known future value)."""
    periods = pd.DatetimeIndex(pd.to_datetime([str(w) for w in weeks]))
    return {k: flag(c[len(PREFIX):], periods, step) for k, c in enumerate(controls)
            if c.startswith(PREFIX) and c[len(PREFIX):] in RULES}


def indicators(requested: Sequence[str], periods: pd.DatetimeIndex, source: str) -> Dict[str, np.ndarray]:
    """``holiday_<name>``: float (time,) 1 in the period containing the holiday, for each holiday;
    a holiday that falls in no period of the data is an error (its coefficient would be noise)."""
    if not requested:
        return {}
    step = periods[1] - periods[0]
    out = {}
    for h in names(requested):
        marks = flag(h, periods, step)
        if not marks.any():
            raise DataError(f"{source}: data.holidays: {h} falls in no period of the data "
                            f"({periods[0].date()}..{periods[-1].date()})\n  fix: leave it out of data.holidays")
        out[PREFIX + h] = marks
    return out
