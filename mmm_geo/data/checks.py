"""Checks on a panel that validation alone does not make: the sign of the KPI, outlier weeks,
collinear channels, and the periods a user excludes (``data.exclude``).

A negative KPI and an unknown excluded date are errors (:class:`~mmm_geo.errors.DataError`);
outlier weeks and collinear channels are warnings: each is a message (what, where and what to do)
returned by a pure function, shown on stderr by :func:`show` as ``mmm-geo: warning: ...`` (the
project's warning path) and listed in the run's ``metrics.json`` under ``data_warnings``.
"""

from __future__ import annotations

import sys
from typing import List, Sequence

import numpy as np
import pandas as pd

from mmm_geo.data.validate import _rows, fail
from mmm_geo.errors import ConfigError

OUTLIER_Z = 3.5          # |robust z| above which a week can be an outlier (Iglewicz and Hoaglin)
OUTLIER_FACTOR = 10.0    # ... when it is also this many times above or below its geo's median
COLLINEAR = 0.95         # |correlation| above which two channels are reported as collinear
NEGATIVE_OK = ("normal", "student_t")   # likelihoods that allow a negative KPI
_MAX_SHOWN = 8


def excluded_periods(dates: Sequence[str], periods: pd.DatetimeIndex, source: str) -> np.ndarray:
    """Bool (time,): the periods named in ``data.exclude``; each must be a period of the data."""
    mask = np.zeros(len(periods), bool)
    for raw in dates:
        try:
            day = pd.Timestamp(str(raw))
        except (ValueError, TypeError):
            day = pd.NaT
        if day is pd.NaT or pd.isna(day):
            fail(source, None, f"data.exclude: {raw!r} is not a date",
                 "give ISO dates of the data's periods, e.g. data.exclude=[2023-09-24]")
        hit = np.flatnonzero(periods == day)
        if not hit.size:
            near = periods[np.argsort(np.abs((periods - day).days))[:2]].sort_values()
            fail(source, None, f"data.exclude: {day.date()} is not a period of the data (periods run "
                 f"{periods[0].date()}..{periods[-1].date()}; the nearest are "
                 f"{', '.join(str(p.date()) for p in near)})",
                 "give the date of a period exactly as it is in the time column")
        mask[hit] = True
    if mask.all():
        fail(source, None, "data.exclude names every period", "exclude only the periods that are wrong")
    return mask


def check_kpi_sign(kpi: np.ndarray, rows: np.ndarray, excluded: np.ndarray, column: str, source: str,
                   allow: bool) -> None:
    """A KPI below zero (in a period that is not excluded) is an error unless ``allow``."""
    negative = (kpi < 0) & ~excluded[None, :]
    if negative.any() and not allow:
        fail(source, column, f"negative KPI values ({kpi[negative].min():g} the lowest) in "
             f"{_rows(rows[negative])}",
             "correct those rows (revenue, sales and conversions cannot be negative); exclude the "
             "periods with data.exclude=[<date>,...]; or, for a KPI that can be negative (profit), "
             "set data.allow_negative_kpi=true with model.likelihood=normal or student_t")


def check_negative_allowed(allow: bool, likelihood: str) -> None:
    """``data.allow_negative_kpi`` only goes with a likelihood that has negative values."""
    if allow and likelihood not in NEGATIVE_OK:
        raise ConfigError(f"data.allow_negative_kpi=true with model.likelihood={likelihood}, which "
                          "has no negative values\n  fix: use model.likelihood=normal or student_t, "
                          "or set data.allow_negative_kpi=false")


def robust_z(x: np.ndarray) -> np.ndarray:
    """Modified z-score 0.6745 (x - median) / MAD of a 1-d array (0 where the MAD is 0)."""
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    return np.zeros_like(x) if mad == 0 else 0.6745 * (x - med) / mad


