"""Experiment tracking: log a saved fit, optimize or report to MLflow (``tracking=mlflow``).

Optional: ``pip install -e '.[tracking]'`` (mlflow-skinny, plus SQLAlchemy and Alembic for its
sqlite store). ``tracking`` (none | mlflow), ``tracking_uri`` and ``tracking_experiment`` are keys
of ``mmm-geo fit``, ``optimize`` and ``report``. :func:`target` checks them before any work;
each command logs after its files are saved, reading only those files, so a finished run folder
can be logged without refitting (:func:`log_fit`) and a failure to log is a warning that leaves
every saved file as it was.

One MLflow run per command (one per point in a sweep) holds:

- params: the command's resolved config, flattened (``model.adstock.kind``); the YAML itself as
  the ``config.yaml`` artifact;
- metrics: every number of the fit's ``metrics.json`` under its dotted path
  (``convergence.max_rhat``, ``convergence.divergences``, ``convergence.min_ess_bulk``,
  ``holdout.mape`` when weeks were held out, ...) and the median and 90 % interval per channel
  of ROI, marginal ROI and contribution from ``summary.csv`` (``roi.tv.median``, ``roi.tv.p5``,
  ``roi.tv.p95``); optimize adds each plan's outcome (``outcome.recommended.mean``) and each
  channel's allocation (``allocation.tv.recommended``), report the validation run's holdout;
- artifacts: fit: ``config.yaml``, ``metrics.json``, ``summary.csv``, ``diagnostics.csv``
  (``lift_tests.csv``); optimize: ``allocation*.csv``, ``outcomes.csv``, ``flighting.csv``,
  ``optimize.json``;
  report: ``report.html`` and ``tables/``;
- tags: ``mmm_geo.command``, ``mmm_geo.run_dir``, ``mmm_geo.config_hash`` and, for a sweep's
  point, its overrides (from ``run.json``).

The store is ``tracking_uri`` (a server, ``http://host:5000``, or a database,
``sqlite:///path/mlflow.db``), by default ``sqlite:///<experiment folder>/mlflow/mlflow.db``, the
experiment folder being the run folder's parent (``experiments/<name>/``), with the artifacts
of new MLflow experiments beside a sqlite file in ``artifacts/``. The MLflow experiment is
``tracking_experiment``, by default the fit's ``name``. A fit's folder is logged once per
``metrics.json``: logging the same folder again (a sweep re-run that skips it) adds nothing.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional

import yaml

from mmm_geo.errors import ConfigError
from mmm_geo.experiments.store import COMPLETE, RECORD, file_sha256, read_json

KINDS = ("none", "mlflow")
INSTALL = "pip install -e '.[tracking]'"
STORE = "mlflow"  # the default store's folder, beside the run folders
FIT_FILES = ("config.yaml", "metrics.json", "summary.csv", "diagnostics.csv", "lift_tests.csv")
OPTIMIZE_FILES = ("allocation.csv", "allocation_geo.csv", "outcomes.csv", "flighting.csv",
                  "optimize.json")
STATS = ("median", "p5", "p95")
OUTCOME_STATS = ("spend", "mean", "p5", "p50", "p95", "p_beats_current")
ALLOCATION_STATS = ("current", "recommended", "mroi_mean")
SHA_TAG = "mmm_geo.metrics_sha256"
BATCH = 100  # MLflow's limit of params (and tags) per log_batch call
MAX_VALUE = 6000  # MLflow's limit on a param's length


class Target(NamedTuple):
    """Where a command logs: the MLflow tracking URI and experiment (None: the fit's name)."""

    uri: str
    experiment: Optional[str]


class Entry(NamedTuple):
    """What one MLflow run logs: the resolved config's YAML, metrics, files and tags."""

    config: str
    metrics: Dict[str, float]
    files: List[Path]
    tags: Dict[str, str]


def _client_class():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"tracking=mlflow needs MLflow, which is not installed\n  fix: {INSTALL}"
                          " (or tracking=none)") from None
    return MlflowClient


def target(cfg, run_dir: Path) -> Optional[Target]:
    """Where ``cfg`` (a fit, optimize or report config) logs ``run_dir``; None for
    ``tracking=none``. ConfigError for an unknown kind, a file-store URI or a missing MLflow."""
    if cfg.tracking == "none":
        return None
    if cfg.tracking not in KINDS:
        raise ConfigError(f"tracking={cfg.tracking}: unknown\n  fix: tracking=none or "
                          "tracking=mlflow")
    _client_class()
    uri = cfg.tracking_uri or f"sqlite:///{Path(run_dir).resolve().parent / STORE / 'mlflow.db'}"
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme in ("", "file") and uri != "databricks":
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() != "true":
            raise ConfigError(f"tracking_uri={uri}: MLflow's file store is in maintenance mode "
                              "and refused by default\n  fix: a database, e.g. tracking_uri="
                              "sqlite:///experiments/mlflow.db (or null for the default store), "
                              "a server (http://host:5000), or set MLFLOW_ALLOW_FILE_STORE=true")
    return Target(uri, cfg.tracking_experiment)


