"""One job of a Hydra sweep: skip it if done, else fit it in a fresh child process.

Whatever the launcher (basic, joblib, submitit, Ray), the fit of every job runs in its own
process, started here and ended when the fit ends, so JAX's memory (compiled programs, device
buffers, a preallocated GPU pool) is returned to the system between jobs. The job's own process
only hashes the config, takes the run folder's lock and waits; it never imports JAX.

The child is ``python -m mmm_geo.experiments.job <run_dir> <parent pid>`` with the resolved config
on stdin. It asks the kernel to kill it when its parent dies, so killing a sweep kills its fits.

A fresh process would compile the model again for every job; the children share JAX's persistent
compilation cache in ``<experiment>/.jax_cache`` instead (``JAX_COMPILATION_CACHE_DIR`` moves it,
``JAX_ENABLE_COMPILATION_CACHE=false`` turns it off). A cache hit is the same executable, so the
results are identical; on the tiny test panel it cuts a fit's CPU time by about 3x.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from mmm_geo.config import FitConfig
from mmm_geo.errors import RunError
from mmm_geo.experiments import store, tracking

PR_SET_PDEATHSIG = 1


def _label(overrides: List[str]) -> str:
    return " ".join(overrides) or "(no overrides)"


def run_in_sweep(cfg: FitConfig, resolved_yaml: str) -> float:
    """Run (or skip) the current Hydra multirun job; returns the run's objective for sweepers."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    cwd = Path(hc.runtime.cwd)
    exp_dir = Path(hc.sweep.dir)
    exp_dir = exp_dir if exp_dir.is_absolute() else cwd / exp_dir
    overrides = [o for o in hc.overrides.task if not o.startswith("force=")]
    num = hc.job.get("num")
    run_dir = exp_dir / store.run_id(cfg, cwd)
    where = tracking.target(cfg, run_dir)  # the fit logs itself; a skipped run is logged here
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = f"[job {num}] {_label(overrides)}"
    try:
        with store.RunLock(run_dir):
            return _run_locked(cfg, resolved_yaml, run_dir, cwd, overrides, num, tag, where)
    except store.Busy:
        print(f"{tag}: skipped, {run_dir} is being fitted by another process", flush=True)
        return float("nan")
    finally:
        store.update_index(exp_dir)


def _run_locked(cfg: FitConfig, resolved_yaml: str, run_dir: Path, cwd: Path,
                overrides: List[str], num, tag: str,
                where: Optional[tracking.Target]) -> float:
    done = store.read_metrics(run_dir)
    if done is not None and not cfg.force:
        print(f"{tag}: already complete in {run_dir}, skipped (force=true refits it)", flush=True)
        tracking.log_fit(where, run_dir, overrides)  # unless it is logged already
        return store.objective(done)
    before = (store.read_json(run_dir / store.RECORD) or {}).get("status")
    why = ("forced refit" if done else "new" if before is None else
           "re-run of a failed run" if before == "failed" else "re-run of an incomplete run")
    store.start_record(run_dir, run_dir.name, overrides, num)
    print(f"{tag}: fitting in {run_dir} ({why}; log {store.LOG})", flush=True)
    code = fit_in_child(resolved_yaml, run_dir, cwd)
    metrics = store.read_metrics(run_dir)
    store.record(run_dir, status="complete" if metrics else "failed", exit_code=code,
                 finished_at=store.now())
    if metrics is None:
        tail = _tail(run_dir / store.LOG)
        raise RunError(f"{tag}: the fit failed (exit code {code}); last lines of "
                       f"{run_dir / store.LOG}:\n{tail}\n  fix: correct the cause and re-run the "
                       "sweep; completed runs are skipped")
    from mmm_geo.inference.diagnostics import rhat_text  # arviz, not JAX

    conv = metrics.get("convergence", {})
    print(f"{tag}: done in {metrics['time']['total_s']:.0f} s, objective "
          f"{store.objective(metrics):.4g}, {rhat_text(conv)}, "
          f"divergences {conv.get('divergences', '?')}", flush=True)
    return store.objective(metrics)


def fit_in_child(resolved_yaml: str, run_dir: Path, cwd: Path) -> int:
    """Fit in a new Python process (output to ``fit.log``, its pid in ``run.json``); returns its
    exit code."""
    env = dict(os.environ)
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(run_dir.parent / store.JAX_CACHE))
    with open(run_dir / store.LOG, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mmm_geo.experiments.job", str(run_dir),
                                 str(os.getpid())], stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env, text=True)
        store.record(run_dir, fit_pid=proc.pid)
        proc.communicate(resolved_yaml)
    return proc.returncode


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: killing the sweep's process group still works
        pass
    if os.getppid() != parent:
        sys.exit(1)


def main(argv: List[str]) -> None:
    """Child entry point: fit the config on stdin into ``argv[1]``."""
    run_dir, parent = Path(argv[1]), int(argv[2])
    _die_with_parent(parent)
    text = sys.stdin.read()
    from omegaconf import OmegaConf

    from mmm_geo import cli  # sets XLA_FLAGS before JAX is imported
    from mmm_geo.config import to_config

    cli.quiet_libraries(os.environ.get(cli.VERBOSE_ENV) == "1")  # as the sweep was started

    def go():
        cli.fit_into(to_config(OmegaConf.create(text), FitConfig), run_dir, text)

    cli._guard(go)


if __name__ == "__main__":
    main(sys.argv)
