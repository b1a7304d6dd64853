"""Compare saved runs: ELPD-LOO, out-of-sample error, sampler health and ROI, ranked.

One row per run folder, read from ``metrics.json`` and ``trace.nc`` without refitting:

- ``elpd_loo``, ``elpd_loo_se``, ``p_loo``: PSIS-LOO (``arviz.loo``) over the saved pointwise
  log-likelihood (training periods only), on the model's scaled KPI; ``bad_k``: observations whose
  Pareto k is above ArviZ's threshold (LOO is unreliable for them);
- ``holdout_mape`` (``validation.holdout``), ``cv_mape`` (mean over rolling-origin folds),
  ``fit_mape`` (in-sample), ``max_rhat``, ``divergences``, ``min_ess_per_s``, ``run_s``;
- ``roi_<channel>`` (posterior median) with ``roi_<channel>_p5`` / ``_p95`` (90 % interval).

Runs are ranked by ELPD-LOO (``arviz.compare``: ``elpd_diff`` to the best and its SE ``dse``)
when they were fitted to the same observations; otherwise by holdout or CV MAPE (else by the
runs' objective). A run that is incomplete, failed or unreadable gets a ``note`` and no rank
instead of stopping the comparison.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.errors import ConfigError
from mmm_geo.experiments import store

RANK_BY = ("auto", "loo", "holdout", "cv", "objective")
NOTES = {
    "incomplete": "incomplete: no metrics.json (killed or crashed); re-run the sweep to finish it",
    "running": "running: another process is fitting it now",
    "failed": "failed: the fit stopped with an error; see its fit.log",
}


NUMERIC = ("elpd_loo", "elpd_loo_se", "p_loo", "bad_k", "elpd_diff", "dse", "weight",
           "holdout_mape", "cv_mape", "fit_mape", "objective", "max_rhat", "divergences",
           "min_ess_per_s", "run_s")


class Entry(NamedTuple):
    """One run's row, its LOO result (None without one) and its training-data fingerprint."""

    row: dict
    loo: Optional[az.ELPDData]
    data_key: Optional[str]


def _open(path: Path, group: str) -> xr.Dataset:
    with xr.open_dataset(path, group=group, engine="h5netcdf") as ds:
        return ds.load()


def posterior_small(path: Path) -> xr.Dataset:
    """The posterior without per-period variables (enough for LOO's relative ESS and ROI)."""
    with xr.open_dataset(path, group="posterior", engine="h5netcdf") as ds:
        return ds[[v for v in ds.data_vars if dims.TIME not in ds[v].dims]].load()


def _loo(ll: xr.Dataset, posterior: xr.Dataset) -> az.ELPDData:
    idata = az.InferenceData(log_likelihood=ll, posterior=posterior)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k is reported in the bad_k column
        return az.loo(idata, pointwise=True)


def _data_key(path: Path, ll: xr.Dataset) -> str:
    """Fingerprint of the observations the log-likelihood covers (LOO is comparable only then)."""
    obs = _open(path, "observed_data")["kpi"].transpose(dims.GEO, dims.TIME).values
    const = xr.open_dataset(path, group="constant_data", engine="h5netcdf")
    with const:
        train = (const["train"].values.astype(bool) if "train" in const
                 else np.ones(obs.shape[1], bool))
    shape = tuple(ll[v].shape[2:] for v in ll.data_vars)
    payload = np.ascontiguousarray(obs[:, train]).tobytes() + repr(shape).encode()
    return hashlib.sha256(payload).hexdigest()


def _roi_columns(posterior: xr.Dataset) -> dict:
    if "roi" not in posterior:
        return {}
    q = posterior["roi"].quantile([0.05, 0.5, 0.95], dim=(dims.CHAIN, dims.DRAW))
    out = {}
    for ch in q[dims.CHANNEL].values:
        p5, med, p95 = (float(v) for v in q.sel({dims.CHANNEL: ch}).values)
        out.update({f"roi_{ch}": med, f"roi_{ch}_p5": p5, f"roi_{ch}_p95": p95})
    return out