def flatten(tree: dict, prefix: str = "") -> Dict[str, object]:
    """The leaves of nested dicts under dotted keys (lists and empty dicts are leaves)."""
    out: Dict[str, object] = {}
    for name, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def key(name: str) -> str:
    """An MLflow param or metric name: characters it refuses become ``_``."""
    return re.sub(r"[^\w\-. ]", "_", name)[:250]


def numbers(tree: dict, prefix: str = "") -> Dict[str, float]:
    """Every number (booleans as 0/1) in a JSON tree, by dotted path."""
    return {key(k): float(v) for k, v in flatten(tree, prefix).items()
            if isinstance(v, (int, float))}


def table_numbers(path: Path, keys: Iterable[str], stats: Iterable[str],
                  prefix: str = "") -> Dict[str, float]:
    """``<prefix><key columns joined by .>.<stat>`` -> value, for each row of a CSV table and
    each of ``stats`` it has (empty cells left out)."""
    out: Dict[str, float] = {}
    if not path.is_file():
        return out
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = prefix + ".".join(row[k] for k in keys)
            out.update({key(f"{name}.{s}"): float(row[s]) for s in stats if row.get(s)})
    return out


def run_metrics(run_dir: Path) -> Dict[str, float]:
    """A fit's numbers: its ``metrics.json`` and the intervals of ``summary.csv`` per channel
    (none for a folder that is not a fit, e.g. a comparison's model stack)."""
    return {**numbers(read_json(Path(run_dir) / COMPLETE) or {}),
            **table_numbers(Path(run_dir) / "summary.csv", ("metric", "channel"), STATS)}


