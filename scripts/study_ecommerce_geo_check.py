"""Study 2's geography, seasonality and holiday answers from the saved runs, as a Markdown table.

    .venv/bin/python scripts/study_ecommerce_geo_check.py experiments/ecommerce_geo > experiments/ecommerce_geo/results/geo_effects.md

From ``<study>/fit`` (the fit on all weeks):
- do channel effects differ by geo: each channel's between-geo sd of the log effect
  (``media_geo_sd``; 0.1 = geos differ by about +-10 %), and the spread of the per-geo ROI (paid
  channels) or revenue per 1,000 impressions: the geos' posterior medians, 10th to 90th percentile,
  and the posterior probability that the geo ranked best by median beats the one ranked worst;
- seasonality: the yearly seasonal part of the mean, nationally, its lowest and highest week as a
  share of the mean weekly revenue (posterior median and 90 % interval);
- holidays: each ``holiday_*`` control's revenue in its weeks, as a share of the modelled revenue
  of those weeks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mmm_geo import dims
from mmm_geo.analysis.accuracy import train_mask
from mmm_geo.analysis.contributions import decomposition
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.data.holidays import PREFIX
from mmm_geo.run import load_run

SAMPLE = (dims.CHAIN, dims.DRAW)


def q(x: np.ndarray) -> str:
    lo, mid, hi = np.quantile(np.asarray(x).reshape(-1), [0.05, 0.5, 0.95])
    return f"{mid:.3g} ({lo:.3g} to {hi:.3g})"


def pct(x: np.ndarray) -> str:
    lo, mid, hi = 100 * np.quantile(np.asarray(x).reshape(-1), [0.05, 0.5, 0.95])
    return f"{mid:+.1f} % ({lo:+.1f} to {hi:+.1f})"


def geo_table(run) -> list:
    post = run.idata.posterior
    met = channel_metrics(post, run.ds, run.scaling, run.config.model)
    spend = run.ds["spend"].values.sum(axis=(0, 1))
    exposure = run.ds["exposure"].values.sum(axis=1)                    # (geo, channel)
    lines = ["| channel | between-geo sd of the log effect | per-geo measure | geos' medians, p10 to p90 "
             "| P(best geo > worst geo) |", "|---|---|---|---|---|"]
    for c, name in enumerate(run.ds[dims.CHANNEL].values):
        sd = post["media_geo_sd"].isel({dims.CHANNEL: c}).values if "media_geo_sd" in post else np.zeros(1)
        if spend[c] > 0:
            per = met["roi_geo"].isel({dims.CHANNEL: c}).values                          # (chain, draw, geo)
            label = "ROI"
        else:
            per = 1000 * met["contribution_geo"].isel({dims.CHANNEL: c}).values / exposure[:, c]
            label = "revenue per 1,000 impressions"
        flat = per.reshape(-1, per.shape[-1])
        med = np.median(flat, axis=0)
        best, worst = int(np.argmax(med)), int(np.argmin(med))
        p10, p90 = np.quantile(med, [0.1, 0.9])
        lines.append(f"| {name} | {q(sd)} | {label} | {p10:.3g} to {p90:.3g} | "
                     f"{float(np.mean(flat[:, best] > flat[:, worst])):.2f} |")
    return lines


def season_holidays(run) -> list:
    parts = decomposition(run.idata.posterior, run.ds, run.scaling, run.config.model, train_mask(run.idata))
    nat = parts.sum(dims.GEO)
    mean_week = nat["expected"].mean(dims.TIME)
    season = (nat["seasonality"] / mean_week).transpose(*SAMPLE, dims.TIME).values
    times = run.ds[dims.TIME].values
    typical = np.median(season.reshape(-1, season.shape[-1]), axis=0)
    low, high = int(np.argmin(typical)), int(np.argmax(typical))
    lines = ["", "| effect | weeks | revenue effect, median (90 %) |", "|---|---|---|",
             f"| seasonality, lowest week (share of the mean week) | {str(times[low])[:10]} | {pct(season[..., low])} |",
             f"| seasonality, highest week (share of the mean week) | {str(times[high])[:10]} | {pct(season[..., high])} |"]
    controls = [str(c) for c in run.ds[dims.CONTROL].values]
    flags = run.ds["controls"].values[0]                                            # (time, control)
    for k, name in enumerate(controls):
        if not name.startswith(PREFIX):
            continue
        weeks = np.flatnonzero(flags[:, k] > 0)
        part = nat["controls"].isel({dims.CONTROL: k})        # a standardised flag: two levels
        off = part.isel({dims.TIME: int(np.flatnonzero(flags[:, k] == 0)[0])})
        lift = (part.isel({dims.TIME: weeks}) - off).sum(dims.TIME)
        base = nat["expected"].isel({dims.TIME: weeks}).sum(dims.TIME)
        lines.append(f"| {name[len(PREFIX):]} (share of its weeks' modelled revenue) | {', '.join(str(times[w])[:10] for w in weeks)} | "
                     f"{pct((lift / base).values)} |")
    return lines


def main() -> None:
    study = Path(sys.argv[1])
    run = load_run(study / "fit")
    print("\n".join(geo_table(run) + season_holidays(run)))


if __name__ == "__main__":
    main()
