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
from mmm_geo.errors import MmmGeoError  # noqa: E402

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


def fit_command(raw: DictConfig) -> float:
    """``mmm-geo fit``: fit, save the run folder, print diagnostics and the ROI summary."""

    def go():
        cfg = to_config(raw, FitConfig)
        import jax

        if cfg.inference.x64:
            jax.config.update("jax_enable_x64", True)
        from mmm_geo.run import fit

        out = _output_dir(cfg)
        metrics = fit(cfg, out, OmegaConf.to_yaml(raw, resolve=True))
        print(f"\nrun saved to {out}")
        if cfg.inference.strict and not metrics["converged"]:
            sys.exit(3)
        return metrics["objective"]

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


COMMANDS = {"fit": fit_command, "simulate": simulate_command, "optimize": optimize_command}


def main() -> None:
    """Dispatch ``mmm-geo <command>`` to its Hydra app."""
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: mmm-geo {{{','.join(COMMANDS)}}} [key=value ...] [--help]", file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    sys.argv = [f"mmm-geo {name}"] + sys.argv[2:]
    register_configs()
    app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=name)(COMMANDS[name])
    app()


if __name__ == "__main__":
    main()
