"""The executive summary's answers about geography and the calendar: do channel effects differ by
geo (the spread of each paid channel's per-geo ROI), what seasonality does (its lowest and highest
week) and what each holiday of ``data.holidays`` does in its weeks. Pure functions of the
report's :class:`~mmm_geo.report.analyse.Analysis`; empty where they do not apply (one geo, no
seasonality, no holidays)."""

from __future__ import annotations

from typing import List

import numpy as np

from mmm_geo import dims
from mmm_geo.data.holidays import PREFIX
from mmm_geo.report import html as H


def geo_lines(a) -> List[str]:
    """Per paid channel with ROI in every geo: the lowest and highest geo (posterior medians)
    and the between-geo coefficient of variation of ROI with its interval."""
    if a.roi_geo.sizes.get(dims.GEO, 1) < 2:
        return []
    lines = []
    for ch in map(str, a.roi_geo[dims.CHANNEL].values):
        med = a.roi_geo["median"].sel({dims.CHANNEL: ch})
        if not np.isfinite(med.values).all():
            continue                                       # no spend in some geo: no ROI there
        low, high = med.idxmin(dims.GEO).item(), med.idxmax(dims.GEO).item()
        cv = a.geo_var.sel({dims.CHANNEL: ch})
        lines.append(
            f"{H.esc(ch)}: ROI from {H.fmt(float(med.sel({dims.GEO: low})), 'ratio')} in "
            f"{H.esc(str(low))} to {H.fmt(float(med.sel({dims.GEO: high})), 'ratio')} in "
            f"{H.esc(str(high))}; across geos it varies by {H.fmt(float(cv['median']), 'pct')} of its "
            f"mean ({H.fmt(float(cv['lo']), 'pct')} to {H.fmt(float(cv['hi']), 'pct')}).")
    if lines:
        lines.append("The model lets each channel's effect differ by geo (partially pooled); "
                     "the report's Geos section and tables/roi_geo.csv give every geo.")
    return lines


def calendar_lines(a) -> List[str]:
    """Seasonality's lowest and highest week (share of the mean week's modelled KPI) and each
    holiday's effect in its weeks (share of those weeks' modelled KPI), posterior means."""
    comp = a.components.sum(dims.GEO)                     # (component, time)
    expected = a.expected.sum(dims.GEO)
    times = a.expected[dims.TIME].values
    names = [str(c) for c in comp["component"].values]
    lines = []
    if "seasonality" in names:
        season = (comp.sel(component="seasonality") / expected.mean()).values
        if np.ptp(season) > 0:
            lo, hi = int(np.argmin(season)), int(np.argmax(season))
            lines.append(f"Seasonality: from {H.fmt(season[lo], 'pct')} of a typical week in the "
                         f"week of {np.datetime_as_string(times[lo], 'D')} to "
                         f"{H.fmt(season[hi], 'pct')} in the week of "
                         f"{np.datetime_as_string(times[hi], 'D')}.")
    for name in names:
        if not name.startswith(PREFIX):
            continue
        part = comp.sel(component=name).values            # a standardised flag: two levels
        off = float(np.median(part))                        # most weeks have no holiday
        weeks = np.flatnonzero(~np.isclose(part, off, rtol=1e-6, atol=0.0))
        if weeks.size:
            share = (part[weeks] - off).sum() / float(expected.values[weeks].sum())
            lines.append(f"{H.esc(name[len(PREFIX):].replace('_', ' ').title())}: "
                         f"{H.fmt(share, 'pct')} in its weeks ("
                         f"{', '.join(np.datetime_as_string(times[w], 'D') for w in weeks)}).")
    return lines


def section_body(a) -> str:
    """The items of both, or '' when neither applies."""
    lines = geo_lines(a) + calendar_lines(a)
    return H.items(lines, "summary") if lines else ""
