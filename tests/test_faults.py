"""Fault injection on real processes: ``mmm-geo`` killed with SIGKILL at chosen points (the test
hook ``MMM_GEO_FAULT``, mmm_geo/faults.py), two sweeps on one experiment at once, and run files
damaged after the fit finished. Fits are tiny (1 geo x 30 weeks, 2 chains x 50 + 50): plumbing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_geo import faults
from mmm_geo import run as run_module
from mmm_geo.errors import RunError
from mmm_geo.experiments import store
from mmm_geo.run import load_run

MMM = str(Path(sys.executable).with_name("mmm-geo"))
TINY = ["experiment=tiny", "simulation.geos=1", "simulation.channels=1", "simulation.weeks=30",
        "inference.warmup=50", "inference.draws=50"]


def mmm(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([MMM, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def killed_at(point: str, args, cwd: Path, env: dict) -> str:
    """Run ``mmm-geo *args`` until it reaches the fault point ``point``, SIGKILL the process that
    reached it, and return the command's output up to then."""
    mark, log = cwd / "fault.pid", cwd / "fault.log"
    mark.unlink(missing_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen([MMM, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env={**env, faults.FAULT: point, faults.MARK: str(mark)},
                                start_new_session=True)
    try:
        deadline = time.time() + 600
        while not (mark.is_file() and mark.read_text().strip()):
            assert proc.poll() is None, f"ended before {point}:\n{log.read_text()[-3000:]}"
            assert time.time() < deadline, f"never reached {point}"
            time.sleep(0.1)
        os.kill(int(mark.read_text()), signal.SIGKILL)
        assert proc.wait(60) != 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return log.read_text()


def posterior_equal(a: Path, b: Path) -> bool:
    pa, pb = load_run(a).idata.posterior, load_run(b).idata.posterior
    return set(pa.data_vars) == set(pb.data_vars) and all(
        np.array_equal(pa[v].values, pb[v].values) for v in pa.data_vars)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, env):
    """A complete tiny run (seed 0), fitted by ``mmm-geo fit`` in a subprocess."""
    where = tmp_path_factory.mktemp("finished")
    res = mmm("fit", *TINY, f"output_dir={where / 'run'}", cwd=where, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return where / "run"


@pytest.mark.slow
def test_killed_while_sampling_is_refused_and_the_same_command_completes_it(tmp_path, env,
                                                                           finished):
    run = tmp_path / "run"
    args = ["fit", *TINY, f"output_dir={run}"]
    killed_at("sample", args, tmp_path, env)
    assert not (run / store.COMPLETE).exists()
    with pytest.raises(RunError, match="not a complete run"):
        load_run(run)
    res = mmm(*args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert load_run(run).metrics["complete"]
    assert posterior_equal(run, finished)  # as if it had never been killed


@pytest.mark.slow
def test_killed_while_writing_the_trace_over_a_finished_run(tmp_path, env, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    old = store.file_sha256(run / "trace.nc")
    args = ["fit", *TINY, "seed=1", f"output_dir={run}"]
    killed_at("write:trace.nc", args, tmp_path, env)
    temps = list(run.glob(".trace.nc.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # killed inside the write
    assert store.file_sha256(run / "trace.nc") == old       # the old trace was never touched ...
    assert not (run / store.COMPLETE).exists()              # ... but the folder is not complete
    with pytest.raises(RunError, match="not a complete run"):
        load_run(run)
    res = mmm(*args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not list(run.glob(".*.tmp"))                     # the killed write's leftover is gone
    assert load_run(run).metrics["complete"] and not posterior_equal(run, finished)  # seed 1


@pytest.mark.slow
def test_killed_during_the_index_rebuild_the_next_run_rebuilds_it(tmp_path, env):
    exp = tmp_path / "exp"
    store.update_index(exp)                                 # an index listing no run yet
    args = ["fit", "--multirun", *TINY, f"hydra.sweep.dir={exp}"]
    killed_at("write:index.csv", args, tmp_path, env)
    (run,) = store.run_dirs(exp)
    assert store.status(run) == "complete"
    assert store.read_index(exp) == [] and list(exp.glob(".index.csv.*.tmp"))  # stale, killed
    res = mmm(*args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "already complete" in res.stdout and "fitting in" not in res.stdout
    assert [(r["run_id"], r["status"]) for r in store.read_index(exp)] == [(run.name, "complete")]
    assert not list(exp.glob(".index.csv.*.tmp"))


@pytest.mark.slow
def test_two_sweeps_at_once_fit_each_point_once(tmp_path, env):
    exp = tmp_path / "exp"
    args = [MMM, "fit", "--multirun", *TINY, "seed=0,1", f"hydra.sweep.dir={exp}"]
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outs)
    runs = store.run_dirs(exp)
    assert len(runs) == 2 and {store.status(r) for r in runs} == {"complete"}
    assert sum(o.count(": fitting in ") for o in outs) == 2, outs
    assert [store.read_json(r / store.RECORD)["attempts"] for r in runs] == [1, 1]
    index = pd.read_csv(exp / store.INDEX)
    assert sorted(index["run_id"]) == [r.name for r in runs]
    assert set(index["status"]) == {"complete"}
    _truncate(runs[0] / "trace.nc")                         # a sweep's run names the sweep's fix
    fix = f"fix: delete {runs[0] / store.COMPLETE} and re-run the sweep"
    with pytest.raises(RunError, match=re.escape(fix)):
        load_run(runs[0])


@pytest.mark.slow
@pytest.mark.parametrize("name, damage, words", [
    ("trace.nc", _truncate, "corrupt: its SHA-256"),
    ("trace.nc", _flip_byte, "corrupt: its SHA-256"),
    ("config.yaml", lambda p: p.write_text(p.read_text() + "seed: 7\n"), "corrupt: its SHA-256"),
    ("scaling.json", Path.unlink, "missing, but the finished fit wrote it"),
])
def test_a_file_damaged_after_the_fit_is_refused_before_anything_is_read(
        finished, tmp_path, monkeypatch, name, damage, words):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    sums = json.loads((run / store.COMPLETE).read_text())[store.SHA256]
    assert set(sums) >= {"trace.nc", "config.yaml", "scaling.json", "summary.csv"}
    assert all(store.file_sha256(run / n) == s for n, s in sums.items())
    damage(run / name)

    def never(path):
        raise AssertionError(f"{path} was read before its checksum was checked")

    monkeypatch.setattr(run_module, "load_trace", never)
    with pytest.raises(RunError) as err:
        load_run(run)
    msg = str(err.value)
    assert msg.startswith(f"{run / name}: {words}") and "fix: re-run the fit" in msg, msg
    assert f"output_dir={run}" in msg


@pytest.mark.slow
def test_a_run_without_checksums_is_refused(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    metrics = json.loads((run / store.COMPLETE).read_text())
    del metrics[store.SHA256]
    (run / store.COMPLETE).write_text(json.dumps(metrics))
    with pytest.raises(RunError, match="no checksums of the run's files"):
        load_run(run)
