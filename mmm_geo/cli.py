"""``mmm-geo``: thin Hydra entry points. ``mmm-geo <command> [key=value ...]``.

Commands: ``fit`` (conf/fit.yaml) and ``simulate`` (conf/simulate.yaml). User errors print a
message naming the problem and the fix, with no traceback, and exit with code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Several XLA host devices let chains run in parallel on CPU; must be set before JAX is imported.
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={max(4, os.cpu_count() or 1)}")

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from mmm_geo.config import FitConfig, SimulateConfig, register_configs, to_config  # noqa: E402
from mmm_geo.errors import ConfigError, MmmGeoError  # noqa: E402
from mmm_geo.report.config import register_report_config  # noqa: E402

CONF_DIR = os.environ.get("MMM_GEO_CONF", str(Path(__file__).resolve().parent.parent / "conf"))


def _guard(fn):
    """Run ``fn``; a user error becomes a message on stderr and exit code 2."""
    try:
        return fn()
    except MmmGeoError as err:
        print(f"mmm-geo: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)


def _output_dir(cfg: FitConfig) -> Path:
    if cfg.output_dir:
        return Path(cfg.output_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _jax_setup(cfg: FitConfig) -> None:
    import jax

    if cfg.inference.x64:
        jax.config.update("jax_enable_x64", True)


def prior_check_into(cfg: FitConfig, out: Path, resolved_yaml: str) -> None:
    """``prior_only=true``: write the prior predictive check of ``cfg`` into ``out`` (no fit)."""
    _jax_setup(cfg)
    from mmm_geo.prior_check import PAGE, write_prior_check

    write_prior_check(cfg, out, resolved_yaml)
    print(f"\nprior check saved to {out} (open {out / PAGE}); no model was fitted")


def fit_into(cfg: FitConfig, out: Path, resolved_yaml: str) -> dict:
    """Fit ``cfg`` into the run folder ``out`` in this process; exit 3 if strict and unconverged."""
    _jax_setup(cfg)
    from mmm_geo.run import fit

    metrics = fit(cfg, out, resolved_yaml)
    print(f"\nrun saved to {out}")
    if cfg.inference.strict and not metrics["converged"]:
        sys.exit(3)
    return metrics


def fit_command(raw: DictConfig) -> float:
    """``mmm-geo fit``: fit, save the run folder, print diagnostics and the ROI summary
    (``prior_only=true``: the prior predictive check instead, ``mmm_geo.prior_check``).

    In a multirun each job is skipped when its run already completed, else fitted in a child
    process (``mmm_geo.experiments.job``); errors then propagate to Hydra, which reports them.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        from mmm_geo.experiments.job import run_in_sweep

        cfg = to_config(raw, FitConfig)
        if cfg.output_dir:
            raise ConfigError("output_dir is for single runs; a sweep writes each run to "
                              "<hydra.sweep.dir>/<run_id>/\n  fix: drop output_dir or set "
                              "hydra.sweep.dir")
        if cfg.prior_only:
            raise ConfigError("prior_only=true is for single runs, not sweeps\n  fix: run the "
                              "prior check without --multirun, then sweep the fits")
        return run_in_sweep(cfg, OmegaConf.to_yaml(raw, resolve=True))

    def go():
        cfg = to_config(raw, FitConfig)
        out, text = _output_dir(cfg), OmegaConf.to_yaml(raw, resolve=True)
        if cfg.prior_only:
            return prior_check_into(cfg, out, text)
        return fit_into(cfg, out, text)["objective"]

    return _guard(go)


def simulate_command(raw: DictConfig) -> None:
    """``mmm-geo simulate``: write data.csv, truth.json and data.yaml into ``out``."""

    def go():
        cfg = to_config(raw, SimulateConfig)
        from mmm_geo.data.simulate import write_simulation

        paths = write_simulation(cfg.simulation, Path(cfg.out))
        print("wrote " + ", ".join(str(p) for p in paths))
        print(f"fit it with: mmm-geo fit --config-dir {cfg.out} data=simulated")

    _guard(go)


