"""The simulator: the default panel is unchanged, the wide family has the properties it promises,
the truth is the panel's (brute force), the forms are hand-checked; (slow) the coverage battery's
pipeline end to end on one small panel.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_geo.config import SimulationConfig
from mmm_geo.data.sim_forms import Media, adstock, lag_weights, media_effect, saturate
from mmm_geo.data.simulate import CHANNEL_NAMES, simulate, true_revenue, write_simulation
from mmm_geo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
WIDE_SEEDS = range(4)


def wide(seed: int = 0, **kw) -> SimulationConfig:
    return SimulationConfig(family="wide", seed=seed, channels=5, max_lag=13, **kw)


def arrays(frame: pd.DataFrame, cfg: SimulationConfig, what: str = "spend") -> np.ndarray:
    """A ``<channel>_<what>`` block of the table as (geo, week, channel); rows are geo-major."""
    cols = [f"{ch}_{what}" for ch in CHANNEL_NAMES[: cfg.channels]]
    return frame[cols].to_numpy().reshape(cfg.geos, cfg.weeks, cfg.channels)


def kpi_cycle(weeks: int) -> np.ndarray:
    """The simulator's seasonal cycle of the KPI (module docstring of mmm_geo.data.simulate)."""
    t = np.arange(weeks)
    return 0.08 * np.sin(2 * np.pi * t / 52.18) + 0.04 * np.cos(4 * np.pi * t / 52.18)


# ---------------------------------------------------------------- the default panel is unchanged

# Computed with the simulator at commit 7726472 (before the wide family): per numeric column its
# sum and its dot product with cos(0.37 i) over the rows; the national truth (roi, mroi,
# contribution); the true and measured lift of the lift-test panel. Bit-for-bit identity of the
# table and truth with that commit was checked when the wide family was added.
DEFAULT = {
    "revenue": [30153022223.058533, 139201181.52090573],
    "population": [1840515872.0, 4530005.63046623],
    "tv_spend": [1256020189.1664522, -17851604.069631994],
    "tv_impressions": [149188225944.0, -2120387196.4354556],
    "search_spend": [487103854.609607, 107747.0648188768],
    "search_impressions": [33927064827.0, 7504643.217318147],
    "social_spend": [996426243.0884908, 17928165.163045105],
    "social_impressions": [104621198718.0, 1882393347.5592422],
    "display_spend": [307210876.01751506, 7733561.605443044],
    "display_impressions": [30628245287.0, 771018996.222508],
    "price_index": [85.81574887671943, 1.756755573997534],
    "competitor": [-46.292360785169905, 12.305868547020367],
}
DEFAULT_TRUTH = {
    "tv": [1.854575799027777, 0.8427943016967426, 2329384645.918392],
    "search": [2.4483399561566186, 1.526960079087444, 1192595830.038605],
    "social": [2.638511213262818, 1.5756336491122696, 2629081815.5783253],
    "display": [3.0636843775204383, 1.9517337038109273, 941197161.4592292],
}
LIFT_CFG = SimulationConfig(seed=1, lift_tests=5, dark_min=0.0)
LIFT = {
    "revenue": [33237566637.912125, 149088261.95176196],
    "tv_spend": [1675043069.6543572, 873990.211061798],
    "social_impressions": [95151342585.0, -963251127.1140614],
}
LIFT_TRUE = [130238363.1144982, 10375760.785261653, 28700224.118833363, 79367405.721764,
             217010194.0103883]
LIFT_MEASURED = [133086081.37687011, 10738727.720437562, 30806093.32800535, 78900397.26247725,
                 196656135.78547668]


def _fingerprint(frame: pd.DataFrame, cols) -> dict:
    w = np.cos(0.37 * np.arange(len(frame)))
    return {c: [float(frame[c].sum()), float(frame[c].to_numpy() @ w)] for c in cols}


def _same(got: dict, want: dict) -> None:
    for col, (total, dot) in want.items():
        g_total, g_dot = got[col]
        assert g_total == pytest.approx(total, rel=1e-12), col
        assert g_dot == pytest.approx(dot, rel=1e-12, abs=1e-12 * abs(total)), col


