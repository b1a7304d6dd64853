"""Hydra sweeps on real launchers (joblib, Ray on a local cluster, submitit's local executor, the
basic launcher), a killed sweep resumed, and override typos that fail before any compute."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from mmm_geo.config import FitConfig, to_config
from mmm_geo.data.load import load_dataset
from mmm_geo.experiments import store
from mmm_geo.validation import train_lengths
from tests.conftest import shared_file

REPO = Path(__file__).resolve().parents[1]
# The tiny simulated panel (conf/experiment/tiny.yaml), very short chains: plumbing, not science.
TINY = ["experiment=tiny", "inference.warmup=60", "inference.draws=60"]
GRID = ["model.saturation=hill,logistic", "model.adstock.max_lag=2,4"]


def mmm(*args, cwd, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "mmm_geo.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def complete(exp: Path):
    return [p for p in store.run_dirs(exp) if store.status(p) == "complete"]


def check_grid(exp: Path, out: str):
    """Four complete runs, one per grid point, each fitted in a process of its own."""
    runs = complete(exp)
    assert len(runs) == 4, out[-3000:]
    records = [json.loads((p / store.RECORD).read_text()) for p in runs]
    points = {tuple(sorted(o for o in r["overrides"] if o.startswith("model"))) for r in records}
    assert points == {(f"model.adstock.max_lag={lag}", f"model/saturation={kind}")
                      for lag in (2, 4) for kind in ("hill", "logistic")}
    fit_pids = {r["fit_pid"] for r in records}
    assert len(fit_pids) == 4 and not fit_pids & {r["pid"] for r in records}
    for run in runs:
        assert (run / "trace.nc").stat().st_size > 0 and (run / "config.yaml").is_file()
    index = pd.read_csv(exp / store.INDEX)
    assert sorted(index["run_id"]) == sorted(p.name for p in runs)
    assert set(index["status"]) == {"complete"}
    return runs


def compare_ranks_four(exp: Path, tmp: Path) -> pd.DataFrame:
    res = mmm("compare", str(exp), "--out", str(tmp / "cmp"), cwd=tmp, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ranked by ELPD-LOO" in res.stdout
    table = pd.read_csv(tmp / "cmp" / "compare.csv")
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert table["elpd_loo"].is_monotonic_decreasing and table["elpd_loo_se"].gt(0).all()
    for ch in ("tv", "search"):
        assert (table[f"roi_{ch}_p5"] <= table[f"roi_{ch}"]).all()
        assert (table[f"roi_{ch}"] <= table[f"roi_{ch}_p95"]).all()
    assert (tmp / "cmp" / "roi_forest.png").stat().st_size > 0
    assert "ELPD-LOO" in (tmp / "cmp" / "compare.html").read_text()
    return table


@pytest.mark.slow
def test_joblib_sweep_then_compare_then_rerun_skips_everything(tmp_path, env):
    exp = tmp_path / "exp"
    res = mmm("fit", "--multirun", *TINY, *GRID, "hydra/launcher=parallel",
              f"hydra.sweep.dir={exp}", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    runs = check_grid(exp, res.stdout + res.stderr)
    compare_ranks_four(exp, tmp_path)

    stamps = {p: (p / "metrics.json").stat().st_mtime_ns for p in runs}
    start = time.perf_counter()
    again = mmm("fit", "--multirun", *TINY, *GRID, f"hydra.sweep.dir={exp}", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already complete") == 4 and "fitting" not in again.stdout
    assert {p: (p / "metrics.json").stat().st_mtime_ns for p in runs} == stamps
    assert time.perf_counter() - start < 60  # no fit ran


@contextlib.contextmanager
def ray_cluster(temp_dir: Path, env: dict):
    """A local Ray head started with `ray start --head --block` in its own session; stopped by
    killing exactly that session's processes (`ray stop` would kill every Ray on the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = Path(sys.executable).with_name("ray")
    log = temp_dir / "ray.log"
    proc = subprocess.Popen(
        [str(ray), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir / 'r'}"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = time.time() + 30
        while session_members(proc.pid) and time.time() < deadline:
            time.sleep(0.5)
        assert not session_members(proc.pid), "Ray processes survived the cluster stop"


def session_members(sid: int):
    """Live (non-zombie) processes of session ``sid``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) == sid and not alive_state(int(pid)).startswith("Z"):
                out.append(int(pid))
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            pass
    return out


def alive_state(pid: int) -> str:
    """The process state letter (R, S, Z, ...) or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return ""


@pytest.mark.slow
def test_ray_sweep_on_a_local_cluster(tmp_path, env):
    exp = tmp_path / "exp"
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as tmp, \
            ray_cluster(Path(tmp), env) as addr:
        res = mmm("fit", "--multirun", *TINY, *GRID, "hydra/launcher=ray_cluster",
                  f"hydra.launcher.ray.init.address={addr}", f"hydra.sweep.dir={exp}",
                  cwd=tmp_path, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "Connected to Ray cluster" in out  # joined the test's cluster, did not start its own
    runs = check_grid(exp, out)
    job_pids = {json.loads((p / store.RECORD).read_text())["pid"] for p in runs}
    assert len(job_pids) == 4  # max_calls=1: a fresh Ray worker per job
    compare_ranks_four(exp, tmp_path)


@pytest.mark.slow
def test_killed_sweep_reruns_only_the_missing_runs(tmp_path, env):
    exp = tmp_path / "exp"
    args = ["fit", "--multirun", *TINY, "model.saturation=hill,logistic",
            f"hydra.sweep.dir={exp}"]
    proc = subprocess.Popen([sys.executable, "-m", "mmm_geo.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 600
        while True:  # basic launcher: job 0 completes, then job 1's fit starts
            done = complete(exp)
            started = [p for p in store.run_dirs(exp) if p not in done and
                       (store.read_json(p / store.RECORD) or {}).get("fit_pid")]
            if done and started:
                break
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.2)
        time.sleep(2)  # let the second fit get going
        victim = started[0]
        fit_pid = store.read_json(victim / store.RECORD)["fit_pid"]
        os.kill(proc.pid, signal.SIGKILL)  # kill the sweep process only ...
        proc.wait(30)
        deadline = time.time() + 30  # ... and its running fit dies with it (PR_SET_PDEATHSIG)
        while alive_state(fit_pid) not in ("", "Z") and time.time() < deadline:
            time.sleep(0.2)
        assert alive_state(fit_pid) in ("", "Z")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert store.status(victim) == "incomplete" and not (victim / "metrics.json").exists()
    first = done[0]
    stamp = (first / "trace.nc").stat().st_mtime_ns

    res = mmm(*args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("already complete") == 1
    assert res.stdout.count("re-run of an incomplete run") == 1
    assert (first / "trace.nc").stat().st_mtime_ns == stamp
    assert {p.name for p in complete(exp)} == {first.name, victim.name}
    assert store.read_json(victim / store.RECORD)["attempts"] == 2
    assert set(pd.read_csv(exp / store.INDEX)["status"]) == {"complete"}


@pytest.mark.slow
def test_gpu_batch_script_runs_the_sweep_on_cpu_with_submitit(tmp_path, env):
    exp = tmp_path / "exp"
    env = dict(env, LAUNCHER="local_jobs", GPUS="0", MMM_GEO=f"{sys.executable} -m mmm_geo.cli")
    res = subprocess.run(["bash", str(REPO / "scripts" / "sweep_gpu.sh"), *TINY,
                          "model.adstock.max_lag=2", f"hydra.sweep.dir={exp}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    (run,) = complete(exp)
    assert json.loads((run / "metrics.json").read_text())["time"]["device"] == "cpu"
    submitit_logs = list((exp / ".submitit").rglob("*_log.out"))
    assert submitit_logs and "fitting in" in submitit_logs[0].read_text()


def test_slurm_gpu_launcher_config_sets_gpus_per_job(tmp_path):
    res = mmm("fit", "hydra/launcher=slurm_gpu", "hydra.launcher.gpus_per_node=2", "--cfg", "hydra",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "SlurmLauncher" in res.stdout and "gpus_per_node: 2" in res.stdout
    assert "XLA_PYTHON_CLIENT_PREALLOCATE=false" in res.stdout


@pytest.mark.parametrize("args, words", [
    (["fit", "--multirun", "model.saturaton.kind=hill,logistic", "hydra/launcher=parallel"],
     ["saturaton", "not in 'ModelConfig'"]),
    (["fit", "model.adstock.max_lag=eight"], ["max_lag=eight", "could not be converted"]),
    (["fit", "--multirun", "hydra/launcher=jobllib"], ["jobllib", "parallel", "ray_cluster"]),
])
def test_a_typo_in_an_override_fails_at_once(tmp_path, args, words):
    start = time.perf_counter()
    res = mmm(*args, cwd=tmp_path, timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("mmm-geo: error:") and "fix:" in res.stderr
    assert all(w in res.stderr for w in words), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert time.perf_counter() - start < 30
    assert not list(tmp_path.rglob("run.json")) and not list(tmp_path.rglob("trace.nc"))


def test_meridian_cv_experiment_plans_three_quarterly_folds(tmp_path):
    path = shared_file("meridian", "geo_media.csv")
    res = mmm("fit", "experiment=meridian_cv", f"data.path={path}", "--cfg", "job", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = to_config(OmegaConf.create(res.stdout), FitConfig)
    n_time = load_dataset(cfg.data).sizes["time"]
    assert train_lengths(n_time, cfg.validation, 2 * cfg.model.adstock.max_lag) == [117, 130, 143]
    assert cfg.validation.metric == "cv.mean_mape" and cfg.name == "meridian_cv"
