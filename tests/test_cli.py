"""The console command end to end: simulate a panel, fit it from its written config, typo errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def _cli(*args, cwd, env=None):
    """``env``: the session's fit environment (tests/conftest.py: one shared compilation cache)."""
    return subprocess.run([sys.executable, "-m", "mmm_geo.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_simulate_then_fit_from_the_written_config(tmp_path, env):
    sim = _cli("simulate", "simulation.geos=3", "simulation.weeks=40", "simulation.channels=2",
               "simulation.controls=1", "simulation.max_lag=4", "simulation.lift_tests=2", "out=sim",
               cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    frame = pd.read_csv(tmp_path / "sim" / "data.csv")
    assert len(frame) == 3 * 40 and {"tv_spend", "search_impressions", "price_index"} <= set(frame.columns)
    truth = json.loads((tmp_path / "sim" / "truth.json").read_text())
    assert set(truth["national"]) == {"tv", "search"}

    out = tmp_path / "run"
    fit = _cli("fit", "--config-dir", str(tmp_path / "sim"), "data=simulated", "inference=quick",
               "model.adstock.max_lag=4", f"output_dir={out}", cwd=tmp_path, env=env)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "ROI" in fit.stdout and "Convergence" in fit.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["channel"]) == {"tv", "search"}
    assert Path(out / "trace.nc").stat().st_size > 0
    lift = pd.read_csv(out / "lift_tests.csv")            # the written lift tests were read and used
    assert list(lift["channel"]) == ["tv", "search"] and lift["used_in_fit"].all()
    assert metrics["lift_tests"]["tests"] == 2 and "Lift tests" in fit.stdout


def test_typo_in_an_override_fails_before_compute(tmp_path):
    res = _cli("fit", "model.saturaton.kind=hill", cwd=tmp_path)
    assert res.returncode != 0
    assert "saturaton" in res.stderr
    assert not (tmp_path / "experiments").exists() or not any((tmp_path / "experiments").rglob("trace.nc"))


def test_unknown_command_prints_usage():
    res = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "frobnicate"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr


def test_saturation_is_a_config_group_with_the_dotted_syntax():
    """``model.saturation=hill,logistic`` (the issue's sweep syntax) picks options of the
    ``model/saturation`` group; other dotted keys are left as value overrides."""
    from mmm_geo.cli import group_overrides

    assert group_overrides(["model.saturation=hill,logistic", "model.adstock.max_lag=4,8",
                            "model.saturation.kind=hill", "model.saturation=cubic"]) == [
        "model/saturation=hill,logistic", "model.adstock.max_lag=4,8",
        "model.saturation.kind=hill", "model.saturation=cubic"]
    proc = _cli("fit", "model.saturation=logistic", "--cfg", "job", cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr
    assert "kind: logistic" in proc.stdout and "lam:" in proc.stdout


PER_CHANNEL = """# @package _global_
model:
  adstock: {max_lag: 4}
  channels:
    tv:
      adstock: delayed
      saturation: logistic
      priors:
        roi: {dist: lognormal, a: 0.5, b: 0.3}
inference: {chains: 1, warmup: 60, draws: 60, progress_bar: false, ess_min: 10}
simulation: {geos: 3, weeks: 40, channels: 2, controls: 1, max_lag: 4}
"""


@pytest.mark.slow
def test_per_channel_forms_and_priors_from_an_experiment_file(tmp_path, env):
    """A channel's own forms and ROI prior, set in an experiment file, reach the fit: its own
    parameters are sites over that channel only (their own dim in the trace), and the run loads."""
    from mmm_geo.run import load_run

    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "tv_study.yaml").write_text(PER_CHANNEL)
    out = tmp_path / "run"
    proc = _cli("fit", "--config-dir", str(tmp_path / "conf"), "experiment=tv_study",
                f"output_dir={out}", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(out)
    post = run.idata.posterior
    assert post["adstock_peak"].dims[-1] == "adstock_peak_channel"
    assert list(post["adstock_peak_channel"].values) == ["tv"]
    assert list(post["adstock_alpha_channel"].values) == ["tv"]          # delayed's decay
    assert list(post["adstock_mean_lag_channel"].values) == ["search"]   # the default, gamma
    assert list(post["saturation_lam_channel"].values) == ["tv"]
    assert run.config.model.channels["tv"].priors["roi"].a == 0.5
    assert {"roi", "mroi"} <= set(post.data_vars)
