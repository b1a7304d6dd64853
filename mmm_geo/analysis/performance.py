"""Which channels perform well or poorly: a ranking with credible intervals.

A channel *performs well* when its ROI exceeds 1 (it returns more than it costs) with posterior
probability at least ``good``, and *poorly* when that probability is at most ``poor``; between the
two the data cannot tell. Channels are ranked by posterior median ROI; organic and
impressions-only media (no spend, so no ROI) come last with the verdict ``no spend (organic)``. The marginal ROI says what
the next unit of spend returns: a well-performing channel with a marginal ROI below 1 is
saturated, so more spend there would not pay.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import prob_above, summarize

VERDICTS = ("performs well", "uncertain", "performs poorly")
NO_SPEND = "no spend (organic)"   # the verdict of organic and impressions-only media: no ROI


def rank_channels(metrics: xr.Dataset, prob: float = 0.9, good: float = 0.8,
                  poor: float = 0.2) -> xr.Dataset:
    """Per channel, sorted by median ROI (best first).

    Args:
        metrics: :func:`mmm_geo.analysis.roi.channel_metrics` output (chain, draw, channel).
        prob: mass of the credible intervals.
        good, poor: thresholds on P(ROI > 1) for the verdicts.

    Returns:
        Dataset (channel) with ``<metric>_{median,lo,hi}`` for roi, mroi, contribution,
        contribution_share (and cost_per_kpi when present), ``p_roi_gt_1``, ``p_mroi_gt_1``,
        ``rank`` (1 = best) and ``verdict``.
    """
    out = {}
    for name in ("roi", "mroi", "contribution", "contribution_share", "cost_per_kpi"):
        if name in metrics:
            s = summarize(metrics[name], prob)
            out.update({f"{name}_{k}": s[k] for k in ("median", "lo", "hi")})
    out["p_roi_gt_1"] = prob_above(metrics["roi"], 1.0)
    out["p_mroi_gt_1"] = prob_above(metrics["mroi"], 1.0)
    table = xr.Dataset(out)
    roi = table["roi_median"].values
    order = np.argsort(np.where(np.isnan(roi), np.inf, -roi), kind="stable")   # no ROI: last
    table = table.isel({dims.CHANNEL: order})
    p = table["p_roi_gt_1"].values
    verdict = np.where(p >= good, VERDICTS[0], np.where(p <= poor, VERDICTS[2], VERDICTS[1]))
    verdict = np.where(np.isnan(table["roi_median"].values), NO_SPEND, verdict)
    table["rank"] = (dims.CHANNEL, np.arange(1, len(order) + 1))
    table["verdict"] = (dims.CHANNEL, verdict.astype(object))
    table.attrs.update(prob=prob, good=good, poor=poor)
    return table