def optimize_command(raw: DictConfig) -> None:
    """``mmm-geo optimize``: recommend a budget split from a saved run; see conf/optimize.yaml."""

    def go():
        from mmm_geo.config import OptimizeConfig
        from mmm_geo.optimize.output import run_optimize

        run_optimize(to_config(raw, OptimizeConfig))

    _guard(go)


def forecast_command(raw: DictConfig) -> None:
    """``mmm-geo forecast``: the KPI per period and geo under plans; see conf/forecast.yaml."""

    def go():
        from mmm_geo.forecast import run_forecast
        from mmm_geo.plan_config import ForecastConfig

        run_forecast(to_config(raw, ForecastConfig))

    _guard(go)


def report_command(raw: DictConfig) -> None:
    """``mmm-geo report``: write the HTML report of a saved run; see conf/report.yaml."""

    def go():
        from mmm_geo.report.build import write_report
        from mmm_geo.report.config import ReportConfig

        paths = write_report(to_config(raw, ReportConfig))
        print(f"report written to {paths[0]} ({len(paths) - 1} figures and tables beside it)")

    _guard(go)


COMMANDS = {"fit": fit_command, "simulate": simulate_command, "optimize": optimize_command,
            "forecast": forecast_command, "report": report_command}


def _hydra_error(err: Exception, command: str) -> str:
    """Hydra's message for a bad override or config choice, with the fix."""
    lines = [ln for ln in str(err).splitlines() if not ln.startswith("To append to your config")]
    cause = err.__cause__
    if cause is not None and type(cause).__module__.startswith("omegaconf"):
        lines += str(cause).splitlines()[:1]
    return ("\n".join(lines) + "\n  fix: check the key or option against conf/ "
            f"(`mmm-geo {command} --cfg job` prints the composed config, --help lists the groups)")


def group_overrides(args: list) -> list:
    """``model.saturation=logistic`` (dotted, as a value override reads) -> ``model/saturation=
    logistic`` (the config group choice) when every value, sweeps like ``hill,logistic`` included,
    names an option in ``conf/model/saturation/``; other arguments pass through unchanged."""
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        group = Path(CONF_DIR, *key.split("."))
        if sep and "." in key and not key.startswith(("+", "~", "hydra.")) and group.is_dir() and \
                all((group / f"{v}.yaml").is_file() for v in value.split(",")):
            arg = f"{key.replace('.', '/')}={value}"
        out.append(arg)
    return out


def main() -> None:
    """Dispatch ``mmm-geo <command>`` to its Hydra app (``compare`` and ``init`` take plain
    arguments).

    A bad override or config choice, or a user error in a sweep job, prints its message with no
    traceback and exits with code 2 (``HYDRA_FULL_ERROR=1`` shows Hydra's full trace instead).
    """
    names = [*COMMANDS, "compare", "init"]
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        print(f"usage: mmm-geo {{{','.join(names)}}} [key=value ...] [--help]", file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    if name == "compare":
        from mmm_geo.experiments.compare_report import main as compare_main

        _guard(lambda: compare_main(sys.argv[2:]))
        return
    if name == "init":
        from mmm_geo.init_config import main as init_main

        _guard(lambda: init_main(sys.argv[2:], Path(CONF_DIR)))
        return
    sys.argv = [f"mmm-geo {name}"] + group_overrides(sys.argv[2:])
    register_configs()
    register_report_config()
    app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=name)(COMMANDS[name])
    from hydra.errors import CompactHydraException

    user_full_error = "HYDRA_FULL_ERROR" in os.environ
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises, so errors are classified here
    try:
        app()
    except (CompactHydraException, MmmGeoError) as err:
        if user_full_error:
            raise
        msg = str(err) if isinstance(err, MmmGeoError) else _hydra_error(err, name)
        print(f"mmm-geo: error: {msg}", file=sys.stderr)
        sys.exit(2)
    finally:
        if not user_full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
