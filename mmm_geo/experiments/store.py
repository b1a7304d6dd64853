"""Experiment folders: run ids from config hashes, run records, the index, skip and resume.

A sweep writes one folder per distinct configuration::

    <experiment dir>/                  hydra.sweep.dir, by default experiments/<name>/
      index.csv                        one line per run folder, rebuilt from them under a lock
      <run_id>/                        run_id: hash of the resolved config (fields that do not
        run.json                         change results left out) and of the data file's bytes
        fit.log                        the fit's stdout and stderr
        trace.nc config.yaml ...       the run folder of ``mmm_geo.run.fit``; metrics.json last
        .lock                          flock held while a job works in the folder
      .jax_cache/                      compiled XLA programs shared by the jobs (see job.py)

A folder with a readable ``metrics.json`` is complete and is skipped when the same configuration
comes round again (unless ``force=true``). One without it was killed, crashed or is still running:
the lock tells which, and a re-run fits it again. Nothing here imports JAX, so a job's parent
process stays small.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import math
import os
import socket
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from mmm_geo.config import FitConfig, config_hash
from mmm_geo.errors import RunError
from mmm_geo.files import write_text  # noqa: F401  (re-exported: atomic, honours the umask)

COMPLETE = "metrics.json"  # the same file name as mmm_geo.run.COMPLETE (run.py imports JAX)
SHA256 = "sha256"  # metrics.json: {file name: SHA-256} of every file the fit wrote before it
RECORD = "run.json"
INDEX = "index.csv"
LOG = "fit.log"
LOCK = ".lock"
JAX_CACHE = ".jax_cache"  # JAX's persistent compilation cache, shared by an experiment's jobs

# Config fields that do not change a fit's results: left out of the run id.
VOLATILE = ("output_dir", "force", "name", "inference.progress_bar", "inference.strict",
            "prior_only",  # (a sweep refuses prior_only=true)
            "tracking", "tracking_uri", "tracking_experiment")

INDEX_COLUMNS = ["run_id", "status", "overrides", "objective", "max_rhat", "divergences",
                 "total_s", "started_at", "finished_at", "host", "path"]


def now() -> str:
    """UTC time stamp for run records."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(path: str, cwd: Path) -> str:
    path = Path(path) if Path(path).is_absolute() else cwd / path
    return file_sha256(path) if path.is_file() else "missing"


def identity(cfg: FitConfig, cwd: Path) -> Dict[str, Any]:
    """What makes two fits the same: the config minus ``VOLATILE`` plus the data file's hash (and
    for a refresh, the hash of the previous run's ``metrics.json``; a fit that is no refresh
    leaves the refresh keys out, so its id is the one it had before they existed).

    ``cwd`` is the directory relative data paths are read from (the sweep's launch directory).
    """
    payload = asdict(cfg)
    for dotted in VOLATILE:
        node = payload
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node.pop(leaf, None)
    if cfg.data.path is not None:
        payload["data_sha256"] = _sha256(cfg.data.path, cwd)
    if cfg.refresh_from is None:
        del payload["refresh_from"], payload["refresh"]
    else:
        payload["refresh_sha256"] = _sha256(str(Path(cfg.refresh_from) / COMPLETE), cwd)
    return payload


def run_id(cfg: FitConfig, cwd: Path) -> str:
    """The run folder name of ``cfg``: a 12-hex-digit hash of :func:`identity`."""
    return config_hash(identity(cfg, cwd))


def remove_temp(folder: Path, name: str = "*") -> None:
    """Delete the temp files that killed atomic writes of ``name`` left in ``folder`` (call it
    only where no other process can be writing ``name`` there)."""
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, default=str))


def read_json(path: Path) -> Optional[dict]:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_metrics(run_dir: Path) -> Optional[dict]:
    """``metrics.json`` of a run, or None when the run is not complete."""
    metrics = read_json(Path(run_dir) / COMPLETE)
    return metrics if isinstance(metrics, dict) and metrics.get("complete") else None


def checksums(run_dir: Path, names: List[str]) -> Dict[str, str]:
    """The SHA-256 of each named file of a run folder, for ``metrics.json``."""
    return {name: file_sha256(Path(run_dir) / name) for name in names}


def check_files(run_dir: Path, metrics: dict) -> None:
    """RunError unless every file listed in ``metrics.json`` has the SHA-256 recorded there (a file
    truncated, overwritten or damaged after the fit finished), so a run is never half-loaded."""
    run_dir = Path(run_dir)
    fix = (f"delete {run_dir / COMPLETE} and re-run the sweep (it refits only this run)"
           if (run_dir / RECORD).exists() else
           f"re-run the fit into this folder (the same command, output_dir={run_dir})")
    sums = metrics.get(SHA256)
    if not isinstance(sums, dict) or not sums:
        raise RunError(f"{run_dir / COMPLETE}: no checksums of the run's files (written by an older "
                       f"mmm_geo), so they cannot be checked\n  fix: {fix}")
    for name, want in sums.items():
        path = run_dir / name
        if not path.is_file():
            raise RunError(f"{path}: missing, but the finished fit wrote it\n  fix: {fix}")
        got = file_sha256(path)
        if got != want:
            raise RunError(f"{path}: corrupt: its SHA-256 is {got[:16]}..., not the {want[:16]}... "
                           f"recorded in {COMPLETE} when the fit finished (truncated, overwritten "
                           f"or damaged since)\n  fix: {fix}")


