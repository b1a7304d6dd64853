"""Calendar holidays as controls (``data.holidays``) and geos left out (``data.exclude_geos``).

The panel is the tiny simulated one of ``conftest`` (3 geos x 40 weeks, sorted by geo then week:
data row ``r`` is geo ``(r - 1) // 40``, week ``(r - 1) % 40``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mmm_geo.config import DataConfig
from mmm_geo.data import holidays
from mmm_geo.data.load import load_dataset, to_dataset
from mmm_geo.data.simulate import data_config
from mmm_geo.errors import DataError

from conftest import TINY_SIM, shared_file
from test_validation import rows_named

CFG = data_config(TINY_SIM)
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, year, day", [
    ("thanksgiving", 2019, date(2019, 11, 28)), ("thanksgiving", 2018, date(2018, 11, 22)),
    ("cyber_monday", 2019, date(2019, 12, 2)), ("memorial_day", 2019, date(2019, 5, 27)),
    ("memorial_day", 2021, date(2021, 5, 31)), ("labor_day", 2020, date(2020, 9, 7)),
    ("mothers_day", 2024, date(2024, 5, 12)), ("easter", 2024, date(2024, 3, 31)),
    ("easter", 2019, date(2019, 4, 21)), ("easter", 2038, date(2038, 4, 25))])
def test_holiday_dates_follow_the_calendar(name, year, day):
    assert holidays.RULES[name](year) == day


def test_the_us_set_expands_and_names_keep_their_order():
    assert holidays.names(["christmas", "us"])[:2] == ["christmas", "new_year"]
    assert len(holidays.names(["us", "thanksgiving"])) == len(holidays.SETS["us"])


def test_a_flag_marks_the_period_that_contains_the_holiday():
    weeks = pd.date_range("2019-11-02", periods=8, freq="7D")          # Saturdays
    flags = holidays.indicators(["thanksgiving", "christmas"], weeks, "x.csv")
    assert list(flags) == ["holiday_thanksgiving", "holiday_christmas"]
    assert weeks[flags["holiday_thanksgiving"] > 0].tolist() == [pd.Timestamp("2019-11-23")]
    assert weeks[flags["holiday_christmas"] > 0].tolist() == [pd.Timestamp("2019-12-21")]


def test_holidays_become_controls_of_the_dataset(tiny_frame):
    df = tiny_frame[0]
    first = pd.Timestamp(df["week"].min())
    inside = [h for h in holidays.RULES if any(
        first <= pd.Timestamp(holidays.RULES[h](y)) < first + pd.Timedelta(weeks=TINY_SIM.weeks)
        for y in (first.year, first.year + 1))]
    ds = to_dataset(df, replace(CFG, holidays=inside[:2]), "tiny")
    names = [str(c) for c in ds["control"].values]
    assert names == list(CFG.controls) + [holidays.PREFIX + h for h in inside[:2]]
    flag = ds["controls"].sel(control=names[-1]).values
    assert set(np.unique(flag)) == {0.0, 1.0} and (flag == flag[:1]).all()   # the same in every geo


def test_unknown_holiday_and_holiday_outside_the_data_are_errors(tiny_frame):
    with pytest.raises(DataError, match="(?s)unknown holiday 'xmas'.*fix: use any of"):
        to_dataset(tiny_frame[0], replace(CFG, holidays=["xmas"]), "tiny")
    weeks = pd.date_range("2019-01-05", periods=10, freq="7D")
    with pytest.raises(DataError, match="christmas falls in no period"):
        holidays.indicators(["christmas"], weeks, "x.csv")


def test_a_geo_with_two_series_is_refused_with_the_exclusion_named(tiny_frame):
    df = tiny_frame[0]
    last = df["geo"].unique()[-1]
    doubled = pd.concat([df, df[df["geo"] == last].assign(revenue=lambda d: d["revenue"] * 2)],
                        ignore_index=True)
    with pytest.raises(DataError) as err:
        to_dataset(doubled, CFG, "panel.csv")
    msg = str(err.value)
    assert f"data.exclude_geos=[{last}]" in msg
    n = TINY_SIM.weeks
    assert rows_named(msg) == set(range(2 * n + 1, 3 * n + 1)) | set(range(3 * n + 1, 4 * n + 1))
    ds = to_dataset(doubled, replace(CFG, exclude_geos=[last]), "panel.csv")
    assert [str(g) for g in ds["geo"].values] == list(df["geo"].unique()[:-1])
    np.testing.assert_array_equal(ds["kpi"].values, to_dataset(df, CFG, "t")["kpi"].values[:-1])


def test_exclude_geos_must_name_geos_of_the_data(tiny_frame):
    with pytest.raises(DataError, match="exclude_geos names nowhere, not a geo of the data"):
        to_dataset(tiny_frame[0], replace(CFG, exclude_geos=["nowhere"]), "tiny")
    every = list(tiny_frame[0]["geo"].unique())
    with pytest.raises(DataError, match="names every geo"):
        to_dataset(tiny_frame[0], replace(CFG, exclude_geos=every), "tiny")


def test_the_study_file_with_geo_z_left_out_loads_with_its_holidays():
    path = shared_file("geo_media_fb_google_imp", "mediadata.csv")
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig),
                                              OmegaConf.load(ROOT / "conf/data/ecommerce_geo.yaml")))
    ds = load_dataset(replace(cfg, path=str(path)))
    assert (ds.sizes["geo"], ds.sizes["time"]) == (25, 113) and "Z" not in ds["geo"].values
    assert list(ds["control"].values)[4] == "holiday_thanksgiving"
    assert int(ds["controls"].sel(control="holiday_thanksgiving").values[0].sum()) == 2


def test_a_window_after_the_data_gets_its_holiday_flags_from_the_calendar():
    weeks = [str(d.date()) for d in pd.date_range("2020-05-02", periods=6, freq="7D")]
    out = holidays.in_window(["price", "holiday_memorial_day", "holiday_christmas"], weeks,
                             pd.Timedelta(days=7))
    assert sorted(out) == [1, 2]                       # "price" has no known future value
    assert [weeks[i] for i in np.flatnonzero(out[1])] == ["2020-05-23"]   # Memorial Day 2020-05-25
    assert not out[2].any()
