"""The prior predictive check's page ``prior_check.html`` and its two figures.

Self-contained like the main report (``mmm_geo.report.html``): figures embedded as PNG, inline
style, no scripts or links. Inputs are the tables of ``mmm_geo.analysis.prior``.
"""

from __future__ import annotations

from typing import Dict, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.prior import ORDER
from mmm_geo.report import html as H
from mmm_geo.report.plots import BAND, _units
from mmm_geo.report.summary import add

PANELS = (("roi", "ROI (revenue per unit spend)", "ratio"),
          ("mroi", "marginal ROI", "ratio"),
          ("share", "share of revenue", "pct"))
LEVELS = {"median": "median", "p5": "5%", "p25": "25%", "p75": "75%", "p95": "95%"}
KPI_SPEC = ([("level", "KPI per", "text"), ("observed_min", "observed min", "money"),
             ("observed_median", "observed median", "money"),
             ("observed_max", "observed max", "money")]
            + [(k, f"prior {LEVELS[k]}", "money") for k in ORDER]
            + [("observed_in_50", "observed inside 50% prior interval", "pct"),
               ("observed_in_90", "observed inside 90% prior interval", "pct")])


class Info(NamedTuple):
    """What the page says about where its numbers come from."""

    source: str
    draws: int
    seed: int
    config_hash: str
    out: str


def channel_spec(prefix: str, label: str, kind: str):
    """Table columns of one metric: channel, median and the four quantiles."""
    return ([(dims.CHANNEL, "channel", "text")]
            + [(f"{prefix}_{k}", f"{label} {LEVELS[k]}", kind) for k in ORDER]
            + ([("roi_p_gt_1", "P(ROI > 1)", "prob")] if prefix == "roi" else []))


def intervals_plot(table: pd.DataFrame) -> plt.Figure:
    """Per channel and metric: the prior median (dot), 50 % (thick) and 90 % (thin) intervals;
    ROI and marginal ROI on a log axis when the prior spans more than a factor of 20."""
    channels = list(table[dims.CHANNEL])
    y = np.arange(len(channels))[::-1]
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.45 * len(channels) + 1.6), sharey=True)
    for ax, (prefix, label, kind) in zip(axes, PANELS):
        q = {k: table[f"{prefix}_{k}"].to_numpy(float) for k in ORDER}
        ax.hlines(y, q["p5"], q["p95"], color=BAND, lw=1.2, label="90% of the prior")
        ax.hlines(y, q["p25"], q["p75"], color=BAND, lw=5, alpha=0.7, label="50% of the prior")
        ax.plot(q["median"], y, "o", color="#d95f02", ms=5, label="median")
        if kind == "ratio":
            ax.axvline(1.0, color="k", ls="--", lw=0.8)
            if (q["p5"] > 0).all() and (q["p95"] / q["p5"]).max() > 20:
                ax.set_xscale("log")
        else:
            ax.xaxis.set_major_formatter(lambda v, _: H.fmt(v, "pct"))
        ax.set_xlabel(label)
    axes[0].set_yticks(y, channels)
    axes[0].set_ylim(-0.6, len(channels) - 0.4)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7,
               frameon=False)
    fig.suptitle("What the priors imply per channel, before any data (dashed: break-even)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def band_plot(band: xr.Dataset) -> plt.Figure:
    """The prior predictive national KPI per period (median, 50 % and 90 % bands) and the
    observed KPI (dims (time,))."""
    times = band[dims.TIME].values
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.fill_between(times, band["p5"].values, band["p95"].values, color=BAND, alpha=0.2,
                    label="90% prior predictive interval")
    ax.fill_between(times, band["p25"].values, band["p75"].values, color=BAND, alpha=0.4,
                    label="50% prior predictive interval")
    ax.plot(times, band["median"].values, color=BAND, lw=1.2, label="prior predictive median")
    ax.plot(times, band["observed"].values, "k.-", lw=0.8, ms=3, label="observed")
    ax.set_ylabel("KPI (all geos)")
    _units(ax)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.set_title("KPI the priors predict before seeing the data, against the observed KPI",
                 fontsize=10)
    fig.autofmt_xdate()
    return fig


def reading() -> str:
    """How to read the check, in user terms."""
    return H.items([
        "Every number on this page comes from the priors alone: the model was not fitted. It "
        "shows what the model believes before it sees the KPI, so you can judge whether that "
        "belief is sensible.",
        "ROI = revenue the channel drives over the window / its spend; marginal ROI = the return "
        "on 1% more spend; share of revenue = the channel's part of all revenue. The 5%–95% "
        "range holds 90% of the prior belief, 25%–75% half of it.",
        "A sensible prior is wide enough to allow every plausible value and rules out the "
        "absurd: if the range of a channel's ROI excludes values you believe possible (a 90% "
        "range of 0.01–0.1 for a channel you know pays back), widen or move its prior; if it "
        "allows returns of 1,000 per unit spent, tighten it.",
        "The KPI table and figure compare the KPI the priors predict with the observed one. The "
        "observed KPI should lie well inside the 90% prior predictive band (nearly 100% of "
        "observed values inside): if much of it falls outside, the priors on the baseline, "
        "trend, seasonality or media contradict the data before the fit starts. A band many "
        "times wider than the data is acceptable, but a very wide one means the data must do "
        "all the work.",
        "Then fit: the same command without <code>prior_only=true</code>. The report's "
        "prior → posterior section shows how far the data moved each parameter."])


def render(table: pd.DataFrame, kpi: pd.DataFrame, band: xr.Dataset,
           info: Info) -> tuple[str, Dict[str, bytes]]:
    """The page and its figures (name -> PNG bytes)."""
    figs: Dict[str, bytes] = {}
    channels = "".join(H.table(table, channel_spec(p, label.split(" (")[0], kind),
                               f"table-prior-{p}") for p, label, kind in PANELS)
    channels += add(figs, "prior_intervals", intervals_plot(table),
                    "Prior median, 50% and 90% ranges of ROI, marginal ROI and share of revenue "
                    "per channel.")
    kpi_body = H.table(kpi, KPI_SPEC, "table-prior-kpi")
    kpi_body += add(figs, "prior_kpi", band_plot(band),
                    "National KPI per period: the prior predictive median with its 50% and 90% "
                    "bands, and the observed KPI.")
    about = H.items([
        f"{info.draws} draws from the prior (seed {info.seed}; the same seed gives the same "
        "page); contributions and ROI are computed by the same functions as for a fitted "
        "posterior.",
        f"Config hash {H.esc(info.config_hash)}; the tables are prior_check.csv and "
        "prior_kpi.csv beside this file, the figures figures/*.png."])
    sections = [("reading", "How to read this check", reading()),
                ("channels", "Channels under the prior", channels),
                ("kpi", "Prior predictive KPI against the observed KPI", kpi_body),
                ("about", "About this check", about)]
    body = "".join(H.section(i, t, b) for i, t, b in sections)
    doc = H.page("Prior predictive check", f"run {info.out} · data {info.source}",
                 [(i, t) for i, t, _ in sections], body)
    return doc, figs
