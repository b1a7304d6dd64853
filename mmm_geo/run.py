"""One fit = one run folder: load, scale, sample, diagnose, summarise, save; and load it back.

A run folder holds ``trace.nc``, ``config.yaml`` (resolved), ``scaling.json``, ``diagnostics.csv``,
``summary.csv`` (ROI, marginal ROI and contribution with 90 % intervals), ``truth.json`` for
simulated data, and ``metrics.json``. Every file is written atomically and ``metrics.json`` last, so
a folder without it is an incomplete run, never mistaken for a finished one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.roi import channel_metrics, interval_table
from omegaconf import OmegaConf

from mmm_geo.config import FitConfig, config_hash, to_config
from mmm_geo.data.load import load_dataset, to_dataset
from mmm_geo.data.scaling import Scaling, fit_scaling, model_data
from mmm_geo.data.simulate import data_config, simulate
from mmm_geo.data.validate import check_window
from mmm_geo.errors import RunError
from mmm_geo.inference import diagnostics
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.inference.trace import atomic_write, build_trace, load_trace, save_trace
from mmm_geo.model.hierarchical import check_config

COMPLETE = "metrics.json"


class Run(NamedTuple):
    """A saved run loaded back: trace, data, scaling, config dict and metrics."""

    path: Path
    idata: az.InferenceData
    ds: xr.Dataset
    scaling: Scaling
    config: FitConfig
    metrics: dict


def load_data(cfg: FitConfig) -> Tuple[xr.Dataset, Optional[dict]]:
    """The configured dataset, or the embedded simulated panel (with its truth) when no path."""
    if cfg.data.path is None:
        frame, truth = simulate(cfg.simulation)
        return to_dataset(frame, data_config(cfg.simulation), "embedded default dataset"), truth
    return load_dataset(cfg.data), None


def fit_metrics(idata: az.InferenceData) -> dict:
    """In-sample R^2 and MAPE of the posterior predictive mean against the observed KPI."""
    obs = idata.observed_data["kpi"].values
    pred = idata.posterior_predictive["kpi"].mean(dim=(dims.CHAIN, dims.DRAW)).values
    resid = obs - pred
    r2 = 1 - (resid ** 2).sum() / ((obs - obs.mean()) ** 2).sum()
    nonzero = obs != 0
    mape = np.mean(np.abs(resid[nonzero] / obs[nonzero]))
    return {"r2": float(r2), "mape": float(mape)}


def fit(cfg: FitConfig, out_dir: Path, resolved_config: Optional[str] = None) -> dict:
    """Fit the model of ``cfg`` and write the run folder ``out_dir``. Returns ``metrics.json``."""
    import jax

    check_config(cfg.model)
    start = time.perf_counter()
    ds, truth = load_data(cfg)
    check_window(ds.sizes[dims.TIME], cfg.model.adstock.max_lag, ds.attrs["source"])
    scaling = fit_scaling(ds)
    data = model_data(ds, scaling, np.float64 if cfg.inference.x64 else np.float32)
    key_fit, key_ppc = jax.random.split(jax.random.key(cfg.seed))
    result = run_nuts(data, cfg.model, cfg.inference, key_fit)
    attrs = {"name": cfg.name, "config_hash": config_hash(cfg), "source": ds.attrs["source"],
             "kpi_is_revenue": str(ds.attrs["kpi_is_revenue"])}
    idata = build_trace(result, ds, scaling, data, cfg.model, key_ppc, cfg.inference.ppc_batch, attrs)
    table = diagnostics.diagnostics_table(idata)
    conv = diagnostics.convergence(idata)
    issues = diagnostics.problems(conv, cfg.inference)
    metrics_ds = channel_metrics(idata.posterior, ds, scaling, cfg.model, cfg.inference.ppc_batch)
    summary = interval_table(metrics_ds)
    if truth:
        summary = add_truth(summary, truth)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / COMPLETE).unlink(missing_ok=True)
    idata.posterior = xr.merge([idata.posterior, metrics_ds])
    save_trace(idata, out_dir / "trace.nc")
    text = resolved_config or json.dumps(asdict(cfg), indent=2, default=str)
    atomic_write(out_dir / "config.yaml", lambda p: p.write_text(text))
    atomic_write(out_dir / "scaling.json", scaling.to_json)
    atomic_write(out_dir / "diagnostics.csv", table.to_csv)
    atomic_write(out_dir / "summary.csv", lambda p: summary.to_csv(p, index=False))
    if truth:
        atomic_write(out_dir / "truth.json", lambda p: p.write_text(json.dumps(truth, indent=1)))
    metrics = {
        "complete": True,
        "config_hash": attrs["config_hash"],
        "convergence": conv,
        "converged": not issues,
        "problems": issues,
        "fit": fit_metrics(idata),
        "time": {"sample_s": result.sample_s, "total_s": time.perf_counter() - start,
                 "chain_method": result.chain_method, "device": str(jax.devices()[0].platform)},
        "min_ess_per_s": conv["min_ess_bulk"] / result.sample_s,
    }
    atomic_write(out_dir / COMPLETE, lambda p: p.write_text(json.dumps(metrics, indent=2)))
    diagnostics.report(table, conv, issues)
    print_summary(summary, metrics)
    return metrics


def add_truth(summary: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Add the true value and whether the 90 % interval covers it (simulated data only)."""
    true = [truth["national"][ch][m] for m, ch in zip(summary["metric"], summary["channel"])]
    out = summary.assign(true=true)
    return out.assign(covered=(out["p5"] <= out["true"]) & (out["true"] <= out["p95"]))


def print_summary(summary: pd.DataFrame, metrics: dict) -> None:
    """Human-readable summary of the fit."""
    fmt = {"roi": "ROI", "mroi": "marginal ROI", "contribution": "contribution"}
    print("\nPer channel, posterior median and 90% interval:")
    for metric, block in summary.groupby("metric", sort=False):
        print(f"\n{fmt.get(metric, metric)}")
        cols = [c for c in ("channel", "median", "p5", "p95", "p_gt_1", "true", "covered") if c in block]
        if metric != "roi":
            cols = [c for c in cols if c != "p_gt_1"]
        print(block[cols].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    f, t = metrics["fit"], metrics["time"]
    print(f"\nin-sample R^2 {f['r2']:.3f}, MAPE {f['mape']:.2%}; sampling {t['sample_s']:.1f} s on "
          f"{t['device']} ({t['chain_method']} chains); min ESS/s {metrics['min_ess_per_s']:.2f}")


def load_run(path: Path) -> Run:
    """Load a finished run folder without refitting; RunError if it is incomplete or corrupt."""
    path = Path(path)
    if not (path / COMPLETE).is_file():
        raise RunError(f"{path}: not a complete run (no {COMPLETE}; it was killed or is still "
                       "running)\n  fix: re-run the fit into this folder or pick another run")
    idata = load_trace(path / "trace.nc")
    cd = idata.constant_data
    ds = xr.Dataset({name: cd[name] for name in cd.data_vars})
    ds["kpi"] = idata.observed_data["kpi"]
    ds.attrs["source"] = idata.posterior.attrs.get("source", str(path))
    ds.attrs["kpi_is_revenue"] = int(idata.posterior.attrs.get("kpi_is_revenue", "1"))
    metrics = json.loads((path / COMPLETE).read_text())
    cfg = to_config(OmegaConf.load(path / "config.yaml"))
    return Run(path, idata, ds, Scaling.from_json(path / "scaling.json"), cfg, metrics)
