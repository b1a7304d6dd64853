"""The executive summary's geography and calendar lines (``mmm_geo.report.geo_calendar``) on
hand-made report numbers whose answers are known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo.report import geo_calendar

TIMES = pd.date_range("2019-01-05", periods=52, freq="7D").values


def numbers(geos=("a", "b", "c")):
    n_t = TIMES.size
    season = 10.0 * np.sin(2 * np.pi * np.arange(n_t) / 52)          # lowest week 39, highest 13
    flag = np.zeros(n_t)
    flag[[20, 45]] = 1.0
    std = (flag - flag.mean()) / flag.std()                            # standardised like a control
    per_geo = np.array([1.0, 2.0, 1.0])[:len(geos), None]
    comp = xr.DataArray(np.stack([np.full(n_t, 100.0) * per_geo, season * per_geo, 3.0 * std * per_geo
                                  / std.max()]),
                        dims=("component", "geo", "time"),
                        coords={"component": ["baseline", "seasonality", "holiday_labor_day"],
                                "geo": list(geos), "time": TIMES})
    roi = xr.Dataset({k: (("geo", "channel"), v) for k, v in {
        "median": np.array([[1.0, np.nan], [3.0, np.nan], [2.0, np.nan]])[:len(geos)],
        "lo": np.zeros((len(geos), 2)), "hi": np.ones((len(geos), 2))}.items()},
        coords={"geo": list(geos), "channel": ["tv", "organic"]})
    cv = xr.Dataset({"median": ("channel", [0.5, np.nan]), "lo": ("channel", [0.25, np.nan]),
                     "hi": ("channel", [0.75, np.nan])}, coords={"channel": ["tv", "organic"]})
    return SimpleNamespace(components=comp, expected=comp.sum("component"), roi_geo=roi, geo_var=cv)


def test_seasonality_and_holiday_lines_give_the_known_weeks_and_sizes():
    a = numbers()
    season, holiday = geo_calendar.calendar_lines(a)
    mean_week = float(a.expected.sum("geo").mean())
    assert str(TIMES[39])[:10] in season and str(TIMES[13])[:10] in season
    assert f"{100 * 40 / mean_week:.1f}%" in season                 # 10 x (1 + 2 + 1) at the peak
    flagged = a.components.sel(component="holiday_labor_day").sum("geo").values
    lift = (flagged[[20, 45]] - flagged[0]).sum() / float(a.expected.sum("geo").values[[20, 45]].sum())
    assert holiday.startswith("Labor Day:") and f"{100 * lift:.1f}%" in holiday
    assert str(TIMES[20])[:10] in holiday and str(TIMES[45])[:10] in holiday


def test_geo_lines_name_the_lowest_and_highest_geo_and_skip_channels_without_roi():
    lines = geo_calendar.geo_lines(numbers())
    assert len(lines) == 2 and lines[0].startswith("tv: ROI from 1.00 in a to 3.00 in b")
    assert "50.0%" in lines[0] and "organic" not in " ".join(lines)
    assert geo_calendar.geo_lines(numbers(geos=("national",))) == []


def test_the_trust_line_reports_rolling_origin_folds_not_only_the_last():
    from mmm_geo.report.summary import _cv_line

    folds = [{"fold": k, "test_periods": 13, "mape": m, "naive_mape": n}
             for k, (m, n) in enumerate([(0.31, 0.18), (0.35, 0.22), (0.25, 0.28)], start=1)]
    (line,) = _cv_line({"folds": folds, "mean_mape": 0.30, "mean_naive_mape": 0.224})
    assert "3 rolling-origin folds" in line and "30.0%" in line and "22.4%" in line
    assert "not better" in line and "better in 1 of 3 folds" in line
    assert _cv_line(None) == [] and _cv_line({}) == []


def test_timing_lines_name_the_best_and_worst_month():
    from mmm_geo.report.outlook import timing_lines

    weeks = pd.date_range("2021-01-04", periods=52, freq="7D")
    median = np.where(weeks.month == 7, 1.5, np.where(weeks.month == 1, 0.6, 1.0))
    table = pd.DataFrame({"channel": "tv", "time": weeks, "median": median, "lo": median - 0.1,
                          "hi": median + 0.1})
    (line,) = timing_lines(table)
    assert line.startswith("tv works best in July (its effect 1.50x") and "least in January (0.60x)" in line
    assert "the band leaves out the average in 8 of 52 weeks" in line     # 4 July + 4 January weeks
    (flat,) = timing_lines(table.assign(lo=0.5, hi=1.6))
    assert flat.startswith("tv: no time of year stands out") and "all 52 weeks" in flat
    assert timing_lines(pd.DataFrame()) == []


def test_forecast_lines_read_the_saved_forecast(tmp_path):
    import json

    from mmm_geo.report.outlook import forecast_lines

    folder = tmp_path / "forecast"
    folder.mkdir()
    pd.DataFrame([{"plan": "q4", "first_week": "2021-09-06", "last_week": "2021-11-29",
                   "spend": 250000.0, "kpi_mean": 1.2e6, "kpi_p5": 1.0e6, "kpi_p95": 1.4e6}]
                 ).to_csv(folder / "scenarios.csv", index=False)
    (folder / "forecast.json").write_text(json.dumps({"horizon": ["w"] * 13, "historical": True,
        "coverage": {"national_in_90": 0.846, "national_periods": 13}}))
    first, second = forecast_lines(tmp_path, "$", "")
    assert "13 weeks 2021-09-06 to 2021-11-29 under q4 (spend $250 k)" in first
    assert "KPI <b>1.2 m</b> (90% interval 1 m to 1.4 m)" in first.replace("1.00 m", "1 m")
    assert "84.6% of them" in second
    assert forecast_lines(tmp_path / "nothing") == []


def test_next_test_lines_read_the_saved_design(tmp_path):
    from mmm_geo.report.outlook import next_test_lines

    assert next_test_lines(tmp_path) == []
    (tmp_path / "design").mkdir()
    pd.DataFrame([
        {"channel": "tv", "geos": "all", "weeks": 6, "change": -1.0, "start": "2024-11-18",
         "evsi": 2.4e6, "evsi_se": 3e5, "cost": 4.0e7, "power": 0.93, "roi_width_ratio": 0.62,
         "degenerate": False},
        {"channel": "social", "geos": "geo_05|geo_07", "weeks": 6, "change": -0.5,
         "start": "2024-11-18", "evsi": 9.5e4, "evsi_se": 4e4, "cost": 2.4e7, "power": 0.4,
         "roi_width_ratio": 0.9, "degenerate": True}]).to_csv(tmp_path / "design" / "design.csv",
                                                               index=False)
    first, second = next_test_lines(tmp_path, currency="$")
    assert first.startswith("Run next: <b>tv, go dark in all geos for 6 weeks</b> (as from 2024-11-18)")
    assert "$2.4 m" in first and "cost of $40 m" in first and "93" in first and "62" in first
    assert "refit" not in first
    assert "social, cut spend by 50% in geo_05, geo_07" in second and "refit with the result" in second