def test_default_panel_is_unchanged():
    frame, truth = simulate()
    assert list(frame.columns) == ["geo", "week", "revenue", "population"] + [
        f"{ch}_{k}" for ch in ("tv", "search", "social", "display") for k in ("spend", "impressions")
    ] + ["price_index", "competitor"]
    assert (str(frame["week"].iloc[0].date()), str(frame["week"].iloc[-1].date())) == (
        "2023-01-02", "2024-12-23")
    _same(_fingerprint(frame, DEFAULT), DEFAULT)
    for col in DEFAULT:                          # whole numbers: exactly
        if col.endswith("impressions") or col == "population":
            assert frame[col].sum() == DEFAULT[col][0]
    for ch, (roi, mroi, contribution) in DEFAULT_TRUTH.items():
        got = truth["national"][ch]
        assert [got["roi"], got["mroi"], got["contribution"]] == pytest.approx(
            [roi, mroi, contribution], rel=1e-12)
    assert set(truth) >= {"national", "geo", "params", "media_total", "channels", "classes"}


def test_lift_test_panel_is_unchanged():
    frame, truth = simulate(LIFT_CFG)
    _same(_fingerprint(frame, LIFT), LIFT)
    assert [r["true_lift"] for r in truth["lift_tests"]] == pytest.approx(LIFT_TRUE, rel=1e-12)
    assert [r["lift"] for r in truth["lift_tests"]] == pytest.approx(LIFT_MEASURED, rel=1e-12)


def test_wide_family_fields_do_not_touch_the_default_family():
    frame, truth = simulate()
    other, other_truth = simulate(SimulationConfig(adstocks=["weibull"], saturations=["exponential"],
                                                   spend_ratio=3.0, class_share=1.0))
    pd.testing.assert_frame_equal(frame, other, check_exact=True)
    assert truth["national"] == other_truth["national"]


def test_default_truth_describes_the_default_forms():
    _, truth = simulate()
    for ch, d in truth["channels"].items():
        assert (d["adstock"], d["saturation"]) == ("geometric", "hill")
        assert d["saturation_params"]["slope"] == 1.0
        assert set(truth["classes"][ch]) <= {"small", "weak", "always_on", "long_carryover",
                                             "seasonal_flighting"}


# ---------------------------------------------------------------- the wide family

@pytest.fixture(scope="module")
def wide_panels():
    return [(wide(s), *simulate(wide(s))) for s in WIDE_SEEDS]


def test_wide_family_has_every_promised_property(wide_panels):
    slopes, adstocks, saturations, decays = [], set(), set(), []
    for cfg, frame, truth in wide_panels:
        spend = arrays(frame, cfg)
        totals = spend.sum(axis=(0, 1))
        national = spend.sum(axis=0)
        corr = [np.corrcoef(national[:, j], kpi_cycle(cfg.weeks))[0, 1] for j in range(cfg.channels)]
        roi = [truth["national"][ch]["roi"] for ch in truth["channels"]]
        assert totals.max() / totals.min() >= 20
        assert min(roi) < 1                                    # a weak channel
        assert (national > 0).all(axis=0).any()                # an always-on channel
        assert (national == 0).any(axis=0).any()               # and a flighted one
        assert max(corr) >= 0.5                                # spend peaks with the KPI's season
        lags = [d["mean_lag"] for d in truth["channels"].values()]
        assert max(lags) >= 2
        for d in truth["channels"].values():
            assert len(d["lag_weights"]) == 13
            adstocks.add(d["adstock"])
            saturations.add(d["saturation"])
            if "slope" in d["saturation_params"]:
                slopes.append(d["saturation_params"]["slope"])
            if d["adstock"] == "geometric":
                decays.append(d["adstock_params"]["alpha"])
    assert 0.7 <= min(slopes) < 1.0 and 2.2 < max(slopes) <= 2.5
    assert adstocks == {"geometric", "delayed", "weibull"}
    assert saturations == {"hill", "exponential", "hill_offset"}
    assert max(decays) <= 0.85 and max(decays) >= 0.6


