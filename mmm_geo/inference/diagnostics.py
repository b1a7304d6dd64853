"""Convergence diagnostics: R-hat, bulk and tail ESS, divergences, E-BFMI.

R-hat compares chains, so with one chain it is not available: its column is NaN, ``max_rhat`` is
None (``null`` in ``metrics.json``) with ``rhat_available`` False, and it is no convergence problem;
ESS, divergences and E-BFMI are still checked.
"""

from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager
from typing import Iterable, Optional

import arviz as az
import numpy as np
import pandas as pd

from mmm_geo.config import InferenceConfig


def diagnostics_table(idata: az.InferenceData, var_names: Optional[Iterable[str]] = None) -> pd.DataFrame:
    """One row per parameter variable: max R-hat, min bulk ESS, min tail ESS (over its elements)."""
    names = list(var_names or idata.posterior.data_vars)
    several = idata.posterior.sizes["chain"] > 1
    with _quiet_nan():   # NaN elements (no ROI for an organic channel) are left out below
        rhat = az.rhat(idata, var_names=names) if several else None
        bulk = az.ess(idata, var_names=names, method="bulk")
        tail = az.ess(idata, var_names=names, method="tail")
    rows = []
    for n in names:
        rows.append({"variable": n, "size": int(idata.posterior[n].isel(chain=0, draw=0).size),
                     "r_hat_max": _worst(rhat[n].values, np.nanmax) if several else np.nan,
                     "ess_bulk_min": _worst(bulk[n].values, np.nanmin),
                     "ess_tail_min": _worst(tail[n].values, np.nanmin)})
    return pd.DataFrame(rows).set_index("variable")


@contextmanager
def _quiet_nan():
    """Silence NumPy's all-NaN warnings and ArviZ's "Array contains NaN-value" log line."""
    log = getattr(az, "_log", None) or logging.getLogger("arviz")   # ArviZ's own logger object
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        log.setLevel(level)


def _worst(values: np.ndarray, pick) -> float:
    """``pick`` (nanmax / nanmin) over the finite elements; NaN when there are none (a constant)."""
    finite = values[np.isfinite(values)]
    return float(pick(finite)) if finite.size else np.nan


def rhat_available(conv: dict) -> bool:
    """Whether a convergence summary has an R-hat (not with one chain)."""
    return conv.get("max_rhat") is not None


def rhat_text(conv: dict) -> str:
    """``max R-hat 1.004``, or why there is none (one chain)."""
    if rhat_available(conv):
        return f"max R-hat {conv['max_rhat']:.3f}"
    return "R-hat not available" + (" with 1 chain" if conv.get("chains", 1) < 2 else "")


def convergence(idata: az.InferenceData, var_names: Optional[Iterable[str]] = None) -> dict:
    """Summary numbers over all parameters: worst R-hat and ESS, divergences, BFMI per chain."""
    table = diagnostics_table(idata, var_names)
    bfmi = az.bfmi(idata)
    stats = idata.sample_stats
    rhat = table["r_hat_max"].dropna()
    return {
        "rhat_available": bool(len(rhat)),
        "max_rhat": float(rhat.max()) if len(rhat) else None,
        "min_ess_bulk": float(table["ess_bulk_min"].min()),
        "min_ess_tail": float(table["ess_tail_min"].min()),
        "worst_rhat": str(rhat.idxmax()) if len(rhat) else None,
        "worst_ess": str(table["ess_bulk_min"].idxmin()),
        "divergences": int(stats["diverging"].sum()),
        "bfmi_min": float(np.min(bfmi)),
        "mean_leapfrog_steps": float(stats["n_steps"].mean()),
        "chains": int(idata.posterior.sizes["chain"]),
        "draws": int(idata.posterior.sizes["draw"]),
    }


def problems(conv: dict, cfg: InferenceConfig) -> list[str]:
    """What is wrong with a fit by the configured thresholds (empty list: converged)."""
    out = []
    if rhat_available(conv) and conv["max_rhat"] > cfg.rhat_max:
        out.append(f"max R-hat {conv['max_rhat']:.3f} > {cfg.rhat_max} ({conv['worst_rhat']})")
    if conv["min_ess_bulk"] < cfg.ess_min:
        out.append(f"min bulk ESS {conv['min_ess_bulk']:.0f} < {cfg.ess_min:.0f} ({conv['worst_ess']})")
    if conv["divergences"] > 0:
        out.append(f"{conv['divergences']} divergent transitions")
    if conv["bfmi_min"] < 0.3:
        out.append(f"E-BFMI {conv['bfmi_min']:.2f} < 0.3 (poor exploration of the energy)")
    return out


def report(table: pd.DataFrame, conv: dict, issues: list[str], stream=None) -> None:
    """Print the diagnostics table (to ``stream``, default stdout) and a loud warning (stderr)
    when the fit has not converged."""
    stream = stream or sys.stdout
    print("\nConvergence (worst element of each parameter):", file=stream)
    print(table.to_string(float_format=lambda x: f"{x:.3f}" if x < 10 else f"{x:.0f}",
                          na_rep="n/a"), file=stream)
    print(f"divergences: {conv['divergences']}   E-BFMI min: {conv['bfmi_min']:.2f}   "
          f"mean leapfrog steps: {conv['mean_leapfrog_steps']:.0f}", file=stream)
    if not rhat_available(conv):
        print(f"{rhat_text(conv)}: convergence is judged on ESS, divergences and E-BFMI only "
              "(run inference.chains=2 or more for R-hat)", file=stream)
    if issues:
        bar = "!" * 78
        print(f"\n{bar}\nWARNING: the fit has NOT converged:\n  - " + "\n  - ".join(issues)
              + "\n  Do not trust these results: run longer (inference.warmup/draws), raise "
                "inference.target_accept, or simplify the model.\n" + bar, file=sys.stderr)