def _metric_columns(metrics: dict) -> dict:
    conv, t = metrics.get("convergence", {}), metrics.get("time", {})
    return {
        "holdout_mape": metrics.get("holdout", {}).get("mape", math.nan),
        "cv_mape": metrics.get("cv", {}).get("mean_mape", math.nan),
        "fit_mape": metrics.get("fit", {}).get("mape", math.nan),
        "objective": store.objective(metrics),
        "max_rhat": conv.get("max_rhat", math.nan),
        "divergences": conv.get("divergences", math.nan),
        "min_ess_per_s": metrics.get("min_ess_per_s", math.nan),
        "run_s": t.get("total_s", math.nan),
    }


def summarize(run_dir: Path) -> Entry:
    """Read one run folder into an :class:`Entry`; problems become its ``note``."""
    run_dir = Path(run_dir)
    rec = store.read_json(run_dir / store.RECORD) or {}
    row = {"run": run_dir.name, "path": str(run_dir), "status": store.status(run_dir), "note": "",
           "overrides": " ".join(rec.get("overrides", []))}
    if row["status"] != "complete":
        row["note"] = NOTES[row["status"]]
        return Entry(row, None, None)
    row.update(_metric_columns(store.read_metrics(run_dir)))
    trace = run_dir / "trace.nc"
    try:
        posterior = posterior_small(trace)
        row.update(_roi_columns(posterior))
        ll = _open(trace, "log_likelihood")
    except Exception as err:  # HDF5/netCDF raise many types on missing groups or corrupt files
        row.update(status="corrupt", note=f"corrupt: cannot read {trace.name} "
                   f"({type(err).__name__}: {str(err)[:120]}); re-run this configuration with "
                   "force=true")
        return Entry(row, None, None)
    loo = _loo(ll, posterior)
    good_k = getattr(loo, "good_k", 0.7)
    row.update(elpd_loo=float(loo["elpd_loo"]), elpd_loo_se=float(loo["se"]),
               p_loo=float(loo["p_loo"]), bad_k=int((loo.pareto_k.values > good_k).sum()))
    return Entry(row, loo, _data_key(trace, ll))


def _labels(rows: List[dict]) -> List[str]:
    """Short run labels: the overrides that differ between runs (else the run folder name)."""
    sets = [set(r["overrides"].split()) for r in rows]
    common = set.intersection(*[s for s in sets if s] or [set()])
    out = []
    for row, s in zip(rows, sets):
        own = [o for o in row["overrides"].split() if o not in common]
        out.append(" ".join(own) or row["run"])
    return out


def loo_compare(scored: Sequence[Entry]) -> pd.DataFrame:
    """``arviz.compare`` of runs with a LOO result, indexed by run path: ``elpd_diff``, ``dse``
    and the stacking ``weight`` (``method="stacking"``); ConfigError when the runs were fitted to
    different observations (their ELPD-LOO is then not comparable)."""
    if len({e.data_key for e in scored}) > 1:
        raise ConfigError("the runs were fitted to different observations, so their ELPD-LOO "
                          "is not comparable\n  fix: compare runs of one dataset and training "
                          "window, or use --rank-by holdout (or cv)")
    return az.compare({e.row["path"]: e.loo for e in scored}, ic="loo", method="stacking")


def rank(entries: Sequence[Entry], rank_by: str = "auto") -> pd.DataFrame:
    """The comparison table, best run first; ``rank_by`` in ``RANK_BY``."""
    if rank_by not in RANK_BY:
        raise ConfigError(f"--rank-by {rank_by!r} is not one of {', '.join(RANK_BY)}")
    table = pd.DataFrame([e.row for e in entries])
    table.insert(1, "label", _labels([e.row for e in entries]))
    for col in NUMERIC:
        if col not in table:
            table[col] = math.nan
    scored = [e for e in entries if e.loo is not None]
    keys = {e.data_key for e in scored}
    criterion = rank_by
    if rank_by == "auto":
        criterion = "loo" if scored and len(keys) == 1 else next(
            (c for c in ("holdout", "cv") if table[f"{c}_mape"].notna().any()), "objective")
    if criterion == "loo" and scored:
        cmp = loo_compare(scored)
        for col in ("rank", "elpd_diff", "dse", "weight"):
            table[col] = table["path"].map(cmp[col])
        table["rank"] = table["rank"] + 1
    else:
        col = {"holdout": "holdout_mape", "cv": "cv_mape", "objective": "objective"}[criterion]
        table["rank"] = table[col].rank(method="min")
    table.attrs["criterion"] = criterion
    table = table.sort_values(["rank", "run"], na_position="last").reset_index(drop=True)
    table["rank"] = table["rank"].astype("Int64")
    return table


