"""``mmm-geo``: thin Hydra entry points. ``mmm-geo <command> [key=value ...] [--verbose]``.

Commands: fit, simulate, optimize, forecast, report (Hydra apps over conf/<command>.yaml), compare
and init (plain arguments). Every entry point runs under one guard (:func:`fail`), and exits with
(``mmm_geo.errors``): 0 done; 2 a user error (bad data, config, run folder, path, full disk, out of
memory), its message naming what, where and the fix, no traceback; 3 a fit that did not converge
under ``inference.strict=true``; 70 a bug in mmm_geo: its traceback and a request to report it;
130 interrupted (Ctrl-C); 141 stdout closed early (``| head``). ``--verbose`` shows the notices
of the libraries underneath (ArviZ, JAX), hidden by default.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

# Several XLA host devices let chains run in parallel on CPU; must be set before JAX is imported.
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={max(4, os.cpu_count() or 1)}")

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from mmm_geo import interrupt  # noqa: E402
from mmm_geo.config import FitConfig, SimulateConfig, register_configs, to_config  # noqa: E402
from mmm_geo.errors import (EXIT_BUG, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_UNCONVERGED,  # noqa: E402
                            ConfigError, as_user_error)
from mmm_geo.report.config import register_report_config  # noqa: E402

CONF_DIR = os.environ.get("MMM_GEO_CONF", str(Path(__file__).resolve().parent.parent / "conf"))


VERBOSE_ENV = "MMM_GEO_VERBOSE"  # set by --verbose, so a sweep's fit processes inherit it
NOISY_LOGGERS = ("arviz", "jax", "absl")  # INFO notices: "arviz_base not installed", TPU backend
BUG_NOTE = ("mmm-geo: internal error: the traceback above is a bug in mmm_geo, not a problem with "
            "your input; please report it on the project's issue tracker with the command you ran "
            f"and the traceback (exit code {EXIT_BUG})")


def quiet_libraries(verbose: bool) -> None:
    """Hide the notices of the libraries underneath unless ``verbose``: ArviZ's FutureWarning
    about its refactor and the INFO lines of ArviZ and JAX. Progress bars, the summary and
    mmm_geo's own warnings (printed, not logged) stay."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                            category=FutureWarning)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def fail(err: BaseException, command: str = "") -> None:
    """Exit for ``err``: a user error prints its message and exits with its code (2, 130), a
    Hydra composition error likewise with code 2; anything else is a bug: its traceback, a request
    to report it and exit code 70. ``SystemExit`` (``--help``, exit 3) passes through."""
    from hydra.errors import CompactHydraException

    if isinstance(err, SystemExit):
        raise err
    if isinstance(err, BrokenPipeError):  # stdout's reader left (``| head``): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_PIPE)
    user = (ConfigError(_hydra_error(err, command)) if isinstance(err, CompactHydraException)
            else as_user_error(err))  # (Hydra's missing-config error is an OSError)
    if user is not None:
        print(f"mmm-geo: {'error: ' if user.exit_code == 2 else ''}{user}", file=sys.stderr)
        sys.exit(user.exit_code)
    traceback.print_exception(err)
    print(BUG_NOTE, file=sys.stderr)
    sys.exit(EXIT_BUG)


def _guard(fn, command: str = ""):
    """Run ``fn`` under :func:`fail`: a user error becomes a message and exit code 2."""
    try:
        return fn()
    except BaseException as err:  # noqa: BLE001  (classified by fail)
        fail(err, command)


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
        sys.exit(EXIT_UNCONVERGED)
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


def design_command(raw: DictConfig) -> None:
    """``mmm-geo design-test``: rank candidate lift tests by the value of their information for
    the budget decision; see conf/design-test.yaml."""

    def go():
        from mmm_geo.config import DesignConfig
        from mmm_geo.optimize.design import run_design

        run_design(to_config(raw, DesignConfig))

    _guard(go)


COMMANDS = {"fit": fit_command, "simulate": simulate_command, "optimize": optimize_command,
            "forecast": forecast_command, "report": report_command, "design-test": design_command}


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


def _plain_command(name: str, args: list) -> None:
    """``mmm-geo compare`` or ``mmm-geo init``: their own argument parsers, no Hydra."""
    if name == "compare":
        from mmm_geo.experiments.compare_report import main as compare_main

        return compare_main(args)
    from mmm_geo.init_config import main as init_main

    return init_main(args, Path(CONF_DIR))


def main() -> None:
    """Dispatch ``mmm-geo <command>`` to its Hydra app (``compare`` and ``init`` take plain
    arguments), under one guard (:func:`fail`).

    ``--verbose`` anywhere shows the libraries' notices. A bad override or config choice, or a
    user error in a sweep job, prints its message with no traceback and exits with code 2
    (``HYDRA_FULL_ERROR=1`` shows Hydra's full trace instead).
    """
    interrupt.watch()
    verbose = "--verbose" in sys.argv[1:]
    sys.argv = [sys.argv[0]] + [a for a in sys.argv[1:] if a != "--verbose"]
    quiet_libraries(verbose)
    names = [*COMMANDS, "compare", "init"]
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        print(f"usage: mmm-geo {{{','.join(names)}}} [key=value ...] [--verbose] [--help]",
              file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    if name in ("compare", "init"):
        _guard(lambda: _plain_command(name, sys.argv[2:]), name)
        return
    sys.argv = [f"mmm-geo {name}"] + group_overrides(sys.argv[2:])
    user_full_error = "HYDRA_FULL_ERROR" in os.environ
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises, so errors are classified here
    try:
        register_configs()
        register_report_config()
        hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=name)(COMMANDS[name])()
    except BaseException as err:  # noqa: BLE001  (classified by fail)
        if user_full_error and not isinstance(err, (SystemExit, KeyboardInterrupt)):
            raise
        fail(err, name)
    finally:
        if not user_full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
