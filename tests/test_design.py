"""``mmm-geo design-test``: the preposterior pieces on arrays (importance weights with the truth
left out, weighted intervals), the candidate grid, and the ranking on the session's quick run: a
test drowned in noise is worth nothing and teaches nothing, a sharp one narrows the ROI, the same
seed gives the same table, and bad input is a user error (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmm_geo.config import DesignConfig, OptimizerConfig
from mmm_geo.errors import ConfigError
from mmm_geo.optimize.design import candidates, design, geo_sets, interval_width, reweight
from mmm_geo.run import load_run


def test_weights_leave_each_truth_out_and_follow_the_noise():
    rng = np.random.default_rng(0)
    lift = rng.normal(10.0, 2.0, 300)
    outer = np.array([3, 50, 299])
    w, ess = reweight(lift, 1e6, outer, np.random.default_rng(1))
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert np.all(w[np.arange(3), outer] == 0)
    np.testing.assert_allclose(ess, 299, rtol=1e-6)              # no information: every other draw
    w, ess = reweight(lift, 0.05, outer, np.random.default_rng(1))
    assert np.all(ess < 20) and np.all(w[np.arange(3), outer] == 0)
    near = np.abs(lift[None, :] - lift[outer][:, None])
    assert np.all((w * near).sum(1) < 0.5)                        # mass on draws with that lift


def test_weighted_interval_width_matches_quantiles():
    values = np.random.default_rng(2).normal(0, 1, 2000)
    got = interval_width(values, np.full((1, 2000), 1 / 2000))[0]
    want = np.subtract(*np.quantile(values, [0.95, 0.05]))
    assert abs(got - want) < 0.02
    w = np.where(values > 0, 1.0, 0.0)[None]
    half = interval_width(values, w / w.sum())[0]
    pos = values[values > 0]
    assert abs(half - np.subtract(*np.quantile(pos, [0.95, 0.05]))) < 0.03


def test_candidates_cross_channels_geo_sets_weeks_and_changes(quick_run):
    ds = load_run(quick_run).ds
    geos = [str(g) for g in ds["geo"].values]
    order = np.argsort(-ds["kpi"].sum("time").values, kind="stable")
    assert geo_sets(ds, []) == ["all", "|".join(geos[i] for i in order[::2])]
    got = candidates(ds, DesignConfig(test_weeks=[4, 8], changes=[-1.0, 0.5]))
    assert len(got) == 2 * 2 * 2 * 2 and {c.channel for c in got} == {"tv", "search"}
    with pytest.raises(ConfigError, match="unknown geo 'nowhere'"):
        geo_sets(ds, ["nowhere"])
    with pytest.raises(ConfigError, match="unknown channel 'radio'"):
        candidates(ds, DesignConfig(channels=["radio"]))
    with pytest.raises(ConfigError, match="is not a test"):
        candidates(ds, DesignConfig(changes=[0.0]))


def _one(run, se_factor):
    cfg = DesignConfig(channels=["tv"], geo_sets=["all"], test_weeks=[6], changes=[-1.0],
                       draws=120, outer_draws=40, se_factor=se_factor,
                       optimizer=OptimizerConfig(allocation_draws=0))
    return design(run, cfg).iloc[0]


def test_a_test_drowned_in_noise_is_worth_nothing_and_a_sharp_one_narrows_the_roi(quick_run):
    run = load_run(quick_run)
    noise = _one(run, 1e5)
    assert noise["roi_width_ratio"] == pytest.approx(1.0, abs=0.02)
    assert noise["power"] == pytest.approx(0.05, abs=0.01)
    assert noise["ess_mean"] > 110 and not noise["degenerate"]
    sharp = _one(run, 0.05)
    assert sharp["roi_width_ratio"] < 0.8 and sharp["power"] > 0.99
    assert sharp["lift_mean"] < 0 and sharp["cost"] > sharp["spend_moved"] > 0   # a go-dark loses revenue
    assert abs(noise["evsi"]) <= 3 * noise["evsi_se"] + 1e-6 * abs(sharp["cost"])
    again = _one(run, 0.05)
    pd.testing.assert_series_equal(sharp, again)                 # same config and seed, same row


def test_cli_ranks_and_saves_and_refuses_bad_input(quick_run, tmp_path):
    run = tmp_path / "run"
    import shutil

    shutil.copytree(quick_run, run, ignore=shutil.ignore_patterns("design*", "report*"))
    cmd = [sys.executable, "-m", "mmm_geo.cli", "design-test", f"run={run}", "draws=80",
           "outer_draws=20", "test_weeks=[4]"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    table = pd.read_csv(run / "design" / "design.csv")
    assert len(table) == 2 * 2 * 2 and list(table["rank"]) == list(range(1, 9))
    assert table["evsi_per_cost"].is_monotonic_decreasing
    assert "run next: " in res.stdout and (run / "design" / "design.json").is_file()
    bad = subprocess.run(cmd + ["channels=[radio]"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown channel 'radio'" in bad.stderr
    assert "Traceback" not in bad.stderr
