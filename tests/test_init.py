"""`mmm-geo init`: the data-config wizard proposes roles that the project's own loader accepts.

Public files (../shared/data) are checked against the roles their sources document; small
synthetic tables show each ambiguity failing with the key that resolves it. No MCMC.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mmm_geo.config import DataConfig, to_config
from mmm_geo.data.infer import frequency, media_role
from mmm_geo.data.load import load_dataset
from mmm_geo.errors import ConfigError, DataError
from mmm_geo.init_config import main as init_main
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]


def _init(tmp_path, *args):
    """Run the wizard in-process into ``tmp_path/data/x.yaml``; return the loaded DataConfig."""
    out = tmp_path / "data" / "x.yaml"
    init_main([*map(str, args), f"out={out}"], tmp_path)
    return to_config(OmegaConf.load(out), DataConfig), out


def _panel(seed=0, geos=3, weeks=30):
    """A small geo x week table with two channels (spend + exposure), two KPI-like columns."""
    rng = np.random.default_rng(seed)
    n = geos * weeks
    return pd.DataFrame({
        "geo": np.repeat([f"g{i}" for i in range(geos)], weeks),
        "date": np.tile(pd.date_range("2023-01-02", periods=weeks, freq="7D").strftime("%Y-%m-%d"), geos),
        "tv_spend": rng.gamma(2.0, 100.0, n), "tv_impressions": rng.gamma(2.0, 1e4, n),
        "search_cost": rng.gamma(2.0, 50.0, n), "search_clicks": rng.gamma(2.0, 500.0, n),
        "sales": rng.gamma(5.0, 200.0, n), "revenue": rng.gamma(5.0, 2000.0, n),
        "price_index": rng.normal(1.0, 0.05, n),
        "population": np.repeat(rng.uniform(1e5, 1e6, geos), weeks),
    })


@pytest.mark.parametrize("name", ["geo_media", "geo_media_rf"])
def test_meridian_geo_media_gives_the_projects_own_config(tmp_path, capsys, name):
    """geo_media_rf's Channel3 has a frequency column: a reach & frequency channel."""
    path = shared_file("meridian", f"{name}.csv")
    cfg, _ = _init(tmp_path, path)
    known = to_config(OmegaConf.load(ROOT / "conf" / "data" / f"meridian_{name}.yaml"), DataConfig)
    assert cfg.path == str(path)
    for key in ("time", "geo", "kpi", "revenue_per_kpi", "population", "channels", "controls"):
        assert getattr(cfg, key) == getattr(known, key), key
    ds = load_dataset(cfg)
    assert dict(ds.sizes) == {"geo": 20, "time": 156, "channel": 4, "control": 2}
    printed = capsys.readouterr().out
    assert "frequency: weekly" in printed and "geo: geo" in printed
    assert "channel Channel0: spend Channel0_spend, exposure Channel0_impression" in printed
    if name == "geo_media_rf":
        assert cfg.channels["Channel3"].frequency == "Channel3_frequency"
        assert "frequency Channel3_frequency (reach & frequency)" in printed
        assert "left out: Channel3_reach" in printed
        assert np.isfinite(ds["frequency"].sel(channel="Channel3")).all()


ROBYN = {  # Robyn's demo: paid_media_spends / paid_media_vars, context and organic vars
    "time": "DATE", "geo": None, "kpi": "revenue", "revenue_per_kpi": None, "population": None,
    "channels": {"tv": ("tv_S", None), "ooh": ("ooh_S", None), "print": ("print_S", None),
                 "search": ("search_S", "search_clicks_P"), "facebook": ("facebook_S", "facebook_I")},
    "controls": ["competitor_sales_B", "newsletter"], "sizes": (1, 208)}
ASSESSMENT = {
    "time": "week", "geo": None, "kpi": "revenue", "revenue_per_kpi": None, "population": None,
    "channels": {c: (f"{c}_spend", None) for c in ("facebook", "google", "tiktok", "instagram", "snapchat")},
    "controls": ["social_followers", "average_price", "promotions", "emails_send", "sms_send"],
    "sizes": (1, 104)}
