"""Recovery of known truth for the report: the run's own truth, a given simulated run, or a
simulated panel of the same shape fitted with the run's model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, Optional

from mmm_geo import dims
from mmm_geo.config import FitConfig, SimulationConfig, config_hash
from mmm_geo.errors import RunError
from mmm_geo.report.config import ReportConfig


class Source(NamedTuple):
    """Where recovery is checked: the run with known truth, its truth and a description."""

    run: object
    truth: dict
    label: str


def _truth(path: Path) -> dict:
    return json.loads((path / "truth.json").read_text())


def same_shape(run, cfg: ReportConfig) -> FitConfig:
    """A fit config that simulates a panel with the run's geos x weeks x channels and controls,
    and fits it with the run's model and shorter chains."""
    sizes = run.ds.sizes
    sim = SimulationConfig(geos=sizes[dims.GEO], weeks=sizes[dims.TIME],
                           channels=sizes[dims.CHANNEL],
                           controls=sizes[dims.CONTROL], seed=cfg.seed,
                           max_lag=run.config.model.adstock.max_lag,
                           saturation=run.config.model.saturation.kind)
    inference = replace(run.config.inference, chains=cfg.recovery_chains,
                        warmup=cfg.recovery_warmup, draws=cfg.recovery_draws, progress_bar=False,
                        strict=False)
    return FitConfig(model=run.config.model, inference=inference, simulation=sim,
                     name="recovery", seed=cfg.seed)


def source(run, cfg: ReportConfig, out_dir: Path) -> Optional[Source]:
    """The recovery check to show, or None when there is none (see :class:`ReportConfig`)."""
    from mmm_geo.run import fit, load_run

    if (run.path / "truth.json").is_file():
        return Source(run, _truth(run.path), "this run (its data are simulated, truth known)")
    if cfg.recovery_run:
        other = load_run(Path(cfg.recovery_run))
        if not (other.path / "truth.json").is_file():
            raise RunError(f"{other.path}: no truth.json, so it cannot show recovery\n  fix: give "
                           "recovery_run= a run fitted on simulated data (mmm-geo simulate), or "
                           "use simulate_recovery=true")
        return Source(other, _truth(other.path), f"the simulated run {other.path}")
    if cfg.simulate_recovery:
        path = out_dir / "recovery_run"
        fit_cfg = same_shape(run, cfg)
        done = path / "metrics.json"
        if done.is_file() and json.loads(done.read_text()).get("config_hash") == config_hash(fit_cfg):
            print(f"reusing the recovery fit in {path} (same simulated panel and settings)")
        else:
            print(f"fitting a simulated panel of the same shape for the recovery check into {path}")
            fit(fit_cfg, path)
        s = fit_cfg.simulation
        label = (f"a simulated panel of the same shape ({s.geos} geos x {s.weeks} weeks x "
                 f"{s.channels} channels), fitted with this run's model "
                 f"({fit_cfg.inference.chains} chains x {fit_cfg.inference.draws} draws)")
        return Source(load_run(path), _truth(path), label)
    return None
