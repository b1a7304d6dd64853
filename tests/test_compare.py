"""`mmm-geo compare` over saved runs: ranking, LOO comparability, notes for broken runs, outputs.

The runs are copies of the session's one quick fit (tests/conftest.py ``quick_run``), edited where
a test needs runs to differ; tests/test_sweep.py compares real sweeps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import arviz as az
import numpy as np
import pandas as pd
import pytest

from mmm_geo.errors import ConfigError, RunError
from mmm_geo.experiments import compare, compare_report


@pytest.fixture
def exp(quick_run, tmp_path):
    """Two complete copies of one run, one killed (no metrics.json), one with a corrupt trace."""
    exp = tmp_path / "exp"
    for name in ("a", "b", "killed", "corrupt"):
        shutil.copytree(quick_run, exp / name)
    (exp / "killed" / "metrics.json").unlink()
    trace = exp / "corrupt" / "trace.nc"
    trace.write_bytes(trace.read_bytes()[:4096])
    return exp


def _set_holdout(run, mape):
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["holdout"] = {"periods": 4, "mape": mape}
    path.write_text(json.dumps(metrics))


def test_compare_ranks_complete_runs_and_notes_broken_ones(exp, tmp_path, capsys):
    out = tmp_path / "out"
    table = compare_report.main([str(exp), "--out", str(out)])
    printed = capsys.readouterr().out
    assert table.attrs["criterion"] == "loo"
    assert list(table["run"][:2]) in (["a", "b"], ["b", "a"]) and list(table["rank"][:2]) == [1, 2]
    assert table["elpd_loo"][0] == pytest.approx(table["elpd_loo"][1])  # the same fit twice
    assert table["rank"][2:].isna().all()
    notes = dict(zip(table["run"], table["note"]))
    assert notes["killed"].startswith("incomplete: no metrics.json")
    assert notes["corrupt"].startswith("corrupt: cannot read trace.nc")
    assert "note: killed: incomplete" in printed and "note: corrupt: corrupt" in printed

    summary = pd.read_csv(exp / "a" / "summary.csv").query("metric == 'roi'").set_index("channel")
    row = table.set_index("run").loc["a"]
    for ch in summary.index:
        assert row[f"roi_{ch}"] == pytest.approx(summary.loc[ch, "median"], rel=1e-6)
        assert row[f"roi_{ch}_p5"] == pytest.approx(summary.loc[ch, "p5"], rel=1e-6)
    loo = az.loo(az.from_netcdf(str(exp / "a" / "trace.nc")))
    assert row["elpd_loo"] == pytest.approx(float(loo["elpd_loo"]), rel=1e-6)
    assert row["elpd_loo_se"] == pytest.approx(float(loo["se"]), rel=1e-6)

    csv = pd.read_csv(out / "compare.csv")
    assert len(csv) == 4
    assert {"elpd_loo", "max_rhat", "divergences", "min_ess_per_s", "run_s"} <= set(csv)
    page = (out / "compare.html").read_text()
    assert "Notes" in page and "incomplete" in page and "data:image/png;base64," in page
    assert (out / "roi_forest.png").stat().st_size > 0


def test_holdout_ranking_and_runs_fitted_to_different_data(exp, tmp_path):
    _set_holdout(exp / "a", 0.2)
    _set_holdout(exp / "b", 0.1)
    table = compare.compare_runs([exp / "a", exp / "b"], "holdout")
    assert list(table["run"]) == ["b", "a"] and list(table["rank"]) == [1, 2]

    idata = az.from_netcdf(str(exp / "b" / "trace.nc"))
    idata.load()
    idata.observed_data["kpi"] = idata.observed_data["kpi"] * 1.1
    (exp / "b" / "trace.nc").unlink()
    idata.to_netcdf(str(exp / "b" / "trace.nc"))
    with pytest.raises(ConfigError, match="not comparable"):
        compare.compare_runs([exp / "a", exp / "b"], "loo")
    auto = compare.compare_runs([exp / "a", exp / "b"])  # falls back to the holdout error
    assert auto.attrs["criterion"] == "holdout" and list(auto["run"]) == ["b", "a"]
    assert np.isfinite(auto["elpd_loo"]).all()


def test_compare_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(RunError, match="no such folder"):
        compare.compare_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "compare", str(tmp_path / "empty")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and "no run folders" in res.stderr and "fix:" in res.stderr
    assert "Traceback" not in res.stderr
