"""Everything the report shows, computed once from a loaded run with ``mmm_geo.analysis``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis import accuracy, checks, contributions, curves
from mmm_geo.analysis.draws import SAMPLE, summarize, thin
from mmm_geo.analysis.lift import lift_agreement
from mmm_geo.analysis.performance import rank_channels
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.analysis.time_varying import multiplier_table
from mmm_geo.analysis.treatments import treatment_draws, treatment_table
from mmm_geo.errors import ConfigError
from mmm_geo.report.config import ReportConfig
from mmm_geo.report.recovery import Source


class Analysis(NamedTuple):
    """The report's numbers (xarray summaries over draws unless noted)."""

    metrics: xr.Dataset          # channel_metrics per draw (chain, draw, [geo,] channel)
    ranking: xr.Dataset          # rank_channels (channel), best first
    roi_geo: xr.Dataset          # summary of roi_geo (geo, channel)
    geo_var: xr.Dataset          # summary of roi_geo_cv per channel
    components: xr.DataArray     # posterior mean per component (component, geo, time)
    share: xr.Dataset            # summary of each component's share of the KPI (component)
    media_share: xr.Dataset      # summary of all channels' share of the KPI together
    expected: xr.DataArray       # posterior mean of the summed components (geo, time)
    curves: xr.Dataset           # response curve summary (channel, multiplier) + spend coord
    decay: xr.Dataset            # adstock decay summary (channel, lag)
    mean_lag: xr.Dataset         # summary of the mean carryover lag (channel)
    bands: xr.Dataset            # predictive bands (geo, time) and national (time)
    holdout_bands: Optional[xr.Dataset]  # bands of the fit whose holdout is shown
    holdout_source: str          # "" (this run) or the validation run's folder
    coverage: dict
    accuracy: dict               # {"fit": ..., "holdout": ...} (mmm_geo.analysis.accuracy)
    shift: Optional[xr.Dataset]  # prior vs posterior (None: the trace has no prior)
    recovery: Optional[pd.DataFrame]
    geo_recovery: Optional[dict]
    recovery_label: str
    recovery_fit: Optional[dict]   # metrics.json of a separate recovery fit (None: this run)
    optimizer: Optional[dict]
    lift: Optional[pd.DataFrame]   # lift_agreement (None: the data have no lift tests)
    synergy: pd.DataFrame          # synergy_table (empty without model.synergy)
    time_varying: pd.DataFrame     # multiplier_table (empty without model.time_varying)
    treatments: pd.DataFrame = pd.DataFrame()   # treatment_table (empty without data.treatments)


def read_optimizer(folder: Path) -> Optional[dict]:
    """The optimizer's output in ``folder`` (None when it has not been run), with the per-draw
    gain of the recommended plan (``gain``) and of every other plan (``gains``: the scenarios,
    the timed flighting) over the current one."""
    files = [folder / n for n in ("allocation.csv", "outcomes.csv", "optimize.json", "optimize.nc")]
    if not all(f.is_file() for f in files):
        return None
    with xr.open_dataset(files[3], engine="h5netcdf") as nc:
        outcome = nc["outcome"].load()
    gains = {str(p): (outcome.sel(plan=p) - outcome.sel(plan="current")).values
             for p in outcome["plan"].values if p != "current"}
    return {"allocation": pd.read_csv(files[0]), "outcomes": pd.read_csv(files[1]),
            "summary": json.loads(files[2].read_text()), "gain": gains["recommended"],
            "gains": gains, "path": str(folder)}


def holdout_check(run, cfg: ReportConfig, bands: xr.Dataset):
    """Accuracy metrics, the bands whose holdout is shown and where they come from: the run's own
    held-out weeks, else those of ``cfg.validation_run`` (same data and model), else none. The
    metrics carry that run's rolling-origin folds (``cv`` of its ``metrics.json``) when it has them."""
    acc = accuracy.fit_metrics(run.idata, run.config.model.period)
    if "holdout" in acc or not cfg.validation_run:
        acc = {**acc, **({"cv": run.metrics["cv"]} if "cv" in run.metrics else {})}
        return acc, (bands if "holdout" in acc else None), ""
    val = companion(run, "validation_run", cfg.validation_run, same_model=True,
                    fix="fit the run's config again with validation.holdout=13 and pass that folder")
    hold = accuracy.fit_metrics(val.idata, val.config.model.period).get("holdout")
    if hold is None:
        raise ConfigError(f"validation_run={val.path} held no weeks out\n  fix: fit it with "
                          "validation.holdout=13")
    cv = {"cv": val.metrics["cv"]} if "cv" in val.metrics else {}
    return ({**acc, "holdout": hold, **cv}, checks.predictive_bands(val.idata, cfg.prob),
            str(val.path))


def companion(run, key: str, folder: str, same_model: bool, fix: str):
    """The run in ``folder`` (``key=`` of the report), refused unless it was fitted on the same
    panel as ``run`` (and, with ``same_model``, with the same model)."""
    from mmm_geo.run import load_run

    other = load_run(Path(folder))
    same = (other.ds.sizes == run.ds.sizes and np.array_equal(other.ds["kpi"].values, run.ds["kpi"].values)
            and list(other.ds[dims.CHANNEL].values) == list(run.ds[dims.CHANNEL].values)
            and (not same_model or other.config.model == run.config.model))
    if not same:
        what = "data and model" if same_model else "data"
        raise ConfigError(f"{key}={other.path} is not the same {what} as {run.path}\n  fix: {fix}")
    return other


