"""One fit = one run folder: load, scale, sample, diagnose, summarise, save; and load it back.

A run folder holds ``trace.nc``, ``config.yaml`` (resolved), ``scaling.json``, ``diagnostics.csv``,
``summary.csv`` (ROI, marginal ROI and contribution with 90 % intervals), ``treatments.csv``
(price elasticity, promotion lift, with ``data.treatments``), ``truth.json`` for simulated data,
``refresh.csv`` for a refresh (``refresh_from``, ``mmm_geo.refresh``) and ``metrics.json``.
Every file is written atomically and ``metrics.json`` last, so a folder without it is an
incomplete run, never mistaken for a finished one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

import arviz as az
import jax
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims, faults, refresh
from mmm_geo.analysis.accuracy import fit_metrics
from mmm_geo.analysis.lift import lift_agreement
from mmm_geo.analysis.mediation import LABELS as MEDIATION_LABELS
from mmm_geo.analysis.checks import true_metric
from mmm_geo.analysis.time_varying import multiplier_table
from mmm_geo.analysis.treatments import print_treatments, treatment_draws, treatment_table
from mmm_geo.analysis.roi import ORGANIC_SUMMARY, SUMMARY, channel_metrics, interval_table, period_roi
from omegaconf import OmegaConf

from mmm_geo.config import FitConfig, config_hash, to_config
from mmm_geo.data.lift import with_lift_tests
from mmm_geo.data.load import add_lift_tests, load_dataset, to_dataset
from mmm_geo.data.checks import check_negative_allowed, check_test_windows
from mmm_geo.data.scaling import ModelData, Scaling, excluded, fit_scaling, model_data
from mmm_geo.data.simulate import data_config, lift_table, simulate
from mmm_geo.data.treatments import kinds as treatment_kinds
from mmm_geo.data.validate import check_spend, check_window
from mmm_geo.errors import RunError
from mmm_geo.experiments import store, tracking
from mmm_geo.inference import diagnostics
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.inference.trace import atomic_write, build_trace, load_trace, save_trace
from mmm_geo.model.hierarchical import check_config, check_count_kpi, time_bases
from mmm_geo.validation import check_trend_knots, objective, train_lengths

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
    """The configured dataset (with its lift tests), or the embedded simulated panel (with its
    truth, and its simulated lift tests unless ``data.lift_tests`` names a file) when no path."""
    if cfg.data.path is not None:
        return add_lift_tests(load_dataset(cfg.data), cfg.data), None
    frame, truth = simulate(cfg.simulation)
    columns = replace(data_config(cfg.simulation), exclude=cfg.data.exclude,
                      allow_negative_kpi=cfg.data.allow_negative_kpi)
    ds = to_dataset(frame, columns, "embedded default dataset")
    if cfg.simulation.lift_tests and not cfg.data.lift_tests:
        return with_lift_tests(ds, lift_table(truth), "embedded lift tests"), truth
    return add_lift_tests(ds, cfg.data), truth


class Fitted(NamedTuple):
    """One fit on a training window: its trace, scaling and sampler timing."""

    idata: az.InferenceData
    scaling: Scaling
    sample_s: float
    chain_method: str


class Setup(NamedTuple):
    """What a fit (or a prior check) of a config works on, checked, before any sampling."""

    cfg: FitConfig           # with the model's channel names from the data
    ds: xr.Dataset
    truth: Optional[dict]
    lengths: List[int]       # training periods of each window; the last is the run's own fit
    previous: Optional[refresh.Previous] = None   # refresh_from: the run it starts from


def setup(cfg: FitConfig) -> Setup:
    """Check the config against the data, load the data and split it into training windows; with
    ``refresh_from``, load and check the previous run and match its priors (``mmm_geo.refresh``)."""
    check_config(cfg.model)
    check_negative_allowed(cfg.data.allow_negative_kpi, cfg.model.likelihood)
    ds, truth = load_data(cfg)
    cfg = with_channels(cfg, ds)
    lengths = train_lengths(ds.sizes[dims.TIME], cfg.validation, 2 * cfg.model.adstock.max_lag)
    check_trend_knots(cfg.model.trend_knots, lengths[0])
    check_test_windows(excluded(ds), lengths, cfg.validation.holdout)
    if not cfg.refresh_from:
        return Setup(cfg, ds, truth, lengths)
    previous = refresh.previous(cfg, ds, lengths)   # checked, and its priors matched, before any fit
    data = window_data(cfg, ds, lengths[-1], previous)[1]
    return Setup(cfg, ds, truth, lengths, refresh.matched(previous, ds, data, cfg.model))


def window_data(cfg: FitConfig, ds: xr.Dataset, n_train: int,
                previous: Optional[refresh.Previous] = None) -> Tuple[Scaling, ModelData]:
    """The scaling and model inputs of a fit on the first ``n_train`` periods of ``ds`` (every
    period is in the inputs; ``train`` marks the fitted ones), after checking that window; with
    ``previous``, a refresh: its scaling, its posterior as the priors, and with ``new_weeks`` a
    likelihood of the periods after its window only (its posterior holds the earlier ones)."""
    train = ds.isel({dims.TIME: slice(0, n_train)})
    check_window(n_train, cfg.model.adstock.max_lag, ds.attrs["source"])
    names, where = [str(c) for c in ds[dims.CHANNEL].values], f"{ds.attrs['source']} (first {n_train} periods)"
    for var, keep in (("spend", lambda n: n not in cfg.model.organic_channels),
                      ("exposure", lambda n: n in cfg.model.organic_channels)):
        idx = [i for i, n in enumerate(names) if keep(n)]
        if idx:
            check_spend(train[var].values[..., idx], [names[i] for i in idx], [names[i] for i in idx],
                        where, var)
    scaling = fit_scaling(train) if previous is None else previous.run.scaling
    bases = time_bases(ds.sizes[dims.TIME], cfg.model, n_train)
    data = model_data(ds, scaling, np.float64 if cfg.inference.x64 else np.float32, bases, n_train,
                      previous.end if previous is not None and previous.new_weeks else 0)
    if previous is not None:
        data = data._replace(priors=previous.priors)
    return scaling, data


def fit_window(cfg: FitConfig, ds: xr.Dataset, n_train: int, key: jax.Array, attrs: dict,
               previous: Optional[refresh.Previous] = None) -> Fitted:
    """Fit on the first ``n_train`` periods of ``ds``; the trace covers (forecasts) all of them."""
    scaling, data = window_data(cfg, ds, n_train, previous)
    key_fit, key_ppc = jax.random.split(key)
    faults.pause("sample")
    result = run_nuts(data, cfg.model, cfg.inference, key_fit)
    idata = build_trace(result, ds, scaling, data, cfg.model, key_ppc, cfg.inference.ppc_batch, attrs)
    return Fitted(idata, scaling, result.sample_s, result.chain_method)


def fold_row(fold: int, n_train: int, conv: dict, holdout: dict, sample_s: float) -> dict:
    """One rolling-origin fold's line in ``metrics.json["cv"]``: forecast accuracy and health."""
    hold = dict(holdout)
    return {"fold": fold, "train_periods": n_train, "test_periods": hold.pop("periods"), **hold,
            "max_rhat": conv["max_rhat"], "chains": conv["chains"],
            "divergences": conv["divergences"], "sample_s": sample_s}