def outlier_weeks(kpi: np.ndarray, geos: Sequence[str], periods: pd.DatetimeIndex,
                  excluded: np.ndarray, column: str, source: str) -> List[str]:
    """A warning naming the weeks whose KPI is far from its geo's typical value, if any.

    Per geo, the robust z-score (median and MAD over the periods not excluded) of the log KPI when
    the KPI is positive everywhere (a drop to a tenth counts as much as a rise tenfold), else of
    the KPI; a week is an outlier when ``|z| > OUTLIER_Z`` and it is ``OUTLIER_FACTOR`` times above
    or below the median (positive KPI), or that many medians away from it (else). The factor keeps
    the seasonal peaks and dark weeks of clean panels out: in the simulated panels and the
    Meridian, PyMC and jellypop files, weeks past the z threshold are at most 7.6 times off.
    """
    keep = np.flatnonzero(~excluded)
    found = []                                    # (geo, date, value, typical)
    for g, series in enumerate(kpi):
        x, med = series[keep], float(np.median(series[keep]))
        if np.all(x > 0):
            z, far = robust_z(np.log(x)), np.abs(np.log(x / med)) > np.log(OUTLIER_FACTOR)
        else:
            z, far = robust_z(x), np.abs(x - med) > OUTLIER_FACTOR * abs(med)
        for t in keep[(np.abs(z) > OUTLIER_Z) & far]:
            found.append((geos[g], periods[t], series[t], med))
    if not found:
        return []
    lines = "; ".join(f"{g} {d.date()}: {v:,.6g} (typical {m:,.6g})" for g, d, v, m in found[:_MAX_SHOWN])
    more = f"; and {len(found) - _MAX_SHOWN} more" if len(found) > _MAX_SHOWN else ""
    days = ",".join(sorted({str(d.date()) for _, d, _, _ in found}))
    return [f"{source}, column '{column}': {len(found)} outlier week(s), |robust z| > {OUTLIER_Z} "
            f"and over {OUTLIER_FACTOR:g} times off the geo's median: {lines}{more}. If they are errors (a tracking outage, a "
            f"partial week), correct them or leave them out of the fit with data.exclude=[{days}]"]


def collinear_channels(exposure: np.ndarray, channels: Sequence[str], excluded: np.ndarray,
                       source: str) -> List[str]:
    """A warning for each pair of channels whose exposure (spend where none is given) is
    correlated above ``COLLINEAR`` in absolute value, pooled over geos (each geo's series
    standardised first, so geo size alone does not correlate them)."""
    x = exposure[:, ~excluded, :]
    sd = x.std(axis=1, keepdims=True)
    z = np.where(sd > 0, (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0), 0.0)
    flat = z.reshape(-1, z.shape[-1])
    out = []
    for a in range(len(channels)):
        for b in range(a + 1, len(channels)):
            if flat[:, a].std() == 0 or flat[:, b].std() == 0:
                continue
            r = float(np.corrcoef(flat[:, a], flat[:, b])[0, 1])
            if abs(r) > COLLINEAR:
                one, two = channels[a], channels[b]
                out.append(
                    f"{source}: channels '{one}' and '{two}' are collinear (correlation {r:.3f} over "
                    f"time, pooled over geos). The data cannot tell their effects apart: the model "
                    f"splits their joint effect only through the priors, so their individual ROIs "
                    f"will be wide and negatively correlated (their sum is better measured). A lift "
                    f"test on '{one}' or '{two}' (data.lift_tests) would separate them; or vary "
                    f"their spend independently, or model them as one channel")
    return out


def show(messages: Sequence[str]) -> None:
    """Print each warning on stderr, as the project's warnings are."""
    for msg in messages:
        print(f"mmm-geo: warning: {msg}", file=sys.stderr)


def check_test_windows(excluded: np.ndarray, lengths: Sequence[int], holdout: int) -> None:
    """Each validation test window (``holdout`` periods after each training length) must keep a
    period that is not excluded, or there is nothing to score."""
    for n in lengths if holdout else []:
        if excluded[n:n + holdout].all():
            raise ConfigError(f"data.exclude covers all {holdout} test periods after the first {n} "
                              "(validation.holdout)\n  fix: exclude fewer periods or raise "
                              "validation.holdout")
