"""Plans in the data's calendar: horizons by date (start + weeks, a calendar period, a date list, a
historical window), validated against the data's frequency; plan files (wide and long layouts,
Meridian's hypothetical flighting) with exit-2 messages for bad rows; the optimizer on dates and
on a plan file, end to end on the session's quick run."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_SIM, shared_file
from mmm_geo.config import ChannelColumns, DataConfig, OptimizeConfig, OptimizerConfig
from mmm_geo.data.scaling import model_data
from mmm_geo.data.simulate import data_config
from mmm_geo.errors import ConfigError, DataError
from mmm_geo.optimize import horizon as hz
from mmm_geo.optimize.planfile import read_plan
from mmm_geo.plan_config import HorizonSpec

WEEKS = pd.date_range("2023-01-02", periods=40, freq="7D")     # the tiny panel: Mondays to 2023-10-02
COLS = data_config(TINY_SIM)
GEOS, CHANNELS = ["geo_00", "geo_01", "geo_02"], ["tv", "search"]


def test_horizons_by_date_land_on_the_calendar():
    cases = [(HorizonSpec(), "2023-10-09", 13, 40),                      # the weeks after the data
             (HorizonSpec(start="2024-01-01", weeks=5), "2024-01-01", 5, 52),
             (HorizonSpec(period="2024Q1"), "2024-01-01", 13, 52),      # Mondays inside Q1 2024
             (HorizonSpec(period="2024-02"), "2024-02-05", 4, 57),
             (HorizonSpec(dates=["2023-10-16", "2023-10-09"]), "2023-10-09", 2, 40)]
    for spec, first, n, offset in cases:
        h = hz.resolve(spec, WEEKS, 13)
        assert (h.labels[0], len(h.dates), h.offset, h.historical) == (first, n, offset, False)
        assert (h.dates.day_of_week == 0).all()
        np.testing.assert_array_equal(hz.date_at(hz.calendar(WEEKS), offset + np.arange(n)), h.dates)
    inside = hz.resolve(HorizonSpec(period="2023-03"), WEEKS, 13)
    assert inside.historical and inside.offset == 9 and list(inside.labels) == [
        "2023-03-06", "2023-03-13", "2023-03-20", "2023-03-27"]
    window = hz.resolve(HorizonSpec(), WEEKS, 13, window=["2023-05-08", "2023-07-17"])
    assert window.historical and window.offset == 18 and len(window.dates) == 11


def test_monthly_calendar():
    months = pd.date_range("2020-01-31", periods=30, freq="ME")
    cal = hz.calendar(months)
    assert hz.describe(cal) == "monthly, on month ends"
    h = hz.resolve(HorizonSpec(period="2023"), months, 3)
    assert list(h.labels) == [f"2023-{m:02d}-{d}" for m, d in zip(range(1, 13), [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])]
    assert h.offset == 36
    with pytest.raises(ConfigError, match="2023-02-27 is not a period.*2023-01-31 and 2023-02-28"):
        hz.resolve(HorizonSpec(start="2023-02-27"), months, 3)


@pytest.mark.parametrize("spec, match", [
    (HorizonSpec(start="2024-01-02"), r"(?s)2024-01-02 \(a Tuesday\) is not a period of the data's "
     r"calendar \(weekly, on Mondays.*fix: use 2024-01-01 or 2024-01-08"),
    (HorizonSpec(period="2023Q4"), "(?s)straddles the data's last period 2023-10-02.*next period is "
     "2023-10-09"),
    (HorizonSpec(dates=["2023-10-09", "2023-10-23"]), r"not consecutive \(missing 2023-10-16\)"),
    (HorizonSpec(start="2022-12-26"), "before the data's first period 2023-01-02"),
    (HorizonSpec(start="2024-01-01", period="2024Q1"), "start and period both give the horizon"),
    (HorizonSpec(period="2024Q1", weeks=4), "weeks=4 goes with start="),
    (HorizonSpec(period="Q1 of next year"), "is not a calendar period"),
    (HorizonSpec(start="soon"), "start='soon' is not a date"),
    (HorizonSpec(weeks=0), "weeks=0 is out of range"),
])
def test_bad_horizons_are_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        hz.resolve(spec, WEEKS, 13)


def plan_frame(start="2023-10-09", weeks=4, seed=0) -> pd.DataFrame:
    """A wide plan in the tiny panel's own columns (spend and impressions per channel)."""
    rng = np.random.default_rng(seed)
    rows = [{"geo": g, "week": d, "tv_spend": rng.uniform(0, 1e5), "search_spend": rng.uniform(0, 5e4)}
            for g in GEOS for d in pd.date_range(start, periods=weeks, freq="7D").strftime("%Y-%m-%d")]
    frame = pd.DataFrame(rows)
    return frame.assign(tv_impressions=frame["tv_spend"] * 20.0, note="ignored")