def test_class_labels_match_the_panel(wide_panels):
    for cfg, frame, truth in wide_panels:
        spend = arrays(frame, cfg)
        share = spend.sum(axis=(0, 1)) / spend.sum()
        national = spend.sum(axis=0)
        for j, ch in enumerate(truth["channels"]):
            d, labels = truth["channels"][ch], set(truth["classes"][ch])
            corr = np.corrcoef(national[:, j], kpi_cycle(cfg.weeks))[0, 1]
            long = d["mean_lag"] >= 2 or (d["adstock"] == "geometric" and d["adstock_params"]["alpha"] >= 0.6)
            want = {"small": share[j] <= 0.10, "weak": truth["national"][ch]["roi"] < 1,
                    "always_on": bool((national[:, j] > 0).all()), "long_carryover": long,
                    "seasonal_flighting": abs(corr) >= 0.5}
            assert labels == {k for k, v in want.items() if v}, (cfg.seed, ch)
            lag = np.arange(13) @ np.asarray(d["lag_weights"])
            assert d["mean_lag"] == pytest.approx(lag)


@pytest.mark.parametrize("cfg", [SimulationConfig(noise=0.0), wide(1, geos=4, weeks=60, noise=0.0),
                                 wide(2, geos=3, weeks=50, noise=0.0, lift_tests=2)])
def test_true_roi_and_mroi_by_brute_force(cfg):
    """Re-simulate with one channel's spend off (or 1 % up), noise off: the revenue difference is
    the truth's contribution (and 1 % of spend times its marginal ROI)."""
    frame, truth = simulate(cfg)
    revenue = frame["revenue"].to_numpy().reshape(cfg.geos, cfg.weeks)
    spend = arrays(frame, cfg)
    for j, ch in enumerate(CHANNEL_NAMES[: cfg.channels]):
        scale = np.ones(cfg.channels)
        scale[j] = 0.0
        off = simulate(cfg, spend_scale=scale)[0]["revenue"].to_numpy().reshape(cfg.geos, cfg.weeks)
        scale[j] = 1.01
        up = simulate(cfg, spend_scale=scale)[0]["revenue"].to_numpy().reshape(cfg.geos, cfg.weeks)
        nat = truth["national"][ch]
        assert (revenue - off).sum() / spend[..., j].sum() == pytest.approx(nat["roi"], rel=1e-9)
        assert (up - revenue).sum() / (0.01 * spend[..., j].sum()) == pytest.approx(nat["mroi"], rel=1e-7)
        geo0 = truth["geo"]["geo_00"][ch]
        assert (revenue - off)[0].sum() / spend[0, :, j].sum() == pytest.approx(geo0["roi"], rel=1e-9)
        assert nat["contribution"] / nat["spend"] == nat["roi"]


SYNERGY = SimulationConfig(geos=4, weeks=60, channels=3, synergy=[["tv", "social"]], synergy_kappa=0.8)


@pytest.mark.parametrize("cfg", [SimulationConfig(), wide(3), SYNERGY])
def test_true_revenue_of_the_panels_spend_is_its_media_total(cfg, tmp_path):
    frame, truth = simulate(cfg)
    loaded = json.loads(json.dumps(truth))                     # what truth.json holds
    got = true_revenue(arrays(frame, cfg), loaded)
    own = sum(truth["national"][ch]["contribution"] for ch in truth["channels"])
    syn = sum(v["contribution"] for v in truth.get("synergy", {}).values())
    assert got.sum() == pytest.approx(own + syn, rel=1e-6)     # impressions are rounded in the table
    assert truth["media_total"] == pytest.approx(own + syn, rel=1e-12)
    assert true_revenue(2 * arrays(frame, cfg), loaded).sum() > got.sum()