def config_text(cfg) -> str:
    """The YAML of a config dataclass (the command's resolved config)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def params(text: str) -> Dict[str, str]:
    """A YAML config flattened into MLflow params (values as JSON unless text)."""
    return {key(k): (v if isinstance(v, str) else json.dumps(v, default=str))[:MAX_VALUE]
            for k, v in flatten(yaml.safe_load(text) or {}).items()}


def _sqlite_path(uri: str) -> Optional[Path]:
    path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def _store_lock(uri: str):
    """For a local sqlite store: create its folder and hold an exclusive lock on it, so parallel
    sweep jobs neither race to create its tables nor meet a locked database."""
    db = _sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / f".{db.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _experiment_id(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    db = _sqlite_path(uri)
    where = (db.resolve().parent / "artifacts" / key(name)).as_uri() if db else None
    try:
        return client.create_experiment(name, artifact_location=where)
    except Exception:  # created meanwhile by a parallel job (on a server: no lock)
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _log_files(client, run_id: str, files: Iterable[Path]) -> None:
    for path in files:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        elif path.is_file():
            client.log_artifact(run_id, str(path))


def _write(client, run_id: str, entry: Entry) -> None:
    from mlflow.entities import Metric, Param

    now, files = int(time.time() * 1000), entry.files
    items = [Param(k, v) for k, v in params(entry.config).items()]
    for start in range(0, len(items), BATCH):
        client.log_batch(run_id, params=items[start:start + BATCH])
    values = [Metric(k, v, now, 0) for k, v in entry.metrics.items()]
    for start in range(0, len(values), 10 * BATCH):
        client.log_batch(run_id, metrics=values[start:start + 10 * BATCH])
    with tempfile.TemporaryDirectory() as tmp:
        if not any(p.name == "config.yaml" for p in files):
            (Path(tmp) / "config.yaml").write_text(entry.config)
            files = [Path(tmp) / "config.yaml", *files]
        _log_files(client, run_id, files)


def log(where: Optional[Target], command: str, run_dir: Path,
        entry: Callable[[], Entry]) -> Optional[str]:
    """Log one MLflow run of ``command`` on the run folder ``run_dir`` (``entry()`` reads what it
    holds); returns its id. A fit folder whose ``metrics.json`` is logged already (tags
    ``mmm_geo.run_dir`` and ``mmm_geo.metrics_sha256``) is not logged again. Any failure is a
    warning on stderr (and None is returned): nothing saved is touched."""
    if where is None:
        return None
    run_dir = Path(run_dir).resolve()
    try:
        got = entry()
        fit_cfg = run_dir / "config.yaml"
        fit_cfg = (yaml.safe_load(fit_cfg.read_text()) if fit_cfg.is_file() else None) or {}
        name = where.experiment or str(fit_cfg.get("name") or "default")
        tags = {"mmm_geo.command": command, "mmm_geo.run_dir": str(run_dir),
                "mmm_geo.config_hash": str((read_json(run_dir / COMPLETE) or {})
                                           .get("config_hash", "")), **got.tags}
        with _store_lock(where.uri):
            client = _client_class()(tracking_uri=where.uri)
            exp = _experiment_id(client, name, where.uri)
            if SHA_TAG in tags:
                done = [r.info.run_id for r in client.search_runs(
                    [exp], f"tags.`{SHA_TAG}` = '{tags[SHA_TAG]}'")
                    if r.data.tags.get("mmm_geo.run_dir") == str(run_dir)]
                if done:
                    print(f"MLflow: {run_dir} is logged already (run {done[0]})")
                    return done[0]
            run_id = client.create_run(exp, tags=tags, run_name=f"{command} {run_dir.name}"
                                       ).info.run_id
            try:
                _write(client, run_id, got)
            except BaseException:
                client.set_terminated(run_id, "FAILED")
                raise
            client.set_terminated(run_id)
    except Exception as err:  # a tracking failure never fails the command: its files are saved
        text = str(err).strip()
        print(f"mmm-geo: warning: MLflow logging of {command} failed ({type(err).__name__}: "
              f"{text.splitlines()[0] if text else ''}); {run_dir} is saved as it was\n  fix: "
              f"check tracking_uri={where.uri}", file=sys.stderr)
        return None
    print(f"MLflow: logged {command} of {run_dir} as run {run_id} in experiment '{name}' "
          f"({where.uri})")
    return run_id


def _fit_entry(run_dir: Path, overrides: Optional[List[str]]) -> Entry:
    tags = {SHA_TAG: file_sha256(run_dir / COMPLETE)}
    if overrides is None:
        overrides = (read_json(run_dir / RECORD) or {}).get("overrides")
    if overrides is not None:
        tags["mmm_geo.overrides"] = " ".join(overrides)
    return Entry((run_dir / "config.yaml").read_text(), run_metrics(run_dir),
                 [run_dir / n for n in FIT_FILES], tags)


def log_fit(where: Optional[Target], run_dir: Path,
            overrides: Optional[List[str]] = None) -> Optional[str]:
    """Log a finished fit's folder (no refit). ``overrides``: a sweep point's (default: those in
    its ``run.json``, which a sweep writes before the fit)."""
    return log(where, "fit", run_dir, lambda: _fit_entry(Path(run_dir), overrides))


def _optimize_entry(cfg, run_dir: Path, folder: Path) -> Entry:
    summary = json.loads((folder / "optimize.json").read_text())
    metrics = {**run_metrics(run_dir), **numbers({"budget": summary["budget"],
                                                  "solver": summary["solver"]}),
               **table_numbers(folder / "outcomes.csv", ("plan",), OUTCOME_STATS, "outcome."),
               **table_numbers(folder / "allocation.csv", ("channel",), ALLOCATION_STATS,
                               "allocation.")}
    return Entry(config_text(cfg), metrics, [folder / n for n in OPTIMIZE_FILES], {})


def log_optimize(where: Optional[Target], cfg, run_dir: Path, folder: Path) -> Optional[str]:
    """Log ``mmm-geo optimize``'s saved tables in ``folder`` (of the run ``run_dir``)."""
    return log(where, "optimize", run_dir, lambda: _optimize_entry(cfg, Path(run_dir),
                                                                   Path(folder)))


def _report_entry(cfg, run_dir: Path, folder: Path) -> Entry:
    metrics = run_metrics(run_dir)
    if cfg.validation_run:
        held = (read_json(Path(cfg.validation_run) / COMPLETE) or {}).get("holdout", {})
        metrics.update(numbers(held, "validation_run.holdout."))
    return Entry(config_text(cfg), metrics, [folder / "report.html", folder / "tables"], {})


def log_report(where: Optional[Target], cfg, run_dir: Path, folder: Path) -> Optional[str]:
    """Log ``mmm-geo report``'s ``report.html`` and ``tables/`` in ``folder``."""
    return log(where, "report", run_dir, lambda: _report_entry(cfg, Path(run_dir), Path(folder)))