def test_wide_and_long_plans_read_to_the_same_arrays(tmp_path):
    wide = plan_frame()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    got = read_plan(str(tmp_path / "wide.csv"), COLS, GEOS, CHANNELS, WEEKS)
    assert got.spend.shape == (3, 4, 2) and got.horizon.offset == 40 and not got.horizon.historical
    assert got.spend[1, 2, 0] == pytest.approx(wide["tv_spend"].iloc[4 + 2])
    np.testing.assert_allclose(got.exposure[..., 0], 20.0 * got.spend[..., 0])
    assert np.isnan(got.exposure[..., 1]).all() and got.controls is None   # search: spend only
    long = wide.melt(["geo", "week"], ["tv_spend", "search_spend"], "channel", "spend")
    long["channel"] = long["channel"].str.replace("_spend", "")
    long.sample(frac=1.0, random_state=1).to_parquet(tmp_path / "long.parquet")
    again = read_plan(str(tmp_path / "long.parquet"), COLS, GEOS, CHANNELS, WEEKS)
    np.testing.assert_allclose(again.spend, got.spend)
    with_ctrl = wide.assign(price_index=1.5)
    with_ctrl.to_csv(tmp_path / "ctrl.csv", index=False)
    assert (read_plan(str(tmp_path / "ctrl.csv"), COLS, GEOS, CHANNELS, WEEKS).controls == 1.5).all()


def _bad(frame: pd.DataFrame, edit) -> pd.DataFrame:
    frame = frame.copy()
    edit(frame)
    return frame


BAD_ROWS = [
    (lambda f: f.__setitem__("geo", f["geo"].replace("geo_02", "geo_99")), "geo",
     "unknown geo 'geo_99' in rows 9-12", "use the run's geos"),
    (lambda f: f.__setitem__("radio_spend", 1.0), "radio_spend",
     "the spend of a channel the run does not model", "drop the column"),
    (lambda f: f.loc.__setitem__((2, "tv_spend"), -5.0), "tv_spend", "negative spend in row 3",
     "spend must be >= 0"),
    (lambda f: f.loc.__setitem__((5, "search_spend"), np.nan), "search_spend",
     "missing \\(NaN\\) values in row 6", "supply the values"),
    (lambda f: f.loc.__setitem__((1, "week"), "2023-10-11"), "week",
     "2023-10-11 \\(a Wednesday\\) is not a period.*in row 2", "date the rows on the data's periods"),
    (lambda f: f.loc.__setitem__((3, "week"), f.loc[2, "week"]), "geo, week",
     "duplicate rows in rows 3-4", "keep one row per geo x week"),
]


@pytest.mark.parametrize("edit, column, problem, fix", BAD_ROWS)
def test_bad_plan_rows_name_file_column_rows_and_fix(tmp_path, edit, column, problem, fix):
    path = tmp_path / "plan.csv"
    _bad(plan_frame(), edit).to_csv(path, index=False)
    with pytest.raises(DataError, match=f"{re.escape(str(path))}, column '{column}': {problem}"
                       f"(.|\n)*fix: {fix}"):
        read_plan(str(path), COLS, GEOS, CHANNELS, WEEKS)


def test_plan_rows_outside_the_horizon_and_missing_cells(tmp_path):
    path = tmp_path / "plan.csv"
    plan_frame(weeks=5).to_csv(path, index=False)
    four = hz.resolve(HorizonSpec(start="2023-10-09", weeks=4), WEEKS, 13)
    with pytest.raises(DataError, match="column 'week': dates outside the horizon 2023-10-09 .. "
                       "2023-10-30 in rows 5, 10, 15"):
        read_plan(str(path), COLS, GEOS, CHANNELS, WEEKS, four)
    plan_frame().drop(index=[6]).to_csv(path, index=False)
    with pytest.raises(DataError, match="1 cells of the horizon have no row \\(geo_01 2023-10-23\\)"):
        read_plan(str(path), COLS, GEOS, CHANNELS, WEEKS)
    plan_frame(start="2023-09-25").to_csv(path, index=False)
    with pytest.raises(ConfigError, match="straddles the data's last period 2023-10-02"):
        read_plan(str(path), COLS, GEOS, CHANNELS, WEEKS)


