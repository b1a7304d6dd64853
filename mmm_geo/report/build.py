"""``mmm-geo report``: analyse a saved run and write ``report.html``, ``figures/`` and ``tables/``.

The HTML is self-contained (figures embedded as base64, inline CSS, the planner's inline script
and data, no links), so it opens offline; the same figures are written as PNG files and every
table as CSV. The same run and config give the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis.accuracy import accuracy
from mmm_geo.analysis.frequency import frequency_table
from mmm_geo.analysis.mediation import mediation_table
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.inference.trace import atomic_write
from mmm_geo.optimize.output import outside_data
from mmm_geo.report import html as H
from mmm_geo.report import planner, plots, tables
from mmm_geo.report.analyse import Analysis, analyse, geo_order
from mmm_geo.report.config import ReportConfig
from mmm_geo.report.recovery import source
from mmm_geo.report.summary import RANKING_SPEC, add, executive, horizon_text, trust_section

SHARE_SPEC = [("component", "component", "text"), ("share_median", "share of KPI", "pct"),
              ("share_lo", "low", "pct"), ("share_hi", "high", "pct")]
TREATMENT_SPEC = [("treatment", "treatment", "text"), ("metric", "", "text"),
                  ("median", "median", "num"), ("lo", "low", "num"), ("hi", "high", "num"),
                  ("true", "true", "num")]
SYNERGY_SPEC = [("quantity", "", "text"), ("median", "median", "num"), ("lo", "low", "num"),
                ("hi", "high", "num")]
BUDGET_SPEC = [("channel", "channel", "text"), ("current", "current", "money"),
               ("recommended", "recommended", "money"), ("change_pct", "change %", "ratio"),
               ("mroi_mean", "marginal return at optimum", "ratio"),
               ("data_range", "vs spend the data saw", "text"),
               ("draw_opt_p5", "per-draw optimum low", "money"),
               ("draw_opt_p95", "per-draw optimum high", "money")]
OUTCOME_SPEC = [("plan", "plan", "text"), ("spend", "spend", "money"), ("mean", "mean", "money"),
                ("p5", "5%", "money"), ("p95", "95%", "money"),
                ("p_beats_current", "P(beats current)", "prob")]
CHANNEL_SPEC = RANKING_SPEC[3:] + [("spend", "spend", "money"),
                                   ("mean_lag_median", "mean carryover lag (weeks)", "ratio"),
                                   ("roi_geo_cv_median", "ROI spread across geos (CV)", "ratio")]
REFRESH_SPEC = [("channel", "channel", "text"), ("before", "ROI before", "ratio"),
                ("before_p5", "low", "ratio"), ("before_p95", "high", "ratio"),
                ("prior", "refreshed prior", "ratio"), ("after", "ROI after", "ratio"),
                ("after_p5", "low", "ratio"), ("after_p95", "high", "ratio"),
                ("change", "change", "pct"), ("prior_quantile", "new median's prior quantile", "ratio")]
GEO_SPEC = [("channel", "channel", "text"), ("roi_median", "ROI", "ratio"),
            ("roi_lo", "ROI low", "ratio"), ("roi_hi", "ROI high", "ratio")]


def contributions_section(a: Analysis, run, figs: Dict[str, bytes]) -> str:
    """National decomposition over time and each component's share."""
    channels = run.ds[dims.CHANNEL].values
    fig = plots.decomposition(a.components.sum(dims.GEO), run.ds["kpi"].sum(dims.GEO),
                              a.bands["train"].values, channels, "All geos")
    body = add(figs, "decomposition_national", fig,
               "Posterior mean contribution of each part per week, stacked; dots: observed KPI.")
    body += H.table(tables.summary_long(a.share, "share"), SHARE_SPEC, "table-decomposition")
    syn = a.synergy
    if len(syn):
        body += ("<h3>Synergy</h3><p>Each pair's interaction: revenue the two channels drive together "
                 "beyond each alone (negative: they cannibalise). A paired channel's ROI counts the "
                 "whole interaction, since switching it off loses it; its own ROI does not.</p>")
        body += H.table(syn, SYNERGY_SPEC, "table-synergy")
    freq = frequency_table(a.metrics, run.ds, a.share.attrs.get("prob", 0.9))
    if len(freq):
        body += ("<h3>Reach and frequency</h3><p>The frequency that gets the most out of a budget: "
                 "with impressions fixed, a higher frequency reaches fewer people, so the best one "
                 "maximises the effect per impression, between 1 and the largest recorded frequency."
                 "</p>")
        body += H.table(freq, SYNERGY_SPEC, "table-frequency")
    med = mediation_table(a.metrics, a.share.attrs.get("prob", 0.9))
    if len(med):
        body += ("<h3>Mediation</h3><p>Revenue of each upstream channel: direct (the channel off, "
                 "the mediator as recorded; its contribution above), indirect (the mediator moved by "
                 "its modelled response to the channel) and total (both), and the total ROI.</p>")
        body += H.table(med, SYNERGY_SPEC, "table-mediation")
    if len(a.treatments):
        nat = a.treatments[a.treatments["geo"] == "all"]
        body += ("<h3>Price and promotions</h3><p>They multiply the KPI: elasticity, its % change "
                 "per 1 % of price; lift, the share a full promotion week adds; contribution, their "
                 "revenue (a price's against the geo's mean price). Media's ROI is at the mean "
                 "price without promotions.</p>")
        body += H.table(nat.rename(columns=dict(zip(nat.columns[6:8], ("lo", "hi")))),
                        TREATMENT_SPEC, "table-treatments")
    body += ("<p class='muted'>Trend and seasonality are centred over the fitted weeks: they move "
             "the KPI from week to week but add about nothing over the window. With a "
             "multiplicative baseline they are the baseline times the trend and seasonal terms."
             "</p>")
    return body