def channels(table: pd.DataFrame) -> List[str]:
    """Channel names that have ROI columns in ``table``."""
    return [c[4:] for c in table.columns
            if c.startswith("roi_") and not c.endswith(("_p5", "_p95"))]


def printable(table: pd.DataFrame) -> pd.DataFrame:
    """The table with numbers formatted for a terminal or HTML."""
    def num(fmt):
        return lambda v: "" if pd.isna(v) else format(v, fmt)

    out = pd.DataFrame({"rank": table["rank"].astype("string").fillna("-"), "run": table["run"],
                        "label": table["label"]})
    for name, value, se in (("ELPD-LOO (SE)", "elpd_loo", "elpd_loo_se"),
                            ("dELPD (dSE)", "elpd_diff", "dse")):
        out[name] = ["" if pd.isna(v) else f"{v:.1f} ({s:.1f})"
                     for v, s in zip(table[value], table[se])]
    for col, name in (("holdout_mape", "holdout MAPE"), ("cv_mape", "CV MAPE")):
        if table[col].notna().any():
            out[name] = table[col].map(num(".2%"))
    for col, name, fmt in (("bad_k", "bad Pareto k", ".0f"), ("max_rhat", "max R-hat", ".3f"),
                           ("divergences", "div", ".0f"),
                           ("min_ess_per_s", "min ESS/s", ".2f"), ("run_s", "time s", ".0f")):
        out[name] = table[col].map(num(fmt))
    for ch in channels(table):
        out[f"ROI {ch} [90%]"] = [
            "" if pd.isna(m) else f"{m:.2f} [{lo:.2f}, {hi:.2f}]"
            for m, lo, hi in zip(table[f"roi_{ch}"], table[f"roi_{ch}_p5"], table[f"roi_{ch}_p95"])]
    out["note"] = table["note"]
    return out


def summarize_runs(paths: Sequence[Path]) -> List[Entry]:
    """:func:`summarize` each run named by ``paths`` (experiment folders or run folders)."""
    return [summarize(p) for p in store.iter_runs([Path(p) for p in paths])]


def compare_runs(paths: Sequence[Path], rank_by: str = "auto") -> pd.DataFrame:
    """Summarise and rank the runs named by ``paths`` (experiment folders or run folders)."""
    return rank(summarize_runs(paths), rank_by)


def criterion_text(table: pd.DataFrame) -> str:
    """One line saying how the runs were ranked."""
    return {
        "loo": "ranked by ELPD-LOO (higher is better; dELPD and dSE against the best run, "
               "arviz.compare)",
        "holdout": "ranked by holdout MAPE (lower is better)",
        "cv": "ranked by mean rolling-origin CV MAPE (lower is better)",
        "objective": "ranked by the runs' objective (validation.metric, lower is better)",
    }[table.attrs["criterion"]]


def roi_intervals(table: pd.DataFrame) -> Dict[str, pd.DataFrame]:
    """Per channel: median and 90 % interval of ROI for each ranked run (for the forest plot)."""
    done = table[table["status"] == "complete"]
    return {ch: pd.DataFrame({"rank": done["rank"], "label": done["label"],
                              "median": done[f"roi_{ch}"], "p5": done[f"roi_{ch}_p5"],
                              "p95": done[f"roi_{ch}_p95"]})
            for ch in channels(table)}
