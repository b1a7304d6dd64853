"""``mmm-geo fit ... prior_only=true``: the prior predictive check, before any fit.

It checks and loads the data and builds the model inputs exactly as a fit of the same config
would (``mmm_geo.run.setup`` and ``window_data``), then draws ``inference.draws`` times from the
prior (no NUTS; seeded by ``seed``, so the same config gives the same tables), and computes the
ROI, marginal ROI and contribution share those draws imply with the functions a fit uses
(``mmm_geo.analysis.roi.channel_metrics``), and the prior predictive KPI against the observed.

The folder gets ``config.yaml`` (resolved), ``prior_check.csv`` (one row per channel: median and
5/25/75/95 % quantiles of ROI, marginal ROI and share, P(ROI > 1)), ``prior_kpi.csv`` (the prior
predictive KPI range against the observed), ``prior_check.html`` and ``figures/*.png``. It has no
``metrics.json``: it is not a fitted run.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Optional

import jax
import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis.prior import METRICS, ORDER, channel_quantiles, kpi_band, kpi_range
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.config import FitConfig, config_hash
from mmm_geo.inference.trace import atomic_write, prior_trace
from mmm_geo.report import prior_page
from mmm_geo.run import setup, window_data

TABLE, KPI, PAGE = "prior_check.csv", "prior_kpi.csv", "prior_check.html"


class PriorCheck(NamedTuple):
    """The check's tables and page."""

    channels: pd.DataFrame      # one row per channel (mmm_geo.analysis.prior.channel_quantiles)
    kpi: pd.DataFrame           # geo-week and national-week rows (kpi_range)
    html: str
    figures: dict               # name -> PNG bytes


def prior_check(cfg: FitConfig, out_dir: Optional[Path] = None) -> PriorCheck:
    """The prior predictive check of ``cfg``'s model on its data (its run's training window)."""
    ready = setup(cfg)
    ds, model = ready.ds, ready.cfg.model
    scaling, data = window_data(ready.cfg, ds, ready.lengths[-1], ready.previous)
    idata = prior_trace(data, ds, scaling, model, jax.random.key(cfg.seed), cfg.inference.draws)
    metrics = channel_metrics(idata.posterior, ds, scaling, model, cfg.inference.ppc_batch)
    table, kpi = channel_quantiles(metrics), kpi_range(idata)
    info = prior_page.Info(ds.attrs["source"], cfg.inference.draws, cfg.seed, config_hash(cfg),
                           str(out_dir or "(not saved)"))
    html, figs = prior_page.render(table, kpi, kpi_band(idata), info)
    return PriorCheck(table, kpi, html, figs)


def write_prior_check(cfg: FitConfig, out_dir: Path,
                      resolved_config: Optional[str] = None) -> PriorCheck:
    """Run :func:`prior_check` and write its folder ``out_dir``; print its tables."""
    out_dir = Path(out_dir)
    check = prior_check(cfg, out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    text = resolved_config or json.dumps(asdict(cfg), indent=2, default=str)
    atomic_write(out_dir / "config.yaml", lambda p: p.write_text(text))
    atomic_write(out_dir / TABLE, lambda p: check.channels.to_csv(p, index=False))
    atomic_write(out_dir / KPI, lambda p: check.kpi.to_csv(p, index=False))
    for name, data in check.figures.items():
        atomic_write(out_dir / "figures" / f"{name}.png", lambda p, d=data: p.write_bytes(d))
    atomic_write(out_dir / PAGE, lambda p: p.write_text(check.html, encoding="utf-8"))
    print_check(check, cfg.inference.draws)
    return check


def print_check(check: PriorCheck, draws: int) -> None:
    """The tables in the terminal, one block per metric."""
    names = {"roi": "ROI", "mroi": "marginal ROI", "share": "share of revenue"}
    print(f"\nPrior predictive check ({draws} draws from the prior; no data used): per channel, "
          "median and 5/25/75/95% quantiles")
    for prefix in METRICS:
        cols = [f"{prefix}_{k}" for k in ORDER] + (["roi_p_gt_1"] if prefix == "roi" else [])
        block = check.channels[[dims.CHANNEL, *cols]].rename(
            columns=lambda c: c.removeprefix(f"{prefix}_"))
        fmt = (lambda x: f"{x:.2%}") if prefix == "share" else (lambda x: f"{x:,.3f}")
        print(f"\n{names[prefix]}\n" + block.to_string(index=False, float_format=fmt))
    print("\nKPI: prior predictive range against the observed (all draws and periods pooled; "
          "observed_in_90: share of observed values inside their 90% prior interval)")
    print(check.kpi.to_string(index=False, float_format=lambda x: f"{x:,.3g}"))