def budget_section(a: Analysis, cfg: ReportConfig, figs: Dict[str, bytes]) -> str:
    """The optimizer's recommendation in full, or how to get one."""
    if a.optimizer is None:
        return (f"<p class='note'>No optimizer output in <code>{H.esc(cfg.optimize)}/</code> of "
                "the run; run <code>mmm-geo optimize</code> on it and re-run the report.</p>")
    opt = a.optimizer
    body = (f"<p>Horizon: {H.esc(horizon_text(opt['summary']))}; weekly spend per geo and channel "
            f"in <code>{H.esc(cfg.optimize)}/flighting.csv</code>.</p>")
    body += H.table(opt["allocation"], BUDGET_SPEC, "table-budget")
    out = outside_data(opt["allocation"])
    if out:
        body += (f"<p class='note'>Outside the spend the data saw over spans of the horizon's "
                 f"length: {H.esc(', '.join(f'{c} ({r})' for c, r in out.items()))}. "
                 "There the response is the model's extrapolation: bound those channels "
                 "(<code>bounds</code>) or test them at that level.</p>")
    body += H.table(opt["outcomes"], OUTCOME_SPEC, "table-outcomes")
    body += add(figs, "budget", plots.budget(opt["allocation"], opt["gain"]),
                "Left: spend per channel over the horizon. Right: the recommended mix's gain over "
                "the current one in each posterior draw (incremental revenue over the horizon).")
    return body


