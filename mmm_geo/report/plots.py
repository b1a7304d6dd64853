"""Report figures with matplotlib (Agg, no display) and ArviZ; each function returns a Figure.

Inputs are summaries from ``mmm_geo.analysis`` (xarray with the dims named in each docstring);
:func:`png` turns a figure into PNG bytes (fixed DPI and metadata, so the same input gives the
same bytes) and closes it.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from mmm_geo import dims  # noqa: E402
from mmm_geo.analysis.performance import NO_SPEND  # noqa: E402
from mmm_geo.report.html import fmt  # noqa: E402

COLORS = {"performs well": "#1a9850", "uncertain": "#7f7f7f", "performs poorly": "#d73027",
          NO_SPEND: "#9ecae1"}
BAND = "#4c72b0"
DPI = 100


def png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes (no timestamp or software metadata); closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _units(*axes, which: str = "y") -> None:
    """Tick labels in k / m / bn, as in the tables (no 1e8 offset)."""
    for ax in axes:
        getattr(ax, f"{which}axis").set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))


def _shade_holdout(ax, times: np.ndarray, train: np.ndarray) -> None:
    if (~train).any():
        ax.axvspan(times[~train][0], times[-1], color="#f2d7a6", alpha=0.6, lw=0, zorder=0,
                   label="held out (forecast)")
        ax.axvline(times[~train][0], color="#b07d00", lw=1, ls=":")


def ranking(table: xr.Dataset) -> plt.Figure:
    """ROI and marginal ROI per channel (median and interval), best first; dims (channel)."""
    ch = [str(c) for c in table[dims.CHANNEL].values]
    y = np.arange(len(ch))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.5 * len(ch) + 1.4), sharey=True)
    colors = [COLORS[v] for v in table["verdict"].values]
    for ax, name, label in ((axes[0], "roi", "ROI"), (axes[1], "mroi", "marginal ROI")):
        med, lo, hi = (table[f"{name}_{k}"].values for k in ("median", "lo", "hi"))
        for i, color in enumerate(colors):
            ax.errorbar(med[i], y[i], xerr=[[med[i] - lo[i]], [hi[i] - med[i]]], fmt="o",
                        color=color, capsize=3)
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.set_xlabel(f"{label} (revenue per unit spend)")
    axes[0].set_yticks(y, ch)
    fig.suptitle(f"Return per channel: median and {table.attrs['prob']:.0%} credible interval "
                 "(dashed: break-even)", fontsize=10)
    return fig


def decomposition(comp: xr.DataArray, observed: xr.DataArray, train: np.ndarray, channels,
                  title: str) -> plt.Figure:
    """Stacked contributions over time (posterior means), observed KPI on top.

    Args:
        comp: posterior mean per component, (component, time).
        observed: (time,). channels: the media components, stacked above the non-media base.
    """
    times = comp[dims.TIME].values
    channels = [str(c) for c in channels]
    other = [str(c) for c in comp["component"].values if str(c) not in channels]
    base = comp.sel(component=other).sum("component")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.3]})
    layers = [base.values] + [comp.sel(component=c).values for c in channels]
    top.stackplot(times, *layers, labels=["base (non-media)"] + channels, alpha=0.85)
    top.plot(times, observed.values, "k.-", lw=0.8, ms=3, label="observed")
    _shade_holdout(top, times, train)
    top.set_ylim(bottom=min(0.0, float(base.min())))
    top.set_ylabel("KPI")
    top.legend(loc="lower left", fontsize=7, ncol=4, framealpha=0.9)
    _units(top, bottom)
    top.set_title(title, fontsize=10)
    for name in other:
        if name != "baseline":
            bottom.plot(times, comp.sel(component=name).values, lw=1, label=name)
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("non-media parts")
    bottom.legend(loc="upper left", fontsize=7, ncol=4)
    fig.autofmt_xdate()
    return fig


def fit_over_time(bands: xr.Dataset, prefix: str = "national_", title: str = "") -> plt.Figure:
    """Observed KPI, posterior predictive mean and interval over time (dims (time,))."""
    times = bands[dims.TIME].values
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.fill_between(times, bands[f"{prefix}lo"].values, bands[f"{prefix}hi"].values, color=BAND,
                    alpha=0.3, label=f"{bands.attrs['prob']:.0%} predictive interval")
    ax.plot(times, bands[f"{prefix}mean"].values, color=BAND, lw=1.2, label="predicted (mean)")
    ax.plot(times, bands[f"{prefix}observed"].values, "k.", ms=3, label="observed")
    _shade_holdout(ax, times, bands["train"].values)
    ax.set_ylabel("KPI")
    _units(ax)
    ax.legend(fontsize=7, loc="upper left", ncol=4)
    ax.set_title(title, fontsize=10)
    fig.autofmt_xdate()
    return fig


def ppc_density(idata: az.InferenceData, n: int = 50) -> plt.Figure:
    """ArviZ posterior predictive check: the density of observed KPI cells against ``n``
    replicates (all of them when the run has fewer draws)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    pp = idata.posterior_predictive
    n = min(n, pp.sizes["chain"] * pp.sizes["draw"])
    az.plot_ppc(idata, var_names=["kpi"], num_pp_samples=n, random_seed=0, ax=ax)
    _units(ax, which="x")
    ax.set_title("Posterior predictive check: KPI distribution over geo x week cells", fontsize=10)
    return fig