def test_synergy_panel_truth_is_its_counterfactuals():
    frame, truth = simulate(SYNERGY)
    g, t = SYNERGY.geos, SYNERGY.weeks
    revenue = frame["revenue"].to_numpy().reshape(g, t)
    spend = arrays(frame, SYNERGY)
    syn = truth["synergy"]["tv:social"]
    assert syn["kappa"] == 0.8 and syn["contribution"] > 0
    for j, ch in enumerate(CHANNEL_NAMES[:3]):
        scale = np.ones(3)
        scale[j] = 0.0
        off = simulate(SYNERGY, spend_scale=scale)[0]["revenue"].to_numpy().reshape(g, t)
        lost = (revenue - off).sum()
        nat = truth["national"][ch]
        assert lost / spend[..., j].sum() == pytest.approx(nat["roi_total"], rel=1e-9)
        paired = ch in ("tv", "social")
        assert lost == pytest.approx(nat["contribution"] + (syn["contribution"] if paired else 0), rel=1e-9)
    total = lambda scale: simulate(SYNERGY, spend_scale=np.array(scale))[0]["revenue"].sum()  # noqa: E731
    interaction = revenue.sum() - total([0.0, 1, 1]) - total([1.0, 1, 0]) + total([0.0, 1, 0])
    assert interaction == pytest.approx(syn["contribution"], rel=1e-6)


def test_simulated_synergy_needs_two_of_the_panels_channels():
    with pytest.raises(ConfigError, match="not a pair"):
        simulate(SimulationConfig(channels=3, synergy=[["tv", "radio"]]))


def test_write_simulation_and_cli_make_wide_panels(tmp_path):
    paths = write_simulation(wide(0, geos=3, weeks=40), tmp_path / "w")
    truth = json.loads((tmp_path / "w" / "truth.json").read_text())
    assert truth["family"] == "wide" and len(truth["classes"]) == 5 and len(paths) == 3
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "simulate", "simulation.family=wide",
                           "simulation.geos=3", "simulation.weeks=40", "simulation.adstocks=[weibull]",
                           "simulation.saturations=[exponential]", f"out={out}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    chans = json.loads((out / "truth.json").read_text())["channels"].values()
    assert {(c["adstock"], c["saturation"]) for c in chans} == {("weibull", "exponential")}


@pytest.mark.parametrize("kw,match", [({"family": "narrow"}, "family='narrow' is unknown"),
                                      ({"family": "wide", "adstocks": ["cubic"]}, "adstock 'cubic'"),
                                      ({"saturation": "gompertz"}, "saturation 'gompertz'"),
                                      ({"family": "wide", "spend_ratio": 0.5}, "spend_ratio >= 1")])
def test_bad_simulation_options_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        simulate(SimulationConfig(**kw))


# ---------------------------------------------------------------- the forms, by hand