def test_meridian_hypothetical_plan():
    """Meridian's planned flighting for geo_all_channels (40 geos x 38 Fridays x 5 channels, no
    KPI) reads as is; against geo_media's Monday calendar its Fridays and extra geos are named."""
    path = shared_file("meridian", "hypothetical_geo_all_channels.csv")
    raw = pd.read_csv(path)
    chans = [f"Channel{i}" for i in range(5)]
    cols = DataConfig(time="time", geo="geo", kpi="conversions",
                      revenue_per_kpi="revenue_per_conversion", population="population",
                      channels={c: ChannelColumns(f"{c}_spend", f"{c}_impression") for c in chans})
    geos = [f"Geo{i}" for i in range(40)]
    fridays = pd.date_range("2021-01-29", "2023-11-10", freq="7D")   # a Friday calendar before it
    plan = read_plan(str(path), cols, geos, chans, fridays)
    assert plan.spend.shape == (40, 38, 5) and plan.horizon.labels[0] == "2023-11-17"
    assert plan.horizon.labels[-1] == "2024-08-02" and not plan.horizon.historical
    assert plan.spend.sum() == pytest.approx(raw[[f"{c}_spend" for c in chans]].to_numpy().sum())
    assert np.isfinite(plan.exposure).all() and plan.revenue_per_kpi.shape == (40, 38)
    mondays = pd.date_range("2021-01-25", periods=156, freq="7D")     # geo_media.csv's weeks
    with pytest.raises(DataError, match="column 'time': 2023-11-17 \\(a Friday\\) is not a period "
                       "of the data's calendar \\(weekly, on Mondays.*nearest periods are "
                       "2023-11-13 and 2023-11-20 in rows 1-1520"):
        read_plan(str(path), cols, geos, chans, mondays)
    with pytest.raises(DataError, match="column 'Channel4_spend': the spend of a channel the run"):
        four = {c: ChannelColumns(f"{c}_spend", f"{c}_impression") for c in chans[:4]}
        read_plan(str(path), replace(cols, channels=four), geos[:20], chans[:4], fridays)


def test_optimizer_on_dates_and_on_a_plan(quick_run, tmp_path):
    from mmm_geo.optimize.output import flighting_table, run_optimize
    from mmm_geo.optimize.plan import plan_run
    from mmm_geo.optimize.problem import build_problem
    from mmm_geo.run import load_run

    opt = OptimizerConfig(draws=60, allocation_draws=0)
    res = run_optimize(OptimizeConfig(run=str(quick_run), period="2024Q1", budget=4e5,
                                      output="opt_period", optimizer=opt))
    pb = res.problem
    assert pb.weeks[0] == "2024-01-01" and len(pb.weeks) == 13 and pb.offset == 52
    assert not pb.pre.any()     # 12 weeks after the data: nothing carries in (max_lag 4)
    flight = pd.read_csv(quick_run / "opt_period" / "flighting.csv")
    assert flight["week"].iloc[0] == "2024-01-01" and flight["recommended"].sum() == pytest.approx(4e5)
    alloc = pd.read_csv(quick_run / "opt_period" / "allocation.csv")
    assert (alloc["first_week"] == "2024-01-01").all() and (alloc["last_week"] == "2024-03-25").all()
    run = load_run(quick_run)
    near = build_problem(run.ds, run.scaling, run.config.model,
                         OptimizeConfig(start="2023-10-16", weeks=4))
    media = model_data(run.ds, run.scaling, np.float64).media
    np.testing.assert_allclose(near.pre[:, 0], media[:, -2])   # weeks 38, 39 carry in, the gap week 40 none
    np.testing.assert_allclose(near.pre[:, 1], media[:, -1])
    assert not near.pre[:, 2].any() and near.offset == 41

    path = tmp_path / "plan.csv"
    plan_frame(start="2024-01-01", weeks=6).to_csv(path, index=False)
    res = plan_run(run, OptimizeConfig(plan=str(path), optimizer=opt))
    planned = read_plan(str(path), COLS, GEOS, CHANNELS, WEEKS)
    assert res.problem.budget == pytest.approx(planned.spend.sum())
    np.testing.assert_allclose(res.plans["current"], planned.spend.sum(1))
    table = flighting_table(res)
    np.testing.assert_allclose(table["current"], planned.spend.transpose(1, 0, 2).ravel())
    ratio = (table["recommended"] / table["current"]).to_numpy().reshape(6, 3, 2)
    np.testing.assert_allclose(ratio, ratio[:1, :1, :].repeat(6, 0).repeat(3, 1), rtol=1e-6)  # shape kept
    with pytest.raises(ConfigError, match="the optimizer scales one plan"):
        plan_run(run, OptimizeConfig(plan=[str(path), str(path)], optimizer=opt))


def test_cli_bad_plan_exits_2(quick_run, tmp_path):
    path = tmp_path / "plan.csv"
    _bad(plan_frame(), BAD_ROWS[2][0]).to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "optimize", f"run={quick_run}",
                           f"plan={path}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}, column 'tv_spend': negative spend in row 3" in proc.stderr