def holdout(times, observed, mean, lo, hi, naive, n_train: int) -> plt.Figure:
    """National KPI on the held-out periods: observed, model forecast (interval) and naive."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sl = slice(max(0, n_train - 26), None)
    ax.plot(times[sl], observed[sl], "k.-", lw=0.8, ms=3, label="observed")
    t = times[n_train:]
    ax.fill_between(t, lo[n_train:], hi[n_train:], color=BAND, alpha=0.3, label="model interval")
    ax.plot(t, mean[n_train:], color=BAND, lw=1.5, label="model forecast")
    ax.plot(t, naive, color="#d95f02", ls="--", lw=1.5, label="seasonal naive")
    ax.axvline(times[n_train], color="k", lw=0.8)
    ax.set_ylabel("KPI (all geos)")
    _units(ax)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.set_title("Held-out weeks: forecast vs the seasonal-naive baseline", fontsize=10)
    fig.autofmt_xdate()
    return fig


def prior_posterior(idata: az.InferenceData, names) -> plt.Figure:
    """Prior (grey) and posterior (blue) densities of per-channel and scalar parameters (ArviZ)."""
    panels = []
    for name in names:
        da = idata.posterior[name]
        extra = [d for d in da.dims if d not in (dims.CHAIN, dims.DRAW)]
        if not extra:
            panels.append((name, {}))
        elif extra == [dims.CHANNEL]:
            panels += [(name, {dims.CHANNEL: c}) for c in da[dims.CHANNEL].values]
    cols = 4
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(10, 1.9 * rows), squeeze=False)
    for ax, (name, sel) in zip(axes.flat, panels):
        prior = idata.prior[name].sel(sel).values.ravel()
        post = idata.posterior[name].sel(sel).values.ravel()
        lo, hi = np.quantile(np.concatenate([prior, post]), [0.005, 0.995])
        for values, color, width in ((prior, "#999999", 1.0), (post, BAND, 1.5)):
            inside = values[(values >= lo) & (values <= hi)]
            if inside.size > 1 and np.ptp(inside) > 0:
                az.plot_kde(inside, ax=ax)
                ax.lines[-1].set(color=color, linewidth=width)  # (ArviZ kwargs warn on mpl 3.11)
            else:
                ax.axvline(float(values.mean()), color=color, lw=width)
        label = name + (f" [{sel[dims.CHANNEL]}]" if sel else "")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("Prior (grey) -> posterior (blue)", fontsize=10)
    fig.tight_layout()
    return fig


def recovery(table: pd.DataFrame, metric: str = "roi") -> plt.Figure:
    """Estimated (median and interval) against true values on a simulated panel."""
    t = table[table["metric"] == metric]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.errorbar(t["true"], t["median"], yerr=[t["median"] - t["lo"], t["hi"] - t["median"]],
                fmt="o", capsize=3, color=BAND)
    for _, row in t.iterrows():
        ax.annotate(row["channel"], (row["true"], row["median"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    lim = [min(t["lo"].min(), t["true"].min()) * 0.9, max(t["hi"].max(), t["true"].max()) * 1.1]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel(f"true {metric}")
    ax.set_ylabel(f"estimated {metric}")
    ax.set_title("Recovery of known truth (simulated panel)", fontsize=10)
    return fig


def response_curve(curve: xr.Dataset, spend: np.ndarray, channel: str) -> plt.Figure:
    """Revenue driven over the window against spend (median and interval); dot: current spend.

    Args:
        curve: summary (multiplier) with median, lo, hi; spend: (multiplier,) in currency.
    """
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.fill_between(spend, curve["lo"].values, curve["hi"].values, color=BAND, alpha=0.3)
    ax.plot(spend, curve["median"].values, color=BAND, lw=1.5, label="revenue driven (median)")
    ax.plot(spend, spend, "k--", lw=0.8, label="break-even (revenue = spend)")
    i = int(np.argmin(np.abs(curve["multiplier"].values - 1.0)))
    ax.axvline(spend[i], color="#d95f02", lw=1)
    ax.plot(spend[i], curve["median"].values[i], "o", color="#d95f02", label="current spend")
    ax.set_xlabel("spend over the window")
    ax.set_ylabel("revenue driven")
    _units(ax)
    _units(ax, which="x")
    ax.legend(fontsize=7)
    ax.set_title(f"{channel}: response curve", fontsize=10)
    return fig


def adstock(decay: xr.Dataset, channel: str) -> plt.Figure:
    """Share of a week's exposure acting ``lag`` weeks later (median and interval); dims (lag)."""
    lag = decay["lag"].values
    med = decay["median"].values
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.bar(lag, med, color=BAND, alpha=0.8,
           yerr=[med - decay["lo"].values, decay["hi"].values - med], capsize=3)
    ax.set_xlabel("weeks after exposure")
    ax.set_ylabel("share of the effect")
    ax.set_title(f"{channel}: carryover (adstock) decay", fontsize=10)
    return fig