ALL_CHANNELS = {  # Meridian's main demo file: a row-index column, organic media and a promo
    "time": "time", "geo": "geo", "kpi": "conversions", "revenue_per_kpi": "revenue_per_conversion",
    "population": "population",
    "channels": {f"Channel{i}": (f"Channel{i}_spend", f"Channel{i}_impression") for i in range(5)},
    "controls": ["competitor_sales_control", "sentiment_score_control", "Organic_channel0_impression",
                 "Promo"], "sizes": (40, 156)}


@pytest.mark.parametrize("parts, known", [
    (("robyn", "dt_simulated_weekly.csv"), ROBYN),
    (("assessment2_mmm_weekly", "Assessment 2 - MMM Weekly.csv"), ASSESSMENT),
    (("meridian", "geo_all_channels.csv"), ALL_CHANNELS),
], ids=["robyn", "assessment2", "meridian_all_channels"])
def test_public_files_get_their_documented_roles(tmp_path, parts, known, capsys):
    cfg, _ = _init(tmp_path, shared_file(*parts))
    for key in ("time", "geo", "kpi", "revenue_per_kpi", "population", "controls"):
        assert getattr(cfg, key) == known[key], key
    assert {n: (c.spend, c.exposure) for n, c in cfg.channels.items()} == known["channels"]
    ds = load_dataset(cfg)
    assert (ds.sizes["geo"], ds.sizes["time"]) == known["sizes"]
    printed = capsys.readouterr().out
    if parts[0] == "robyn":
        assert "left out: events  (text" in printed        # a factor, not a numeric control
    if parts[1] == "geo_all_channels.csv":
        assert "left out: Unnamed: 0  (a row index)" in printed