def refresh_section(run) -> str:
    """What changed since the run this one refreshes (``refresh.csv``): per channel the ROI
    before, under the refreshed prior and after, and the channels the new weeks moved into the
    prior's tails."""
    rec, path = run.metrics["refresh"], run.path / "refresh.csv"
    if not path.is_file():
        return f"<p class='note'>{H.esc(path)} is missing: re-run the refresh to see what changed.</p>"
    table = pd.read_csv(path)
    body = (f"<p>This fit refreshes <code>{H.esc(rec['from'])}</code>: {rec['new_periods']} new "
            f"periods ({rec['periods']} in all, {rec['previous_periods']} before). The previous "
            f"posterior, its spread x {rec['widen']:g}, is the prior of {len(rec['sites'])} sites"
            + ("; the likelihood sees only the new periods" if rec.get("new_weeks") else "")
            + ".</p>")
    tails = table[(table["prior_quantile"] < 0.05) | (table["prior_quantile"] > 0.95)]
    body += (f"<p class='note'>The new periods moved {H.esc(', '.join(tails['channel']))} into the "
             "tail of what the previous run expected (the new median outside the refreshed prior's "
             "central 90 %): look at those channels' new weeks before trusting the change.</p>"
             if len(tails) else "<p>For every channel the new median lies inside the refreshed "
             "prior's central 90 %: the new periods agree with what the previous run expected.</p>")
    return body + H.table(table, REFRESH_SPEC, "table-refresh")


def channel_section(a: Analysis, channel: str, frame: pd.DataFrame,
                    figs: Dict[str, bytes]) -> str:
    """ROI, curves, carryover and geo spread of one channel."""
    s = H.slug(channel)
    sel = {dims.CHANNEL: channel}
    row = frame[frame[dims.CHANNEL] == channel]
    body = H.table(row, CHANNEL_SPEC, f"table-channel-{s}")
    curve = a.curves.sel(sel)
    body += add(figs, f"channel_{s}_response", plots.response_curve(
        curve, curve["spend"].values, channel),
        "Revenue driven over the window at other spend levels (same weekly pattern); dot: current.",
        470)
    body += add(figs, f"channel_{s}_adstock", plots.adstock(a.decay.sel(sel), channel),
                "Share of one week's effect that acts in each following week.", 470)
    mult = a.time_varying[a.time_varying["channel"] == channel] if len(a.time_varying) else a.time_varying
    if len(mult):
        body += add(figs, f"channel_{s}_multiplier", plots.multiplier(mult, channel),
                    "How much more (above 1) or less effective the channel was in each week than "
                    "on average over the fitted weeks (time-varying effect), with its band.", 470)
    national = float(a.ranking["roi_median"].sel(sel))
    body += add(figs, f"channel_{s}_geo_roi", plots.geo_roi(a.roi_geo.sel(sel), national, channel),
                "ROI per geo (partially pooled towards the national value).", 470)
    return H.section(f"channel-{s}", channel, body, 3)


def geo_section(a: Analysis, geo: str, channels, figs: Dict[str, bytes]) -> str:
    """Decomposition, fit and ROI per channel of one geo."""
    s = H.slug(geo)
    sel = {dims.GEO: geo}
    b = a.bands.sel(sel)
    train = b["train"].values
    acc = accuracy(b["observed"].values[train], b["mean"].values[train])
    text = (f"<p>In-sample MAPE {H.fmt(acc['mape'], 'pct')}, R² {H.fmt(acc['r2'], 'ratio')}; "
            f"total KPI {H.fmt(float(b['observed'].sum()), 'money')}.</p>")
    roi = tables.summary_long(a.roi_geo.sel(sel), "roi")
    body = text + H.table(roi, GEO_SPEC, f"table-geo-{s}")
    body += add(figs, f"geo_{s}_decomposition", plots.decomposition(
        a.components.sel(sel), b["observed"], train, channels, str(geo)),
        f"{geo}: contributions per week (posterior means) and observed KPI.")
    return H.section(f"geo-{s}", str(geo), body, 3)