def multiplier(table: pd.DataFrame, channel: str) -> plt.Figure:
    """A time-varying channel's effect multiplier over time: median, band and (simulated) truth."""
    t = pd.to_datetime(table["time"])
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.fill_between(t, table["lo"], table["hi"], color=BAND, alpha=0.25, linewidth=0)
    ax.plot(t, table["median"], color=BAND)
    if "true" in table:
        ax.plot(t, table["true"], color="black", linestyle="--", linewidth=1, label="true")
        ax.legend(fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("effect multiplier")
    ax.set_title(f"{channel}: effectiveness over time", fontsize=10)
    fig.autofmt_xdate()
    return fig


def geo_roi(roi: xr.Dataset, national: float, channel: str) -> plt.Figure:
    """ROI per geo (median and interval, dims (geo)) against the national median."""
    order = np.argsort(roi["median"].values)
    geos = roi[dims.GEO].values[order]
    med, lo, hi = (roi[k].values[order] for k in ("median", "lo", "hi"))
    fig, ax = plt.subplots(figsize=(4.6, 0.22 * len(geos) + 1.3))
    y = np.arange(len(geos))
    ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="o", ms=3, capsize=2, color=BAND)
    ax.axvline(national, color="#d95f02", lw=1, label="national")
    ax.axvline(1.0, color="k", ls="--", lw=0.8, label="break-even")
    ax.set_yticks(y, [str(g) for g in geos], fontsize=7)
    ax.set_xlabel("ROI")
    ax.legend(fontsize=7)
    ax.set_title(f"{channel}: ROI by geo", fontsize=10)
    return fig


def budget(allocation: pd.DataFrame, gain: np.ndarray) -> plt.Figure:
    """Current vs recommended spend per channel, and the distribution of the expected gain."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    x = np.arange(len(allocation))
    left.bar(x - 0.2, allocation["current"], 0.4, label="current", color="#999999")
    left.bar(x + 0.2, allocation["recommended"], 0.4, label="recommended", color=BAND)
    left.set_xticks(x, allocation["channel"])
    left.set_ylabel("spend over the horizon")
    _units(left)
    _units(right, which="x")
    right.xaxis.set_major_locator(MaxNLocator(5))
    left.legend(fontsize=7)
    right.hist(gain, bins=40, color=BAND, alpha=0.8)
    right.axvline(0, color="k", lw=1)
    right.axvline(float(np.mean(gain)), color="#d95f02", lw=1.5, label="mean")
    right.set_xlabel("gain over the current mix (per posterior draw)")
    right.legend(fontsize=7)
    fig.suptitle("Recommended budget split", fontsize=10)
    return fig