def test_adstock_weights_on_an_impulse():
    kinds = ["geometric", "delayed", "weibull", "weibull"]
    p = {"alpha": np.array([0.5, 0.5, 0.0, 0.0]), "peak": np.array([0.0, 2.0, 0.0, 0.0]),
         "shape": np.array([1.0, 1.0, 2.0, 0.8]), "scale": np.array([1.0, 1.0, 3.0, 1.5])}
    w = lag_weights(kinds, p, 5)
    x = np.zeros((1, 8, 4))
    x[0, 1] = 2.0                                              # an impulse of 2 in week 1
    out = adstock(x, w)[0]
    geometric = np.array([16, 8, 4, 2, 1]) / 31
    delayed = np.array([1 / 16, 1 / 2, 1, 1 / 2, 1 / 16]) / 2.125       # 0.5 ** ((l - 2) ** 2)
    weib = np.array([(l + 1) / 3 * math.exp(-(((l + 1) / 3) ** 2)) for l in range(5)])
    weib_decay = np.array([((l + 1) / 1.5) ** -0.2 * math.exp(-(((l + 1) / 1.5) ** 0.8))
                           for l in range(5)])
    for j, want in enumerate([geometric, delayed, weib / weib.sum(), weib_decay / weib_decay.sum()]):
        np.testing.assert_allclose(out[:, j], np.r_[0.0, 2 * want, 0.0, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out[1:6, 2], 2 * np.array([0.209674, 0.300475, 0.258598, 0.158409,
                                                          0.072844]), atol=2e-6)
    assert np.argmax(w[:, 1]) == 2 and np.argmax(w[:, 2]) == 1 and np.all(np.diff(w[:, 3]) < 0)


def test_saturation_curves_by_hand():
    kinds = ["hill", "hill_offset", "exponential", "michaelis_menten", "tanh", "logistic"]
    p = {"half_saturation": np.array([1.5, 1.0, 0, 2.0, 2.0, 0]), "slope": np.array([2.5, 0.7, 0, 0, 0, 0]),
         "offset": np.array([0, 0.3, 0, 0, 0, 0]), "exp_scale": np.array([0, 0, 0.8, 0, 0, 0]),
         "lam": np.array([0, 0, 0, 0, 0, 1.2])}
    a = np.array([[1.5, 1.3, 0.8, 2.0, 1.0, 1.0], [3.0, 0.2, 1.6, 1.0, 2.0, 0.5]])
    got = saturate(a, kinds, p)
    want = [[0.5, 0.5, 1 - math.exp(-1), 0.5, math.tanh(0.5), (1 - math.exp(-1.2)) / (1 + math.exp(-1.2))],
            [2 ** 2.5 / (2 ** 2.5 + 1), 0.0, 1 - math.exp(-2), 1 / 3, math.tanh(1.0),
             (1 - math.exp(-0.6)) / (1 + math.exp(-0.6))]]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    media = Media(["geometric"] * 6, kinds, {**p, "alpha": np.zeros(6)}, lag_weights(["geometric"] * 6,
                  {"alpha": np.zeros(6)}, 3), np.full((1, 6), 2.0))
    np.testing.assert_allclose(media_effect(a[None], media)[0], 2 * got, rtol=1e-12)


# ---------------------------------------------------------------- the battery's pipeline

def _script():
    spec = importlib.util.spec_from_file_location("coverage_script", ROOT / "scripts" / "coverage.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_a_failed_panel_is_recorded_and_the_battery_goes_on(tmp_path):
    script = _script()
    rows, panel = script.evaluate_panel(script.panel_config(0, channels=0), tmp_path / "p0")
    assert rows.empty and panel["status"] == "error" and "at least 1 channel" in panel["error"]
    script.record(tmp_path, "s", rows, panel)
    text = script.summary(tmp_path, "s")
    assert "| 0 | error |" in text and "1 panels, 0 finished" in text
    assert len(script.load_done(tmp_path, "s", retry_failed=True)) == 0       # retried next time
    with pytest.raises(SystemExit, match="other settings"):
        script.record(tmp_path, "s", rows, panel)
        script.load_done(tmp_path, "other", retry_failed=False)


@pytest.mark.slow
def test_coverage_battery_pipeline(tmp_path, capsys):
    """One small wide panel through scripts/coverage.py with short chains: the fit, the interval
    coverage, the optimizer re-plan judged under the truth, the CSVs, the resume and the table."""
    script = _script()
    argv = ["--panels", "1", "--quick", "--geos", "4", "--weeks", "78", "--channels", "4",
            "--window", "26", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    panels, chans = pd.read_csv(tmp_path / "panels.csv"), pd.read_csv(tmp_path / "channels.csv")
    assert list(panels["status"]) == ["ok"], panels["error"].tolist()
    assert len(chans) == 8 and set(chans["metric"]) == {"roi", "mroi"}
    table = script.class_table(chans)
    cover = table[["roi_in50", "roi_in90", "mroi_in50", "mroi_in90"]].to_numpy(float)
    assert np.all((cover[~np.isnan(cover)] >= 0) & (cover[~np.isnan(cover)] <= 1))
    assert np.all(table["roi_in90"].dropna() >= table["roi_in50"].dropna() - 1e-12)
    row = panels.iloc[0]
    assert np.isfinite(row["capture"]) and row["capture"] <= 1 + 1e-6
    assert row["true_optimum"] >= row["true_recommended"] - 1e-6 * abs(row["true_optimum"])
    assert np.isfinite(row["max_rhat"]) and row["divergences"] >= 0
    capsys.readouterr()
    assert script.main(argv) == 0                              # resumes: nothing left to fit
    printed = capsys.readouterr().out
    assert "1 panels done, 0 to fit" in printed and "| all |" in printed
    assert (tmp_path / "summary.md").read_text().strip() in printed
