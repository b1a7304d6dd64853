"""The executive summary's answers about timing and the future: when in the year each
time-varying channel works best (``model.time_varying``), and what ``mmm-geo forecast`` expects
for the weeks it planned (``<run>/forecast/``), with its interval and, for held-out weeks, how
often the observed KPI fell inside it; and which lift test ``mmm-geo design-test`` found worth most
to the budget decision (``<run>/design/design.csv``). Pure functions of the report's numbers and
the saved files; empty where none exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pandas as pd

from mmm_geo.report import html as H


def timing_lines(table: pd.DataFrame) -> List[str]:
    """Per time-varying channel: the calendar month whose weeks have the highest and the lowest
    median effect multiplier (1 = the channel's average effect), with the multiplier's range and
    the weeks whose band leaves out 1; when every week's band holds 1, that no season stands out."""
    if not len(table):
        return []
    lines = []
    for ch, rows in table.groupby("channel", sort=False):
        span = (f"weekly multipliers from {H.fmt(rows['median'].min(), 'ratio')} to "
                f"{H.fmt(rows['median'].max(), 'ratio')}")
        apart = int(((rows["lo"] > 1) | (rows["hi"] < 1)).sum())
        if apart == 0:
            lines.append(f"{H.esc(str(ch))}: no time of year stands out; its effect's 90% band "
                         f"holds its average in all {len(rows)} weeks ({span}).")
            continue
        month = pd.to_datetime(rows["time"]).dt.month
        by_month = rows.groupby(month.values)["median"].mean()
        best, worst = int(by_month.idxmax()), int(by_month.idxmin())
        name = lambda m: pd.Timestamp(2000, m, 1).strftime("%B")  # noqa: E731
        lines.append(f"{H.esc(str(ch))} works best in {name(best)} (its effect "
                     f"{H.fmt(by_month[best], 'ratio')}x its average) and least in {name(worst)} "
                     f"({H.fmt(by_month[worst], 'ratio')}x); {span}; the band leaves out the "
                     f"average in {apart} of {len(rows)} weeks.")
    return lines


def forecast_lines(run_path: Path, currency: str = "", kpi_currency: str = "") -> List[str]:
    """Each forecast plan's KPI over its weeks (mean, 5-95 % interval) and, for historical weeks,
    the share of observed weeks inside the 90 % interval; [] without ``<run>/forecast``.
    ``kpi_currency``: the KPI's (the currency for a revenue KPI, '' for units)."""
    folder = Path(run_path) / "forecast"
    if not (folder / "scenarios.csv").is_file() or not (folder / "forecast.json").is_file():
        return []
    plans = pd.read_csv(folder / "scenarios.csv")
    meta = json.loads((folder / "forecast.json").read_text())
    weeks = meta.get("horizon", [])
    lines = [f"Forecast of the {len(weeks)} weeks {H.esc(str(r['first_week']))} to "
             f"{H.esc(str(r['last_week']))} under {H.esc(str(r['plan']))} (spend "
             f"{H.money(r['spend'], currency)}): KPI <b>{H.money(r['kpi_mean'], kpi_currency)}</b> "
             f"(90% interval {H.money(r['kpi_p5'], kpi_currency)} to "
             f"{H.money(r['kpi_p95'], kpi_currency)})."
             for _, r in plans.iterrows()]
    cov = meta.get("coverage")
    if meta.get("historical") and cov:
        lines.append(f"Those weeks were observed: {H.fmt(cov['national_in_90'], 'pct')} of them fell "
                     f"inside the 90% forecast interval ({cov['national_periods']} weeks).")
    return lines


def section_body(a, run_path: Path, currency: str = "", kpi_currency: str = "") -> str:
    """The items of both, or '' when neither applies."""
    lines = timing_lines(a.time_varying) + forecast_lines(run_path, currency, kpi_currency)
    return H.items(lines, "summary") if lines else ""


def _change(change: float) -> str:
    return "go dark" if change <= -1 else (f"cut spend by {-change:.0%}" if change < 0
                                           else f"raise spend by {change:.0%}")


def next_test_lines(run_path: Path, folder: str = "design", currency: str = "") -> List[str]:
    """The first-ranked test of ``<run>/<folder>/design.csv`` with its value, cost, power and the
    ROI interval it is expected to narrow, and the runner-up; [] without the file."""
    path = Path(run_path) / folder / "design.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    lines = []
    for label, (_, r) in zip(("Run next", "Runner-up"), table.head(2).iterrows()):
        where = "all geos" if r["geos"] == "all" else H.esc(str(r["geos"]).replace("|", ", "))
        lines.append(
            f"{label}: <b>{H.esc(str(r['channel']))}, {_change(r['change'])} in {where} for "
            f"{int(r['weeks'])} weeks</b> (as from {H.esc(str(r['start']))}). The expected value of "
            f"its result to the budget decision is {H.money(r['evsi'], currency)} (Monte Carlo "
            f"error {H.money(r['evsi_se'], currency)}) for a cost of {H.money(r['cost'], currency)}; "
            f"power {H.fmt(r['power'], 'pct')}; it is expected to narrow the 90% ROI interval of "
            f"{H.esc(str(r['channel']))} to {H.fmt(r['roi_width_ratio'], 'pct')} of its width"
            + (" (the update rests on few draws: refit with the result before trusting this)"
               if bool(r["degenerate"]) else "") + ".")
    return lines