def record(run_dir: Path, **fields: Any) -> dict:
    """Merge ``fields`` into the run's ``run.json`` (written atomically); returns the record."""
    path = Path(run_dir) / RECORD
    rec = read_json(path) or {}
    rec.update(fields)
    write_json(path, rec)
    return rec


class Busy(RuntimeError):
    """Another live process holds the run folder's lock."""


class RunLock:
    """Exclusive, non-blocking ``flock`` on ``<run_dir>/.lock``.

    The kernel drops it when its process dies, so a killed job never leaves a stale lock.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: Optional[int] = None

    def __enter__(self) -> "RunLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise Busy(f"{self.path.parent} is being fitted by another process") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def is_locked(run_dir: Path) -> bool:
    """True when a live process holds the run folder's lock."""
    if not (Path(run_dir) / LOCK).exists():
        return False
    try:
        with RunLock(run_dir):
            return False
    except Busy:
        return True
    except OSError:
        return False


def status(run_dir: Path) -> str:
    """complete | running | failed | incomplete (killed, crashed or never finished)."""
    if read_metrics(run_dir) is not None:
        return "complete"
    if is_locked(run_dir):
        return "running"
    rec = read_json(Path(run_dir) / RECORD) or {}
    return "failed" if rec.get("status") == "failed" else "incomplete"


def objective(metrics: dict) -> float:
    """The number a run returns to Hydra's sweeper: ``metrics["objective"]`` (NaN if absent)."""
    value = metrics.get("objective")
    return float(value) if isinstance(value, (int, float)) else math.nan


def is_run_dir(path: Path) -> bool:
    """A folder that ``mmm_geo.run.fit`` or a sweep job wrote (or began to write)."""
    return path.is_dir() and any((path / name).exists()
                                 for name in (RECORD, COMPLETE, "trace.nc", "config.yaml"))


def run_dirs(exp_dir: Path) -> List[Path]:
    """The run folders directly under an experiment folder, sorted by name."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        return []
    return sorted(p for p in exp_dir.iterdir() if not p.name.startswith(".") and is_run_dir(p))


def index_row(run_dir: Path) -> dict:
    """One line of ``index.csv``."""
    rec = read_json(run_dir / RECORD) or {}
    metrics = read_metrics(run_dir) or {}
    conv = metrics.get("convergence", {})
    return {
        "run_id": run_dir.name,
        "status": status(run_dir),
        "overrides": " ".join(rec.get("overrides", [])),
        "objective": metrics.get("objective", ""),
        "max_rhat": conv.get("max_rhat", ""),
        "divergences": conv.get("divergences", ""),
        "total_s": metrics.get("time", {}).get("total_s", ""),
        "started_at": rec.get("started_at", ""),
        "finished_at": rec.get("finished_at", ""),
        "host": rec.get("host", ""),
        "path": str(run_dir),
    }


def update_index(exp_dir: Path) -> Path:
    """Rebuild ``<exp_dir>/index.csv`` from the run folders, under an exclusive lock.

    Parallel jobs each rebuild the whole index from what is on disk; the lock serialises the
    rebuilds, so the last one to finish sees every run and no update is lost.
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    path = exp_dir / INDEX
    with open(exp_dir / ".index.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        remove_temp(exp_dir, INDEX)  # left by a rebuild that was killed; none is running now
        rows = [index_row(p) for p in run_dirs(exp_dir)]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        write_text(path, text.getvalue())
    return path


def read_index(exp_dir: Path) -> List[dict]:
    """The rows of ``index.csv`` (empty when there is none)."""
    path = Path(exp_dir) / INDEX
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def start_record(run_dir: Path, rid: str, overrides: List[str], job_num: Optional[int]) -> dict:
    """Mark a run as started in ``run.json`` (clears the outcome of an earlier attempt)."""
    rec = read_json(Path(run_dir) / RECORD) or {}
    return record(run_dir, run_id=rid, overrides=list(overrides), job_num=job_num,
                  status="running", started_at=now(), finished_at=None, exit_code=None,
                  host=socket.gethostname(), pid=os.getpid(), attempts=rec.get("attempts", 0) + 1)


def check_experiment_dir(path: Path) -> Path:
    """An existing folder, or a RunError naming the path and the fix."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no such folder\n  fix: give an experiment folder "
                       "(experiments/<name>) or run folders")
    return path


def iter_runs(paths: List[Path]) -> Iterator[Path]:
    """Run folders named by ``paths``: each is a run folder or an experiment folder of them."""
    for path in map(check_experiment_dir, paths):
        if is_run_dir(path):
            yield path
        else:
            found = run_dirs(path)
            if not found:
                raise RunError(f"{path}: no run folders in it\n  fix: give an experiment folder "
                               "(experiments/<name>) or run folders that a fit wrote")
            yield from found
