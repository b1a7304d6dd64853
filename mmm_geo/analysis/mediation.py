"""Direct, indirect (mediated) and total effects of the upstream channels, per posterior draw.

The effects are the model's (``mmm_geo.model.mediation.effects``), in revenue over the modelled
window; ``roi_total`` is the total effect over the channel's spend. The channel's ``contribution``
and ``roi`` (``mmm_geo.analysis.roi``) hold the mediator as recorded: they are its direct effect.
"""

from __future__ import annotations

from typing import Optional

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import map_draws, summarize
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import Scaling, model_data
from mmm_geo.model import media as mm
from mmm_geo.model import mediation

METRICS = {"contribution_direct": "direct", "contribution_indirect": "indirect",
           "contribution_total": "total", "roi_total": "roi_total"}    # metric: its truth.json key
LABELS = {"contribution_direct": "direct effect", "contribution_indirect": "indirect effect",
          "contribution_total": "total effect", "roi_total": "total ROI"}


def mediation_metrics(posterior: xr.Dataset, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                      batch: int = 500) -> Optional[xr.Dataset]:
    """Per draw and upstream channel: the :data:`METRICS`, dims (chain, draw, upstream); None
    without ``model.mediation``."""
    med = mediation.resolve(cfg)
    if med is None:
        return None
    media = jnp.asarray(model_data(ds, scaling).media)
    sp = mm.spec(cfg, media.shape[-1])
    revenue = jnp.asarray(scaling.kpi_scale * ds["population"].values[:, None] * ds["revenue_per_kpi"].values)

    def per_draw(p):
        return {k: (v * revenue).sum((-2, -1)) for k, v in mediation.effects(sp, med, p, media).items()}

    out = map_draws(per_draw, posterior, cfg, batch)
    spend = ds["spend"].values.sum(axis=(0, 1))[list(med.upstream)]
    cost = np.where(spend > 0, spend, np.nan)
    names = [str(ds.coords[dims.CHANNEL].values[c]) for c in med.upstream]
    d = (dims.CHAIN, dims.DRAW, mediation.UPSTREAM)
    return xr.Dataset({"contribution_direct": (d, out["direct"]), "contribution_indirect": (d, out["indirect"]),
                       "contribution_total": (d, out["total"]), "roi_total": (d, out["total"] / cost)},
                      coords={mediation.UPSTREAM: names})


def true_value(truth: dict, metric: str, channel: str) -> float:
    """A simulated panel's true mediation ``metric`` of upstream ``channel``."""
    return float(truth["mediation"]["upstream"][channel][METRICS[metric]])


def mediation_table(metrics: xr.Dataset, prob: float = 0.9) -> pd.DataFrame:
    """Per upstream channel: direct, indirect and total effect and total ROI, median and central
    ``prob`` interval (empty without mediation)."""
    if "contribution_total" not in metrics:
        return pd.DataFrame()
    rows = []
    for name, label in LABELS.items():
        q = summarize(metrics[name], prob)
        rows += [{"quantity": f"{label} {ch}", **{k: float(q[k].sel({mediation.UPSTREAM: ch}))
                                                   for k in ("median", "lo", "hi")}}
                 for ch in map(str, metrics[mediation.UPSTREAM].values)]
    return pd.DataFrame(rows)