def test_cli_ambiguous_kpi_exits_2_then_the_override_resolves_it(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    _panel().to_csv(data, index=False)
    env = {**os.environ, "MMM_GEO_CONF": str(tmp_path / "conf")}

    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "init", str(data), "name=mine"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "kpi: 2 candidates (sales, revenue" in res.stderr
    assert "fix: pass kpi=<column>, one of: sales, revenue" in res.stderr
    assert "nothing was written" in res.stderr and not (tmp_path / "conf").exists()
    assert "channel tv: spend tv_spend, exposure tv_impressions" in res.stdout  # the rest is shown

    written = init_main([str(data), "name=mine", "kpi=sales"], tmp_path / "conf")  # what the CLI runs
    assert written == tmp_path / "conf" / "data" / "mine.yaml"
    printed = capsys.readouterr().out
    assert "kpi: sales  (given as kpi=)" in printed and "mmm-geo fit data=mine" in printed
    cfg = to_config(OmegaConf.load(written), DataConfig)
    assert (cfg.kpi, cfg.geo, cfg.population, cfg.controls) == ("sales", "geo", "population",
                                                                ["price_index"])
    assert "left out: revenue  (named like a KPI" in printed
    assert {n: (c.spend, c.exposure) for n, c in cfg.channels.items()} == {
        "tv": ("tv_spend", "tv_impressions"), "search": ("search_cost", "search_clicks")}
    assert dict(load_dataset(cfg).sizes) == {"geo": 3, "time": 30, "channel": 2, "control": 1}


def test_two_date_columns_and_two_exposures_are_listed_then_resolved(tmp_path):
    df = _panel().drop(columns="revenue")
    df["week_start"] = df["date"]
    df["tv_views"] = df["tv_impressions"] * 2
    data = tmp_path / "panel.csv"
    df.to_csv(data, index=False)
    with pytest.raises(DataError, match=r"time: 2 candidates \(date, week_start.*\n  fix: pass time="):
        _init(tmp_path, data)
    with pytest.raises(DataError, match=r"exposure of channel tv: 2 candidates \(tv_impressions, tv_views"
                                        r".*\n  fix: pass exposure\.tv=<column>"):
        _init(tmp_path, data, "time=date")
    assert not (tmp_path / "data" / "x.yaml").exists()
    cfg, _ = _init(tmp_path, data, "time=date", "exposure.tv=tv_views")
    assert cfg.time == "date" and cfg.channels["tv"].exposure == "tv_views"
    assert cfg.controls == ["price_index"]   # the other date and exposure columns are not controls


def test_existing_config_is_kept_unless_force_and_reruns_are_identical(tmp_path):
    data = tmp_path / "panel.csv"
    _panel().to_csv(data, index=False)
    _, out = _init(tmp_path, data, "kpi=sales")
    first = out.read_bytes()
    out.write_text("mine: edited by hand\n")
    with pytest.raises(ConfigError, match="already exists.*\n  fix: pass force=true"):
        _init(tmp_path, data, "kpi=sales")
    assert out.read_text() == "mine: edited by hand\n"
    _init(tmp_path, data, "kpi=sales", "force=true")
    assert out.read_bytes() == first


def test_no_spend_by_name_asks_for_spend_then_loads(tmp_path):
    path = shared_file("pymc_marketing", "mmm_multidimensional_example.csv")
    with pytest.raises(DataError, match=r"no spend column found by name.*\n  fix: pass spend=.*x1, x2"):
        _init(tmp_path, path)
    cfg, _ = _init(tmp_path, path, "spend=x1,x2")
    assert (cfg.time, cfg.geo, cfg.kpi, cfg.controls) == ("date", "geo", "y", ["event_1", "event_2"])
    assert dict(load_dataset(cfg).sizes) == {"geo": 2, "time": 159, "channel": 2, "control": 2}


def test_bad_keys_columns_and_data_fail_clearly_and_write_nothing(tmp_path):
    df = _panel()
    data = tmp_path / "panel.csv"
    df.to_csv(data, index=False)
    with pytest.raises(ConfigError, match="unknown key 'kpl'"):
        _init(tmp_path, data, "kpl=sales")
    with pytest.raises(DataError, match=r"no column 'units' \(given as kpi=units\)"):
        _init(tmp_path, data, "kpi=units")
    with pytest.raises(ConfigError, match="exposure.radio=: no channel 'radio'"):
        _init(tmp_path, data, "kpi=sales", "exposure.radio=tv_impressions")
    df.loc[4, "tv_spend"] = -1.0
    df.to_csv(data, index=False)
    with pytest.raises(DataError, match=r"column 'tv_spend': negative spend in row 5(.|\n)*not written"):
        _init(tmp_path, data, "kpi=sales")
    assert not (tmp_path / "data").exists()


def test_parquet_datetimes_and_monthly_national_data(tmp_path, capsys):
    months = pd.date_range("2020-01-31", periods=36, freq="ME")
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"month": months, "Radio_Spend": rng.gamma(2.0, 10.0, 36),
                       "RadioGRPs": rng.gamma(2.0, 5.0, 36), "orders": rng.poisson(50.0, 36) + 1,
                       "year": months.year, "promo": rng.integers(0, 2, 36)})
    data = tmp_path / "monthly.parquet"
    df.to_parquet(data)
    cfg, _ = _init(tmp_path, data)
    assert (cfg.time, cfg.geo, cfg.kpi, cfg.controls) == ("month", None, "orders", ["promo"])
    assert cfg.channels["Radio"].spend == "Radio_Spend" and cfg.channels["Radio"].exposure == "RadioGRPs"
    printed = capsys.readouterr().out
    assert "frequency: monthly" in printed and "model.period=12" in printed
    assert "left out: year  (a calendar" in printed


def test_media_names_and_frequencies():
    assert media_role("Channel0_spend") == ("spend", "Channel0")
    assert media_role("Channel0_impression") == ("exposure", "Channel0")
    assert media_role("GOOGLE_SPEND") == ("spend", "GOOGLE")
    assert media_role("facebookSpend") == ("spend", "facebook")
    assert media_role("search_clicks_P") == ("exposure", "search")
    assert media_role("facebook_I") == ("exposure", "facebook")
    assert media_role("mdsp_viddig") == ("spend", "viddig")
    for name in ("revenue_per_conversion", "cost_per_click", "Channel3_reach", "sales", "x1"):
        assert media_role(name) is None, name
    days = pd.Series(pd.date_range("2024-01-01", periods=40, freq="D"))
    assert frequency(days)[:2] == ("daily", 365.25)
    assert frequency(pd.Series(pd.date_range("2024-01-07", periods=10, freq="7D")))[0] == "weekly"