def timing(run, cfg: ReportConfig, truth) -> pd.DataFrame:
    """The time-varying multipliers: the run's own (``model.time_varying``), else those of
    ``cfg.timing_run`` (the same data fitted with time-varying effects), else an empty table."""
    source = run
    if not run.config.model.time_varying.channels and cfg.timing_run:
        source = companion(run, "timing_run", cfg.timing_run, same_model=False,
                           fix="fit the run's config again with model.time_varying.channels=[...] "
                               "and pass that folder")
        if not source.config.model.time_varying.channels:
            raise ConfigError(f"timing_run={source.path} has no time-varying effects\n  fix: fit "
                              "it with model.time_varying.channels=[...]")
    return multiplier_table(source.idata.posterior, source.config.model.time_varying.channels,
                            cfg.prob, truth)


def analyse(run, cfg: ReportConfig, recovery: Optional[Source]) -> Analysis:
    """Compute every number of the report from ``run`` (a :class:`mmm_geo.run.Run`)."""
    model, batch = run.config.model, run.config.inference.ppc_batch
    post = run.idata.posterior[contributions.sites(run.idata.posterior)]
    metrics = channel_metrics(post, run.ds, run.scaling, model, batch)
    small = thin(post, cfg.max_draws)
    parts = contributions.decomposition(small, run.ds, run.scaling, model,
                                          accuracy.train_mask(run.idata))
    comp = contributions.by_component(parts).mean(SAMPLE)
    share = contributions.window_share(parts)
    channels = [str(c) for c in run.ds[dims.CHANNEL].values]
    resp = curves.response_curves(small, run.ds, run.scaling, model)
    decay = curves.adstock_decay(small, model, run.ds.sizes[dims.CHANNEL])
    curve_summary = summarize(resp["revenue"], cfg.prob).assign_coords(spend=resp["spend"])
    bands = checks.predictive_bands(run.idata, cfg.prob)
    acc, holdout_bands, holdout_source = holdout_check(run, cfg, bands)
    rec = geo_rec = None
    if recovery is not None:
        rmetrics = metrics if recovery.run is run else channel_metrics(
            recovery.run.idata.posterior[contributions.sites(recovery.run.idata.posterior)],
            recovery.run.ds, recovery.run.scaling, recovery.run.config.model, batch)
        rec = checks.recovery(rmetrics, recovery.truth, cfg.prob)
        geo_rec = checks.geo_recovery(rmetrics, recovery.truth, cfg.prob)
    return Analysis(
        metrics=metrics,
        ranking=rank_channels(metrics, cfg.prob, cfg.good, cfg.poor),
        roi_geo=summarize(metrics["roi_geo"], cfg.prob),
        geo_var=summarize(curves.geo_variation(metrics)["roi_geo_cv"], cfg.prob),
        components=comp,
        share=summarize(share, cfg.prob),
        media_share=summarize(share.sel(component=media_components(share, channels)).sum("component"),
                              cfg.prob),
        expected=parts["expected"].mean(SAMPLE),
        curves=curve_summary,
        decay=summarize(decay, cfg.prob),
        mean_lag=summarize(curves.mean_lag(decay), cfg.prob),
        bands=bands,
        holdout_bands=holdout_bands,
        holdout_source=holdout_source,
        coverage=checks.coverage(bands),
        accuracy=acc,
        shift=checks.prior_posterior(run.idata),
        recovery=rec,
        geo_recovery=geo_rec,
        recovery_label=recovery.label if recovery else "",
        recovery_fit=(recovery.run.metrics if recovery is not None and recovery.run is not run
                      else None),
        optimizer=read_optimizer(run.path / cfg.optimize),
        lift=lift_agreement(post, run.ds, run.scaling, model, accuracy.train_mask(run.idata), cfg.prob),
        synergy=synergy_table(metrics, cfg.prob),
        time_varying=timing(run, cfg, recovery.truth if recovery is not None else None),
        treatments=(treatment_table(treatment_draws(small, run.ds, run.scaling, model,
                                                    accuracy.train_mask(run.idata)), model, cfg.prob,
                                    recovery.truth if recovery is not None else None)
                    if model.treatment_kinds else pd.DataFrame()),
    )


def media_components(share: xr.DataArray, channels) -> list:
    """The components that are media: every channel and every synergy pair."""
    return [str(c) for c in share["component"].values
            if str(c) in channels or str(c).startswith(contributions.SYNERGY)]


def synergy_table(metrics: xr.Dataset, prob: float) -> pd.DataFrame:
    """Per synergy pair, its revenue contribution; per paired channel, its ROI with the synergy
    (counterfactual) and of its own response alone: median and interval (empty without pairs)."""
    if "synergy_contribution" not in metrics:
        return pd.DataFrame()
    rows = []
    pairs = [str(p) for p in metrics[dims.PAIR].values]
    paired = [c for c in map(str, metrics[dims.CHANNEL].values) if any(c in p.split(":") for p in pairs)]
    for name, label, dim, names in (("synergy_contribution", "synergy contribution", dims.PAIR, pairs),
                                    ("roi", "ROI with synergy", dims.CHANNEL, paired),
                                    ("roi_own", "ROI of its own response", dims.CHANNEL, paired)):
        q = summarize(metrics[name], prob)
        rows += [{"quantity": f"{label} {n}", **{k: float(q[k].sel({dim: n})) for k in ("median", "lo", "hi")}}
                 for n in names]
    return pd.DataFrame(rows)


def geo_order(analysis: Analysis) -> np.ndarray:
    """Geos by total observed KPI, largest first."""
    total = analysis.bands["observed"].sum(dims.TIME)
    return total[dims.GEO].values[np.argsort(-total.values, kind="stable")]