def cv_fold(cfg: FitConfig, ds: xr.Dataset, n_train: int, key: jax.Array, fold: int) -> dict:
    """Fit an earlier rolling-origin fold on ``ds``'s first ``n_train`` periods and score its
    forecast of the next ``validation.holdout``; the fold's trace is not kept."""
    window = ds.isel({dims.TIME: slice(0, n_train + cfg.validation.holdout)})
    fitted = fit_window(cfg, window, n_train, jax.random.fold_in(key, fold), {})
    return fold_row(fold, n_train, diagnostics.convergence(fitted.idata),
                    fit_metrics(fitted.idata, cfg.model.period)["holdout"], fitted.sample_s)


def fit(cfg: FitConfig, out_dir: Path, resolved_config: Optional[str] = None) -> dict:
    """Fit the model of ``cfg`` and write the run folder ``out_dir``. Returns ``metrics.json``.

    With ``validation.folds`` the earlier folds are fitted first and scored; the last fold (or the
    single holdout split, or the whole data) is the run's own fit.
    """
    start = time.perf_counter()
    where = tracking.target(cfg, Path(out_dir))  # checked before any work; logged once saved
    ready = setup(cfg)
    ds, truth, lengths = ready.ds, ready.truth, ready.lengths
    attrs = {"name": cfg.name, "config_hash": config_hash(cfg), "source": ds.attrs["source"],
             "kpi_is_revenue": str(ds.attrs["kpi_is_revenue"])}
    cfg = ready.cfg
    key = jax.random.key(cfg.seed)
    folds = [cv_fold(cfg, ds, n, key, k) for k, n in enumerate(lengths[:-1], start=1)]
    fitted = fit_window(cfg, ds, lengths[-1], jax.random.fold_in(key, len(lengths)), attrs,
                        ready.previous)
    idata, scaling = fitted.idata, fitted.scaling
    table = diagnostics.diagnostics_table(idata)
    conv = diagnostics.convergence(idata)
    issues = diagnostics.problems(conv, cfg.inference)
    metrics_ds = channel_metrics(idata.posterior, ds, scaling, cfg.model, cfg.inference.ppc_batch)
    summary = interval_table(metrics_ds, ORGANIC_SUMMARY if cfg.model.organic_channels else SUMMARY)
    if truth:
        summary = add_truth(summary, truth)
    lift = lift_agreement(idata.posterior, ds, scaling, cfg.model, idata.constant_data["train"].values)
    treated = (treatment_table(treatment_draws(idata.posterior, ds, scaling, cfg.model,
                                               idata.constant_data["train"].values,
                                               cfg.inference.ppc_batch), cfg.model, truth=truth)
               if cfg.model.treatment_kinds else None)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / COMPLETE).unlink(missing_ok=True)
    idata.posterior = xr.merge([idata.posterior, metrics_ds])
    text = resolved_config or json.dumps(asdict(cfg), indent=2, default=str)
    files = {"config.yaml": lambda p: p.write_text(text), "scaling.json": scaling.to_json,
             "diagnostics.csv": table.to_csv, "summary.csv": lambda p: summary.to_csv(p, index=False)}
    if cfg.model.time_varying.channels:
        tv_table = multiplier_table(idata.posterior, cfg.model.time_varying.channels, truth=truth)
        files["time_varying.csv"] = lambda p: tv_table.to_csv(p, index=False)
        by_year = period_roi(idata.posterior, ds, scaling, cfg.model, "Y", batch=cfg.inference.ppc_batch)
        files["roi_by_year.csv"] = lambda p: by_year.to_csv(p, index=False)
    if truth:
        files["truth.json"] = lambda p: p.write_text(json.dumps(truth, indent=1))
    if lift is not None:
        files["lift_tests.csv"] = lambda p: lift.to_csv(p, index=False)
    if treated is not None:
        files["treatments.csv"] = lambda p: treated.to_csv(p, index=False)
    if ready.previous is not None:
        changed = refresh.changes(ready.previous, idata, metrics_ds, ds, scaling, cfg)
        files[refresh.TABLE] = lambda p: changed.to_csv(p, index=False)
    store.remove_temp(out_dir)  # left by a killed fit into this folder
    save_trace(idata, out_dir / "trace.nc")
    for name, write in files.items():
        atomic_write(out_dir / name, write)
    metrics = {
        "complete": True,
        "config_hash": attrs["config_hash"],
        "convergence": conv,
        "converged": not issues,
        "problems": issues,
        "data_warnings": list(ds.attrs.get("data_warnings", [])),
        **fit_metrics(idata, cfg.model.period),
        "time": {"sample_s": fitted.sample_s, "total_s": time.perf_counter() - start,
                 "chain_method": fitted.chain_method, "device": str(jax.devices()[0].platform)},
        "min_ess_per_s": conv["min_ess_bulk"] / fitted.sample_s,
        "trace_mb": (out_dir / "trace.nc").stat().st_size / 2**20,
    }
    if lift is not None:
        metrics["lift_tests"] = {"tests": len(lift), "used_in_fit": int(lift["used_in_fit"].sum()),
                                 "agree": int(lift["agrees"].sum())}
    if folds:
        folds.append(fold_row(len(lengths), lengths[-1], conv, metrics["holdout"], fitted.sample_s))
        metrics["cv"] = {"folds": folds,
                         **{f"mean_{m}": float(np.mean([f[m] for f in folds]))
                            for m in ("mape", "nrmse", "naive_mape", "naive_nrmse")}}
    if ready.previous is not None:
        metrics["refresh"] = refresh.record(ready.previous, lengths[-1])
    metrics["objective"] = objective(metrics, cfg.validation.metric)
    metrics[store.SHA256] = store.checksums(out_dir, ["trace.nc", *files])
    atomic_write(out_dir / COMPLETE, lambda p: p.write_text(json.dumps(metrics, indent=2)))
    diagnostics.report(table, conv, issues)
    print_summary(summary, metrics, lift)
    if treated is not None:
        print_treatments(treated)
    if ready.previous is not None:
        refresh.print_changes(changed, metrics["refresh"])
    tracking.log_fit(where, out_dir)
    return metrics


