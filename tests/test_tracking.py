"""MLflow tracking (``tracking=mlflow``) against a real local sqlite store: a finished fit, an
optimize, a report and a sweep are logged and read back with the MLflow client; a failure to log
leaves the run folder as it was; without MLflow the commands stop with the install command.

The runs are copies of the session's one quick fit (tests/conftest.py ``quick_run``)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("mlflow")  # the test extra installs it (pyproject.toml: mmm_geo[tracking])

from mlflow.tracking import MlflowClient  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mmm_geo import cli  # noqa: E402
from mmm_geo.config import FitConfig, OptimizeConfig, OptimizerConfig, to_config  # noqa: E402
from mmm_geo.errors import ConfigError  # noqa: E402
from mmm_geo.experiments import store, tracking  # noqa: E402
from mmm_geo.report.config import ReportConfig  # noqa: E402
from tests.conftest import quick_fit_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    """One sqlite store for the module (its tables are created once)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def where(uri: str, experiment=None) -> tracking.Target:
    cfg = replace(quick_fit_config(), tracking="mlflow", tracking_uri=uri,
                  tracking_experiment=experiment)
    return tracking.target(cfg, Path("unused"))


def digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("report*", "opt*"))
    return dst


def artifact_bytes(client: MlflowClient, run_id: str, path: str, tmp: Path) -> bytes:
    return Path(client.download_artifacts(run_id, path, str(tmp))).read_bytes()


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def leaves(tree: dict, prefix: str = "") -> dict:
    """Numeric leaves of metrics.json, walked here independently of the module under test."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(leaves(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)):
            out[f"{prefix}{k}"] = float(v)
    return out


def check_run_metrics(metrics: dict, run_dir: Path) -> None:
    """The MLflow metrics hold every number of metrics.json and the ROI intervals of summary.csv."""
    expected = leaves(json.loads((run_dir / "metrics.json").read_text()))
    assert {"convergence.max_rhat", "convergence.divergences", "convergence.min_ess_bulk"} <= set(
        expected)
    for name, value in expected.items():
        assert same(metrics[name], value), name
    summary = pd.read_csv(run_dir / "summary.csv")
    roi = summary[summary["metric"] == "roi"]
    assert len(roi) == 2
    for row in roi.itertuples():
        for stat in ("median", "p5", "p95"):
            assert metrics[f"roi.{row.channel}.{stat}"] == getattr(row, stat)


def test_a_finished_fit_is_logged_once_with_config_metrics_and_artifacts(quick_run, uri,
                                                                          tmp_path, capsys):
    before = digests(quick_run)
    target = where(uri)
    run_id = tracking.log_fit(target, quick_run)
    assert run_id and "MLflow: logged fit" in capsys.readouterr().out
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "test"  # the fit's name
    tags = run.data.tags
    assert tags["mmm_geo.command"] == "fit" and tags["mmm_geo.run_dir"] == str(quick_run.resolve())
    config = yaml.safe_load((quick_run / "config.yaml").read_text())
    assert tags["mmm_geo.config_hash"] == json.loads((quick_run / "metrics.json").read_text())[
        "config_hash"]
    params = run.data.params
    flat = pd.json_normalize(config, sep=".").iloc[0].to_dict()
    assert len(flat) > 50
    for name, value in flat.items():
        assert params[name] == (value if isinstance(value, str) else json.dumps(value)), name
    assert params["inference.chains"] == "2" and params["model.adstock.max_lag"] == "4"
    assert params["data.path"] == "null" and params["name"] == "test"
    check_run_metrics(run.data.metrics, quick_run)
    names = {a.path for a in client.list_artifacts(run_id)}
    assert names == {"config.yaml", "metrics.json", "summary.csv", "diagnostics.csv"}
    for name in names:
        assert artifact_bytes(client, run_id, name, tmp_path) == (quick_run / name).read_bytes()
    # logged again (a sweep re-run that skips the point): the same run, nothing added
    assert tracking.log_fit(target, quick_run) == run_id
    found = client.search_runs([run.info.experiment_id],
                               f"tags.`mmm_geo.run_dir` = '{quick_run.resolve()}'")
    assert [r.info.run_id for r in found] == [run_id]
    assert digests(quick_run) == before


def test_a_changed_run_folder_is_logged_anew_with_its_holdout(quick_run, uri, tmp_path):
    run = copy_run(quick_run, tmp_path / "held")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["holdout"] = {"periods": 4, "r2": 0.8, "mape": 0.071, "nrmse": 0.09,
                          "naive_mape": 0.12, "naive_nrmse": 0.15}
    (run / "metrics.json").write_text(json.dumps(metrics))
    run_id = tracking.log_fit(where(uri, "held"), run)
    logged = MlflowClient(uri).get_run(run_id).data.metrics
    assert logged["holdout.mape"] == 0.071 and logged["holdout.naive_mape"] == 0.12
    check_run_metrics(logged, run)


def test_a_tracking_failure_is_a_warning_and_the_run_stays(quick_run, uri, tmp_path, capsys,
                                                           monkeypatch):
    run = copy_run(quick_run, tmp_path / "run")
    before = digests(run)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(MlflowClient, "log_artifact", broken)
    assert tracking.log_fit(where(uri, "failing"), run) is None
    err = capsys.readouterr().err
    assert "warning: MLflow logging of fit failed (OSError: disk full)" in err
    assert f"{run.resolve()} is saved as it was" in err and "Traceback" not in err
    assert digests(run) == before
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("failing")
    assert [r.info.status for r in client.search_runs([exp.experiment_id])] == ["FAILED"]
    # an unusable store: the same warning, before any MLflow run exists
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert tracking.log_fit(where(f"sqlite:///{blocker}/mlflow.db"), run) is None
    assert "warning: MLflow logging of fit failed" in capsys.readouterr().err
    assert digests(run) == before


def test_optimize_is_logged_with_its_tables(quick_run, uri, tmp_path):
    from mmm_geo.optimize.output import run_optimize

    run = copy_run(quick_run, tmp_path / "run")
    cfg = OptimizeConfig(run=str(run), budget=5.0e5, horizon_weeks=4,
                         scenarios=["move 20% tv to search"], tracking="mlflow", tracking_uri=uri,
                         optimizer=OptimizerConfig(draws=50, allocation_draws=0))
    run_optimize(cfg)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("test")
    found = client.search_runs([exp.experiment_id], "tags.`mmm_geo.command` = 'optimize'")
    assert len(found) == 1
    logged, run_id = found[0].data, found[0].info.run_id
    assert logged.tags["mmm_geo.run_dir"] == str(run.resolve())
    assert logged.params["budget"] == "500000.0" and logged.params["horizon_weeks"] == "4"
    assert logged.params["optimizer.draws"] == "50" and logged.params["tracking"] == "mlflow"
    check_run_metrics(logged.metrics, run)
    folder = run / "optimize"
    outcomes = pd.read_csv(folder / "outcomes.csv").set_index("plan")
    assert logged.metrics["outcome.recommended.mean"] == outcomes.loc["recommended", "mean"]
    assert logged.metrics["outcome.move 20_ tv to search.p_beats_current"] == outcomes.loc[
        "move 20% tv to search", "p_beats_current"]
    assert "outcome.current.p_beats_current" not in logged.metrics  # NaN cell: left out
    for row in pd.read_csv(folder / "allocation.csv").itertuples():
        assert logged.metrics[f"allocation.{row.channel}.recommended"] == row.recommended
    summary = json.loads((folder / "optimize.json").read_text())
    assert logged.metrics["budget"] == summary["budget"] == 5.0e5
    assert logged.metrics["solver.kkt_gap"] == summary["solver"]["kkt_gap"]
    names = {a.path for a in client.list_artifacts(run_id)}
    tables = {p.name for p in folder.glob("*.csv")} | {"optimize.json"}
    assert names == tables | {"config.yaml"} and "allocation.csv" in names
    for name in tables:
        assert artifact_bytes(client, run_id, name, tmp_path) == (folder / name).read_bytes()
    config = yaml.safe_load(artifact_bytes(client, run_id, "config.yaml", tmp_path))
    assert to_config(config, OptimizeConfig) == cfg


def test_report_is_logged_with_report_html_and_tables(quick_run, uri, tmp_path):
    from mmm_geo.report.build import write_report

    run = copy_run(quick_run, tmp_path / "run")
    cfg = ReportConfig(run=str(run), max_geos=1, max_draws=50, tracking="mlflow",
                       tracking_uri=uri, tracking_experiment="reports")
    write_report(cfg)
    client = MlflowClient(uri)
    (found,) = client.search_runs([client.get_experiment_by_name("reports").experiment_id])
    assert found.data.tags["mmm_geo.command"] == "report"
    assert found.data.params["max_geos"] == "1" and found.data.params["validation_run"] == "null"
    check_run_metrics(found.data.metrics, run)
    run_id, out = found.info.run_id, run / "report"
    assert artifact_bytes(client, run_id, "report.html", tmp_path) == (out / "report.html"
                                                                       ).read_bytes()
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "tables")}
    assert logged == {p.name for p in (out / "tables").glob("*.csv")} and len(logged) > 3


def test_a_sweep_logs_one_run_per_point(quick_run, uri, tmp_path):
    """A real ``--multirun`` over two seeds whose points are complete (copies of the quick run):
    the sweep skips both fits and logs each point once, tagged with its overrides."""
    from hydra import compose, initialize_config_dir

    from mmm_geo.config import register_configs

    exp = tmp_path / "exp"
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for seed in (0, 1):  # tracking settings leave the run id (the folder name) as it is
            cfg = to_config(compose("fit", [f"seed={seed}", "experiment=tiny"]), FitConfig)
            shutil.copytree(quick_run, exp / store.run_id(cfg, tmp_path))
    args = ["--multirun", "experiment=tiny", "seed=0,1", "tracking=mlflow",
            f"tracking_uri={uri}", "tracking_experiment=sweep", f"hydra.sweep.dir={exp}"]
    # a point that is not complete would be fitted (minutes): with no JAX platform it fails fast
    env = {**os.environ, "JAX_PLATFORMS": "none_in_this_test"}
    proc = subprocess.run([sys.executable, "-m", "mmm_geo.cli", "fit", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count("already complete") == 2, proc.stdout
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    points = sorted(r.data.tags["mmm_geo.overrides"].split() for r in runs)
    assert [p[:3] for p in points] == [["experiment=tiny", f"seed={s}", "tracking=mlflow"]
                                       for s in (0, 1)]
    assert all(p[3].startswith("tracking_uri=sqlite") for p in points)  # as Hydra records it
    assert {r.data.tags["mmm_geo.run_dir"] for r in runs} == {
        str(p.resolve()) for p in store.run_dirs(exp)}


def test_without_mlflow_tracking_stops_with_the_install_command(quick_run, tmp_path, capsys,
                                                                monkeypatch):
    from mmm_geo.run import fit

    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    out = tmp_path / "fit"
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[tracking\]'"):
        fit(replace(quick_fit_config(), tracking="mlflow"), out)
    assert not out.exists()  # checked before any work
    run = copy_run(quick_run, tmp_path / "run")
    before = digests(run)
    for command in (cli.optimize_command, cli.report_command):
        with pytest.raises(SystemExit) as stop:
            command(OmegaConf.create({"run": str(run), "tracking": "mlflow"}))
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "tracking=mlflow needs MLflow" in err and "pip install -e '.[tracking]'" in err
        assert "Traceback" not in err
    assert digests(run) == before


def test_bad_tracking_settings_are_config_errors():
    with pytest.raises(ConfigError, match="tracking=wandb: unknown"):
        tracking.target(replace(quick_fit_config(), tracking="wandb"), Path("x"))
    with pytest.raises(ConfigError, match="file store"):
        tracking.target(replace(quick_fit_config(), tracking="mlflow", tracking_uri="mlruns"),
                        Path("x"))
    assert tracking.target(quick_fit_config(), Path("x")) is None  # tracking=none
    default = tracking.target(replace(quick_fit_config(), tracking="mlflow"),
                              Path("experiments/demo/run1"))
    assert default.uri == f"sqlite:///{Path('experiments/demo').resolve()}/mlflow/mlflow.db"
