"""The non-media treatments of a fit (``data.treatments``): price elasticity, promotion lift and
their contributions, with intervals (``treatments.csv``).

Per treatment (``mmm_geo.model.treatments``):

- price: ``elasticity`` (``b``: the mean KPI moves by ``b`` % per 1 % of price);
- promotion: ``lift``, the KPI share a full promotion week adds (``exp(b) - 1``);
- both: ``contribution``, the treatment's part of the mean revenue over the window (for a price,
  against the geo's mean training price), from the contribution decomposition.

Rows for the nation (``geo`` = ``all``) and, for ``pooling: geo``, per geo; on simulated panels
with the truth and whether the interval covers it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.contributions import decomposition
from mmm_geo.analysis.draws import SAMPLE, bounds, map_draws
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling
from mmm_geo.data.treatments import PRICE, kinds
from mmm_geo.model import treatments as tr

NATION = "all"
METRIC = {PRICE: "elasticity", "promotion": "lift"}


def effect(kind: str, coef: np.ndarray) -> np.ndarray:
    """A coefficient as its reported effect: a price's elasticity, a promotion's lift."""
    return coef if kind == PRICE else np.expm1(coef)


def treatment_draws(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                    train: Optional[np.ndarray] = None, batch: int = 250) -> xr.Dataset:
    """Per draw: ``coef`` (chain, draw, treatment; national), ``coef_geo`` (chain, draw, geo,
    treatment) and ``contribution`` (revenue over the window, chain, draw, treatment)."""
    sp = tr.spec(cfg)
    n_geo = ds.sizes[dims.GEO]
    geo = map_draws(lambda p: tr.coefficients(sp, p, n_geo), posterior, cfg, batch)
    nat = (posterior[tr.SITE].transpose(*SAMPLE, dims.TREATMENT).values if tr.SITE in posterior
           else np.broadcast_to([p.a for p in sp.priors], geo.shape[:2] + (len(sp.names),)))
    parts = decomposition(posterior, ds, scaling, cfg, train, batch)
    rpk = ds["revenue_per_kpi"]
    revenue = (parts["treatments"] * rpk).sum((dims.GEO, dims.TIME))
    return xr.Dataset({"coef": ((*SAMPLE, dims.TREATMENT), np.asarray(nat)),
                       "coef_geo": ((*SAMPLE, dims.GEO, dims.TREATMENT), geo),
                       "contribution": revenue.transpose(*SAMPLE, dims.TREATMENT)},
                      coords={dims.TREATMENT: list(sp.names), dims.GEO: ds.coords[dims.GEO].values})


def _row(name: str, kind: str, metric: str, geo: str, values: np.ndarray, prob: float) -> dict:
    lo, hi = bounds(prob)
    q = np.quantile(np.ravel(values), [lo, 0.5, hi])
    return {"treatment": name, "kind": kind, "metric": metric, "geo": geo,
            "mean": float(np.mean(values)), "median": q[1], f"p{lo * 100:g}": q[0],
            f"p{hi * 100:g}": q[2]}


def treatment_table(draws: xr.Dataset, cfg: ModelConfig, prob: float = 0.9,
                    truth: Optional[dict] = None) -> pd.DataFrame:
    """The rows of ``treatments.csv`` (module docstring) from :func:`treatment_draws`."""
    sp, rows = tr.spec(cfg), []
    for k, (name, kind) in enumerate(zip(sp.names, sp.kinds)):
        coef = draws["coef"].isel({dims.TREATMENT: k}).values
        rows.append(_row(name, kind, METRIC[kind], NATION, effect(kind, coef), prob))
        rows.append(_row(name, kind, "contribution", NATION,
                         draws["contribution"].isel({dims.TREATMENT: k}).values, prob))
        if k in sp.geo:
            for g, geo in enumerate(draws.coords[dims.GEO].values):
                v = draws["coef_geo"].isel({dims.TREATMENT: k, dims.GEO: g}).values
                rows.append(_row(name, kind, METRIC[kind], str(geo), effect(kind, v), prob))
    table = pd.DataFrame(rows)
    if truth and truth.get("treatments"):
        lo, hi = (c for c in table.columns if c.startswith("p") and c != "p50")
        true = [truth["treatments"].get(n, {}).get(m if g == NATION else f"{m}_geo", {}) for n, m, g
                in zip(table["treatment"], table["metric"], table["geo"])]
        table["true"] = [t if not isinstance(t, dict) else t.get(g, np.nan)
                         for t, g in zip(true, table["geo"])]
        table["covered"] = (table[lo] <= table["true"]) & (table["true"] <= table[hi])
    return table


def print_treatments(table: pd.DataFrame) -> None:
    """The national rows of the treatments table."""
    if table.empty:
        return
    print("\nNon-media treatments, posterior median and 90% interval (elasticity: % KPI per 1% "
          "price; lift: KPI share of a full promotion week; contribution: revenue):")
    cols = [c for c in ("treatment", "metric", "median", "p5", "p95", "true", "covered")
            if c in table]
    print(table.loc[table["geo"] == NATION, cols].to_string(index=False,
                                                            float_format=lambda x: f"{x:,.3f}"))