def with_channels(cfg: FitConfig, ds: xr.Dataset) -> FitConfig:
    """``cfg`` with the model's ``channel_names``, ``organic_channels`` (those without spend) and
    ``rf_channels`` (those with a frequency) from the data (checks per-channel overrides)."""
    names = [str(c) for c in ds.coords[dims.CHANNEL].values]
    spent = ds["spend"].sum((dims.GEO, dims.TIME)).values > 0
    rf = np.isfinite(ds["frequency"].values).all(axis=(0, 1)) if "frequency" in ds else [False] * len(names)
    model = replace(cfg.model, channel_names=names,
                    organic_channels=[n for n, s in zip(names, spent) if not s],
                    rf_channels=[n for n, r in zip(names, rf) if r],
                    treatment_kinds=treatment_kinds(ds))
    check_config(model)
    check_count_kpi(model, ds)
    return replace(cfg, model=model)


def add_truth(summary: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Add the true value (``mmm_geo.analysis.checks.true_metric``) and whether the 90 % interval
    covers it (simulated data only)."""
    true = [true_metric(truth, m, ch) for m, ch in zip(summary["metric"], summary["channel"])]
    out = summary.assign(true=true)
    return out.assign(covered=(out["p5"] <= out["true"]) & (out["true"] <= out["p95"]))


def print_summary(summary: pd.DataFrame, metrics: dict, lift: Optional[pd.DataFrame] = None) -> None:
    """Human-readable summary of the fit."""
    fmt = {"roi": "ROI", "mroi": "marginal ROI", "contribution": "contribution",
           "roi_own": "ROI of the channel's own response (without its synergy)",
           "synergy_contribution": "synergy contribution (per pair)",
           "contribution_per_1000": "contribution per 1,000 exposures",
           **{k: f"{v} (mediation, per upstream channel)" for k, v in MEDIATION_LABELS.items()}}
    print("\nPer channel, posterior median and 90% interval:")
    for metric, block in summary.groupby("metric", sort=False):
        print(f"\n{fmt.get(metric, metric)}")
        cols = [c for c in ("channel", "median", "p5", "p95", "p_gt_1", "true", "covered") if c in block]
        if metric not in ("roi", "roi_own"):
            cols = [c for c in cols if c != "p_gt_1"]
        print(block[cols].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    f, t = metrics["fit"], metrics["time"]
    chains = metrics["convergence"]["chains"]
    how = "1 chain" if chains == 1 else f"{chains} {t['chain_method']} chains"
    print(f"\nin-sample R^2 {f['r2']:.3f}, MAPE {f['mape']:.2%}; sampling {t['sample_s']:.1f} s on "
          f"{t['device']} ({how}); min ESS/s {metrics['min_ess_per_s']:.2f}")
    for fold in metrics.get("cv", {}).get("folds", []):
        print(f"fold {fold['fold']}: trained on {fold['train_periods']} periods, forecast "
              f"{fold['test_periods']}: MAPE {fold['mape']:.2%} (seasonal naive "
              f"{fold['naive_mape']:.2%}), {diagnostics.rhat_text(fold)}")
    if lift is not None:
        print("\nLift tests (KPI units): measured vs the model's posterior median and 90% interval")
        cols = ["test", "channel", "start", "end", "measured", "se", "model_median", "model_lo",
                "model_hi", "used_in_fit", "agrees"]
        print(lift[cols].to_string(index=False, float_format=lambda x: f"{x:,.0f}"))
    if "holdout" in metrics:
        h = metrics["holdout"]
        print(f"holdout ({h['periods']} periods): R^2 {h['r2']:.3f}, MAPE {h['mape']:.2%}, NRMSE "
              f"{h['nrmse']:.3f}; seasonal naive: MAPE {h['naive_mape']:.2%}, NRMSE {h['naive_nrmse']:.3f}")


def load_run(path: Path) -> Run:
    """Load a finished run folder without refitting; RunError if it is incomplete or any of its
    files differs from the checksum ``metrics.json`` keeps (checked before anything is read)."""
    path = Path(path)
    metrics = store.read_metrics(path)
    if metrics is None:
        raise RunError(f"{path}: not a complete run (no readable {COMPLETE}; it was killed or is "
                       "still running)\n  fix: re-run the fit into this folder or pick another run")
    store.check_files(path, metrics)
    idata = load_trace(path / "trace.nc")
    cd = idata.constant_data
    ds = xr.Dataset({name: cd[name] for name in cd.data_vars if name != "train"})
    ds["kpi"] = idata.observed_data["kpi"]
    ds.attrs["source"] = idata.posterior.attrs.get("source", str(path))
    ds.attrs["kpi_is_revenue"] = int(idata.posterior.attrs.get("kpi_is_revenue", "1"))
    cfg = with_channels(to_config(OmegaConf.load(path / "config.yaml")), ds)
    return Run(path, idata, ds, Scaling.from_json(path / "scaling.json"), cfg, metrics)
