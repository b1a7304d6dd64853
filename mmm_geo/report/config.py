"""The ``mmm-geo report`` configuration schema (``conf/report.yaml``), registered in Hydra's
ConfigStore as ``report_schema``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ReportConfig:
    """Top-level config of ``mmm-geo report``.

    ``run``: a completed run folder. The report lands in ``<run>/<output>/``: ``report.html``
    (self-contained, opens offline), ``figures/*.png`` and ``tables/*.csv``. ``prob``: mass of
    every credible interval. A channel *performs well* when P(ROI > 1) >= ``good`` and *poorly*
    when it is <= ``poor``. ``max_draws``: posterior draws used for the decomposition and the
    curves (evenly thinned; ROI and marginal ROI use every draw). ``max_geos``: geos with their
    own section (the largest by KPI; the tables hold every geo). ``optimize``: the optimizer's
    sub-folder of the run, read when it exists; ``design``: that of ``mmm-geo design-test``.
    ``validation_run``: a run of the same data and
    model fitted with ``validation.holdout`` > 0, whose forecast of the held-out weeks is shown
    when ``run`` itself held none out (so the run keeps all data). ``timing_run``: a run of the
    same data fitted with ``model.time_varying``, whose multipliers (when in the year each channel
    works best) are shown when ``run`` has none. Recovery of truth: a simulated run's own
    ``truth.json`` is used; otherwise ``recovery_run`` names a finished run on simulated data
    (with ``truth.json``), or ``simulate_recovery=true`` simulates a panel of the same geos x
    weeks x channels and fits it with the run's model (``recovery_chains``, ``recovery_warmup``,
    ``recovery_draws``) into ``<run>/<output>/recovery_run``. ``currency``: written before the
    amounts of the executive summary (``$`` gives "$1 m over the next 13 weeks").
    """

    run: Optional[str] = None
    output: str = "report"
    prob: float = 0.9
    good: float = 0.8
    poor: float = 0.2
    max_draws: int = 1000
    max_geos: int = 30
    optimize: str = "optimize"
    design: str = "design"
    validation_run: Optional[str] = None
    timing_run: Optional[str] = None
    recovery_run: Optional[str] = None
    simulate_recovery: bool = False
    recovery_chains: int = 2
    recovery_warmup: int = 300
    recovery_draws: int = 300
    seed: int = 0
    currency: str = ""
    tracking: str = "none"  # mlflow: log to MLflow, as for mmm-geo fit
    tracking_uri: Optional[str] = None
    tracking_experiment: Optional[str] = None


def register_report_config() -> None:
    """Register :class:`ReportConfig` as ``report_schema`` (idempotent)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    node = OmegaConf.structured(ReportConfig)
    OmegaConf.set_readonly(node, False)   # frozen dataclass: let the YAML and overrides merge in
    ConfigStore.instance().store(name="report_schema", node=node)
