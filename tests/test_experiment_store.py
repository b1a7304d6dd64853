"""Run ids, skip / force / resume decisions, locks and the index, without MCMC (the fit child is
replaced by a function that writes a run folder; the real one runs in tests/test_sweep.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mmm_geo.config import DataConfig, FitConfig, InferenceConfig
from mmm_geo.errors import RunError
from mmm_geo.experiments import job, store, tracking


def test_run_id_ignores_fields_that_do_not_change_results(tmp_path):
    base = FitConfig()
    same = dataclasses.replace(base, name="other", output_dir="x", force=True,
                               inference=InferenceConfig(progress_bar=False, strict=True))
    assert store.run_id(base, tmp_path) == store.run_id(same, tmp_path)
    assert store.run_id(dataclasses.replace(base, seed=1), tmp_path) != store.run_id(base, tmp_path)


def test_run_id_follows_the_data_file_bytes(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cfg = FitConfig(data=DataConfig(path="d.csv"))
    first = store.run_id(cfg, tmp_path)
    other_path = FitConfig(data=DataConfig(path=str(data)))
    assert store.run_id(other_path, Path("/")) != first
    data.write_text("a\n2\n")
    assert store.run_id(cfg, tmp_path) != first


class FakeFit:
    """Stands in for the fit child: writes metrics.json (or fails) and counts calls."""

    def __init__(self, fail=False):
        self.calls, self.fail = 0, fail

    def __call__(self, resolved_yaml, run_dir, cwd):
        self.calls += 1
        (run_dir / store.LOG).write_text("line 1\nValueError: boom\n")
        if self.fail:
            return 1
        metrics = {"complete": True, "objective": 0.1 * self.calls, "time": {"total_s": 1.0},
                   "convergence": {"max_rhat": 1.0, "divergences": 0}}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        return 0


def _job(cfg, run_dir, tmp_path):
    run_dir.mkdir(parents=True, exist_ok=True)
    with store.RunLock(run_dir):
        return job._run_locked(cfg, "seed: 0\n", run_dir, tmp_path, ["seed=0"], 0, "[job 0]",
                               tracking.target(cfg, run_dir))


def test_skip_force_resume_and_failure(tmp_path, monkeypatch, capsys):
    fake = FakeFit()
    monkeypatch.setattr(job, "fit_in_child", fake)
    run = tmp_path / "exp" / "abc"
    assert _job(FitConfig(), run, tmp_path) == pytest.approx(0.1) and fake.calls == 1
    assert _job(FitConfig(), run, tmp_path) == pytest.approx(0.1) and fake.calls == 1  # skipped
    assert "already complete" in capsys.readouterr().out
    assert _job(FitConfig(force=True), run, tmp_path) == pytest.approx(0.2) and fake.calls == 2
    assert "forced refit" in capsys.readouterr().out

    (run / "metrics.json").unlink()  # as a killed run leaves it: run.json, no metrics.json
    assert store.status(run) == "incomplete"
    _job(FitConfig(), run, tmp_path)
    assert "re-run of an incomplete run" in capsys.readouterr().out and fake.calls == 3
    assert store.read_json(run / store.RECORD)["attempts"] == 3

    monkeypatch.setattr(job, "fit_in_child", FakeFit(fail=True))
    other = tmp_path / "exp" / "def"
    with pytest.raises(RunError, match="ValueError: boom"):
        _job(FitConfig(), other, tmp_path)
    assert store.status(other) == "failed"


def test_a_run_locked_by_a_live_process_is_running_and_busy(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from mmm_geo.experiments.store import RunLock\n"
         f"with RunLock({str(run)!r}):\n    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert store.status(run) == "running"
        with pytest.raises(store.Busy):
            with store.RunLock(run):
                pass
    finally:
        holder.communicate("")
    assert store.status(run) == "incomplete"  # the lock went with the process


def test_parallel_index_updates_lose_no_run(tmp_path):
    exp = tmp_path / "exp"
    code = ("import sys; from pathlib import Path; from mmm_geo.experiments import store\n"
            "exp = Path(sys.argv[1])\n"
            "for i in range(5):\n"
            "    d = exp / f'{sys.argv[2]}{i}'; d.mkdir(parents=True)\n"
            "    store.start_record(d, d.name, ['x=' + d.name], i); store.update_index(exp)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(exp), tag]) for tag in "abcd"]
    assert all(p.wait(120) == 0 for p in procs)
    index = pd.read_csv(exp / store.INDEX)
    assert len(index) == 20 and set(index["status"]) == {"incomplete"}


def test_the_fit_child_gets_the_experiment_compilation_cache(tmp_path, monkeypatch):
    seen = {}

    class FakePopen:
        pid = 4242
        returncode = 0

        def __init__(self, args, **kw):
            seen.update(args=args, env=kw["env"], cwd=kw["cwd"])

        def communicate(self, text):
            seen["stdin"] = text

    monkeypatch.setattr(job.subprocess, "Popen", FakePopen)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    run = tmp_path / "exp" / "abc"
    run.mkdir(parents=True)
    assert job.fit_in_child("seed: 0\n", run, tmp_path) == 0
    assert seen["env"]["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "exp" / store.JAX_CACHE)
    assert seen["args"][1:] == ["-m", "mmm_geo.experiments.job", str(run), str(os.getpid())]
    assert seen["stdin"] == "seed: 0\n" and seen["cwd"] == tmp_path
    assert store.read_json(run / store.RECORD)["fit_pid"] == 4242
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/elsewhere")
    job.fit_in_child("seed: 0\n", run, tmp_path)
    assert seen["env"]["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"