def render(a: Analysis, run, cfg: ReportConfig, diag: pd.DataFrame) -> tuple[str, Dict[str, bytes]]:
    """The HTML document and its figures (name -> PNG bytes)."""
    figs: Dict[str, bytes] = {}
    frame = tables.channels(a)
    channels = [str(c) for c in a.ranking[dims.CHANNEL].values]
    geos = [str(g) for g in geo_order(a)]
    shown = geos[:cfg.max_geos]
    per_geo = "".join(geo_section(a, g, run.ds[dims.CHANNEL].values, figs) for g in shown)
    if len(shown) < len(geos):
        per_geo += (f"<p class='note'>{len(geos) - len(shown)} smaller geos have no section "
                    "(max_geos); tables/roi_geo.csv and tables/decomposition.csv hold them all.</p>")
    sections = [
        ("summary", "Executive summary", executive(a, run, cfg.prob, figs, cfg.currency, cfg.design)),
        ("trust", "Why trust the model", trust_section(a, run, figs, diag)),
        *([("refresh", "What changed since the last run", refresh_section(run))]
          if "refresh" in run.metrics else []),
        ("contributions", "What drove the KPI", contributions_section(a, run, figs)),
        ("budget", "Budget recommendation", budget_section(a, cfg, figs)),
        ("planner", "Plan your own mix", planner.section(
            run, a.optimizer["summary"] if a.optimizer else None, cfg.currency, cfg.seed)),
        ("channels", "Channels", "".join(channel_section(a, c, frame, figs) for c in channels)),
        ("geos", "Geos", per_geo),
        ("about", "About this report", about(run, cfg)),
    ]
    body = "".join(H.section(i, t, b) for i, t, b in sections)
    subtitle = f"run {run.path} · data {run.ds.attrs.get('source', '?')}"
    doc = H.page("Marketing-mix report", subtitle, [(i, t) for i, t, _ in sections], body)
    return doc, figs


def about(run, cfg: ReportConfig) -> str:
    """Definitions and where the numbers come from."""
    return H.items([
        "ROI = revenue the channel drove over the modelled window / its spend; marginal ROI = "
        "extra revenue from 1% more spend in every week / that extra spend.",
        "Contributions are the model's additive parts of the mean KPI (baseline, trend, "
        "seasonality, controls, channels); per draw they add up to the predicted mean.",
        f"Every interval is a central {cfg.prob:.0%} posterior interval; decomposition and curves "
        f"use up to {cfg.max_draws} evenly thinned draws, ROI every draw.",
        f"Config hash {H.esc(run.metrics.get('config_hash', '?'))}; tables are in tables/*.csv "
        "and figures in figures/*.png beside this file."])


def diagnostics_frame(run) -> pd.DataFrame:
    """The run's convergence table (diagnostics.csv)."""
    path = run.path / "diagnostics.csv"
    if not path.is_file():
        raise RunError(f"{path}: missing\n  fix: re-run the fit into {run.path}")
    return pd.read_csv(path).set_index("variable")


def write_report(cfg: ReportConfig) -> List[Path]:
    """Load ``cfg.run``, analyse it and write the report into ``<run>/<output>/``."""
    from mmm_geo.experiments import tracking
    from mmm_geo.run import load_run

    if not cfg.run:
        raise ConfigError("no run given\n  fix: mmm-geo report run=<folder of a completed fit>")
    if not 0 < cfg.prob < 1 or not 0 <= cfg.poor < cfg.good <= 1:
        raise ConfigError("report: need 0 < prob < 1 and 0 <= poor < good <= 1\n  fix: e.g. "
                          "prob=0.9 good=0.8 poor=0.2")
    where = tracking.target(cfg, Path(cfg.run))
    run = load_run(Path(cfg.run))
    out = run.path / cfg.output
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    a = analyse(run, cfg, source(run, cfg, out))
    doc, figs = render(a, run, cfg, diagnostics_frame(run))
    paths = []
    for name, data in figs.items():
        atomic_write(out / "figures" / f"{name}.png", lambda p, d=data: p.write_bytes(d))
        paths.append(out / "figures" / f"{name}.png")
    for name, frame in tables.all_tables(a).items():
        atomic_write(out / "tables" / f"{name}.csv", lambda p, f=frame: f.to_csv(p, index=False))
        paths.append(out / "tables" / f"{name}.csv")
    atomic_write(out / "report.html", lambda p: p.write_text(doc, encoding="utf-8"))
    tracking.log_report(where, cfg, run.path, out)
    return [out / "report.html"] + paths
