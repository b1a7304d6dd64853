"""The executive summary and the "why trust the model" section of the report."""

from __future__ import annotations

from typing import Dict

import numpy as np

from mmm_geo import dims
from mmm_geo.analysis.accuracy import seasonal_naive
from mmm_geo.analysis.checks import prior_posterior_table
from mmm_geo.analysis.draws import summarize
from mmm_geo.inference.diagnostics import rhat_text
from mmm_geo.analysis.performance import NO_SPEND
from mmm_geo.optimize.horizon import calendar, date_at
from mmm_geo.report import html as H
from mmm_geo.report import geo_calendar, outlook, plots, tables
from mmm_geo.report.analyse import Analysis

RANKING_SPEC = [("channel", "channel", "text"), ("rank", "rank", "int"),
                ("verdict", "verdict", "text"), ("roi_median", "ROI", "ratio"),
                ("roi_lo", "ROI low", "ratio"), ("roi_hi", "ROI high", "ratio"),
                ("p_roi_gt_1", "P(ROI > 1)", "prob"), ("mroi_median", "marginal ROI", "ratio"),
                ("mroi_lo", "mROI low", "ratio"), ("mroi_hi", "mROI high", "ratio"),
                ("contribution_median", "revenue driven", "money"),
                ("contribution_share_median", "share of revenue", "pct"),
                ("cost_per_kpi_median", "cost per KPI", "money")]
ACCURACY_SPEC = [("window", "window", "text"), ("forecast", "forecast", "text"),
                 ("r2", "R²", "r3"), ("mape", "MAPE", "pct"), ("nrmse", "NRMSE", "pct")]
CONV_SPEC = [("variable", "parameter", "text"), ("size", "elements", "int"),
             ("r_hat_max", "max R-hat", "r3"), ("ess_bulk_min", "min bulk ESS", "int"),
             ("ess_tail_min", "min tail ESS", "int")]
SHIFT_SPEC = [("parameter", "parameter", "text"), ("size", "elements", "int"),
              ("shrinkage_mean", "mean shrinkage", "pct"), ("shrinkage_min", "min shrinkage", "pct"),
              ("shift_max", "largest shift (prior sds)", "ratio")]
RECOVERY_SPEC = [("metric", "metric", "text"), ("channel", "channel", "text"),
                 ("true", "true", "money"), ("median", "estimate", "money"), ("lo", "low", "money"),
                 ("hi", "high", "money"), ("covered", "inside interval", "text")]
LIFT_SPEC = [("test", "test", "int"), ("channel", "channel", "text"), ("geo", "geos", "text"),
             ("start", "from", "text"), ("end", "to", "text"), ("measured", "measured lift", "num"),
             ("se", "its SE", "num"), ("model_median", "model", "num"), ("model_lo", "low", "num"),
             ("model_hi", "high", "num"), ("used_in_fit", "used in fit", "text"),
             ("agrees", "agrees", "text")]
CSS_CLASS = {"performs well": "good", "performs poorly": "poor", "uncertain": "uncertain",
             NO_SPEND: "uncertain"}


def add(figs: Dict[str, bytes], name: str, fig, caption: str, width: int | None = None) -> str:
    """Store a figure's PNG under ``name`` and return its embedded HTML."""
    figs[name] = plots.png(fig)
    return H.figure(name, figs[name], caption, width)


def _channel_line(row) -> str:
    ci = f"{H.fmt(row['roi_lo'], 'ratio')}–{H.fmt(row['roi_hi'], 'ratio')}"
    text = (f"<b>{H.esc(row['channel'])}</b>: ROI {H.fmt(row['roi_median'], 'ratio')} "
            f"(credible interval {ci}), P(ROI &gt; 1) {H.fmt(row['p_roi_gt_1'], 'prob')}, "
            f"marginal ROI {H.fmt(row['mroi_median'], 'ratio')}")
    if row["roi_median"] > 1 and row["mroi_median"] < 1:
        text += " — profitable on average but saturated: the next unit of spend returns less than it costs"
    elif row["mroi_median"] > 1:
        text += " — more spend would still pay at the margin"
    return text


def performance(a: Analysis, prob: float) -> tuple[str, str]:
    """HTML of the well- and poorly-performing channel lists."""
    frame = tables.ranking(a)
    good = frame[frame["verdict"] == "performs well"]
    poor = frame[frame["verdict"] == "performs poorly"]
    unsure = frame[frame["verdict"] == "uncertain"]
    organic = frame[frame["verdict"] == NO_SPEND]
    paid = frame[frame["verdict"] != NO_SPEND]
    g = a.ranking.attrs
    good_html = (H.items([_channel_line(r) for _, r in good.iterrows()]) if len(good) else
                 f"<p>No channel returns more than it costs with probability ≥ {g['good']:.0%}.</p>")
    if not len(paid):
        good_html = ("<p>No channel has spend in the data, so none has an ROI: they are compared "
                     "by the revenue they drove (per 1,000 impressions in the channel table).</p>")
    lines = [_channel_line(r) for _, r in poor.iterrows()]
    if not len(poor) and len(paid):
        worst = paid.iloc[-1]
        lines.append(f"No channel is likely below break-even (P(ROI &gt; 1) ≤ {g['poor']:.0%}). "
                     f"The weakest is {_channel_line(worst)}.")
    lines += [f"Uncertain: {_channel_line(r)}" for _, r in unsure.iterrows()]
    lines += [f"No spend (organic): <b>{H.esc(r['channel'])}</b> drove "
              f"{H.fmt(r['contribution_median'], 'money')} ({H.fmt(r['contribution_lo'], 'money')}–"
              f"{H.fmt(r['contribution_hi'], 'money')}); it has no ROI" for _, r in organic.iterrows()]
    return good_html, H.items(lines)


def horizon_text(summary: dict, next_week=None) -> str:
    """The optimizer's horizon in words: '13 weeks (2025-01-06 to 2025-03-31)', or 'the next 13
    weeks (...)' when it starts on ``next_week``, the period right after the data."""
    weeks = [str(w) for w in summary["horizon_weeks"]]
    dates = f" ({weeks[0]} to {weeks[-1]})" if len(weeks) > 1 else f" ({weeks[0]})"
    plan = f", flighting from {summary['plan']}" if summary.get("plan") else ""
    after = next_week is not None and weeks[0] == str(next_week)[:10]
    count = ("the next " if after else "") + f"{len(weeks)} week{'s' if len(weeks) > 1 else ''}"
    return f"{count}{dates}{plan}"


def budget_lines(a: Analysis, prob: float, run_path: str, currency: str = "",
                 next_week=None) -> str:
    """The recommended budget split, or how to get one; amounts with ``currency`` in front."""
    if a.optimizer is None and "contribution_indirect" in a.metrics:
        return ("<p class='note'>The model has a mediator, and the optimizer plans each "
                "channel's direct response only, so it does not plan this run: a split would "
                "leave out what the upstream channels drive through the mediator. The direct and "
                "mediated effects are above.</p>")
    if a.optimizer is None:
        return ("<p class='note'>The budget optimizer has not been run for this fit. Run "
                f"<code>mmm-geo optimize run={H.esc(run_path)} budget=&lt;total&gt; "
                "horizon_weeks=13</code> and re-run the report.</p>")
    s, alloc = a.optimizer["summary"], a.optimizer["allocation"]
    g = tables.gain(a, prob)
    split = ", ".join(f"{H.esc(r['channel'])} {H.money(r['recommended'], currency)} "
                      f"({'+' if r['change'] >= 0 else ''}{H.fmt(r['change_pct'] / 100, 'pct')})"
                      for _, r in alloc.iterrows() if r["current"] > 0 or r["recommended"] > 0)
    return H.items([
        f"Budget {H.money(s['budget'], currency)} over {H.esc(horizon_text(s, next_week))}: {split}.",
        f"Expected gain over the current mix: <b>{H.money(g['mean'], currency)}</b> "
        f"({H.fmt(g['relative'], 'pct')}; {prob:.0%} interval {H.money(g['lo'], currency)} to "
        f"{H.money(g['hi'], currency)}); it beats the current mix in "
        f"{H.fmt(g['p_positive'], 'prob')} of posterior draws.",
        *[_plan_line(a, plan, prob, currency) for plan in a.optimizer["gains"]
          if plan != "recommended"],
        f"Solver: {H.esc(s['solver'].get('status', '?'))}; objective "
        f"{H.esc(s['config']['optimizer']['objective'])}."], "summary")


def _plan_line(a: Analysis, plan: str, prob: float, currency: str) -> str:
    """A scenario's (or the timed flighting's) outcome against the current mix."""
    g = tables.gain(a, prob, plan)
    what = ("The recommended weekly flighting (timing=true), at the same channel totals"
            if plan == "timed" else f"Scenario “{H.esc(plan)}”")
    return (f"{what}: {H.money(g['mean'], currency)} against the current mix "
            f"({H.fmt(g['relative'], 'pct')}; {prob:.0%} interval {H.money(g['lo'], currency)} to "
            f"{H.money(g['hi'], currency)}); better in {H.fmt(g['p_positive'], 'prob')} of "
            "posterior draws.")


def beyond_lines(a: Analysis, prob: float, currency: str = "") -> str:
    """Mediated effects (direct and through the mediator, per upstream channel) and non-media
    treatments (a price's elasticity, a promotion's lift); empty when the model has neither."""
    lines = []
    if "contribution_indirect" in a.metrics:
        direct = summarize(a.metrics["contribution_direct"], prob)
        indirect = summarize(a.metrics["contribution_indirect"], prob)
        dim = indirect["median"].dims[0]                      # the upstream channels
        for ch in map(str, indirect[dim].values):
            d, i = direct.sel({dim: ch}), indirect.sel({dim: ch})
            lines.append(f"{H.esc(ch)}: drove {H.money(float(d['median']), currency)} directly "
                         f"({H.money(float(d['lo']), currency)} to {H.money(float(d['hi']), currency)})"
                         f" and {H.money(float(i['median']), currency)} through the mediator "
                         f"({H.money(float(i['lo']), currency)} to {H.money(float(i['hi']), currency)}).")
    if len(a.treatments):
        lo, hi = (c for c in a.treatments.columns if c.startswith("p") and c != "p50")
        for _, r in a.treatments[(a.treatments["geo"] == "all")
                                 & a.treatments["metric"].isin(["elasticity", "lift"])].iterrows():
            if r["metric"] == "elasticity":
                e = float(r["median"])
                lines.append(f"{H.esc(r['treatment'])}: elasticity <b>{H.fmt(e, 'ratio')}</b> "
                             f"({H.fmt(r[lo], 'ratio')} to {H.fmt(r[hi], 'ratio')}): 1% higher "
                             f"price, {abs(e):.1f}% {'lower' if e < 0 else 'higher'} KPI.")
            else:
                lines.append(f"{H.esc(r['treatment'])}: a full week of it changes the KPI by "
                             f"<b>{H.fmt(r['median'], 'pct')}</b> ({H.fmt(r[lo], 'pct')} to "
                             f"{H.fmt(r[hi], 'pct')}).")
    return H.items(lines, "summary") if lines else ""


def synergy_lines(a: Analysis, currency: str = "") -> str:
    """Each synergy pair's contribution on top of its channels' own effects (empty without)."""
    rows = a.synergy[a.synergy["quantity"].str.startswith("synergy contribution")] \
        if len(a.synergy) else a.synergy
    return "".join(
        f"<p>Synergy {H.esc(r['quantity'].split()[-1].replace(':', ' × '))}: together the pair "
        f"drove <b>{H.money(r['median'], currency)}</b> ({H.money(r['lo'], currency)} to "
        f"{H.money(r['hi'], currency)}) more than each channel alone; the ROIs above include "
        "it.</p>" for _, r in rows.iterrows())


def trust_lines(a: Analysis, metrics: dict) -> str:
    """One line per reason to trust (or distrust) the model."""
    conv = metrics["convergence"]
    ok = metrics.get("converged", False)
    lines = [("Sampling converged" if ok else "<span class='poor'>Sampling has NOT converged</span>")
             + f": {rhat_text(conv)}, min bulk ESS {conv['min_ess_bulk']:.0f}, "
             f"{conv['divergences']} divergences."]
    hold = a.accuracy.get("holdout")
    if hold:
        beats = hold["mape"] < hold["naive_mape"]
        lines.append(f"On {hold['periods']} held-out weeks"
                     + (" (a validation fit without them)" if a.holdout_source else "")
                     + " the model's MAPE is "
                     f"{H.fmt(hold['mape'], 'pct')} against {H.fmt(hold['naive_mape'], 'pct')} for "
                     "a seasonal-naive forecast: "
                     + ("<span class='good'>better</span>" if beats
                        else "<span class='poor'>not better</span>") + ".")
        lines += _cv_line(a.accuracy.get("cv"))
    else:
        lines.append(f"In-sample MAPE {H.fmt(a.accuracy['fit']['mape'], 'pct')}, R² "
                     f"{H.fmt(a.accuracy['fit']['r2'], 'ratio')}. No weeks were held out: fit the same "
                     "config with <code>validation.holdout=13</code> and pass that folder as "
                     "<code>validation_run=</code> to test forecasts against a naive baseline.")
    cov = a.coverage
    lines.append(f"{H.fmt(cov['in_sample'], 'pct')} of observed geo-weeks fall inside the "
                 f"{cov['prob']:.0%} posterior predictive interval"
                 + (f" ({H.fmt(cov['holdout'], 'pct')} of held-out ones)" if "holdout" in cov else "")
                 + ".")
    if a.shift is None:
        lines.append("Prior vs posterior: this trace has no prior draws (older run); re-fit to see it.")
    else:
        t = tables.prior_posterior(a)
        learnt = int((t["shrinkage"] > 0.5).sum())
        lines.append(f"The data narrowed {learnt} of {len(t)} parameters to less than half their "
                     "prior variance (prior → posterior below).")
    lines.append(_recovery_line(a))
    return H.items(lines, "summary")


def _cv_line(cv) -> list:
    """The rolling-origin folds (``metrics.json["cv"]`` of ``validation.folds``), if any: their
    mean MAPE against the seasonal-naive forecast, and in how many folds the model wins."""
    if not cv:
        return []
    folds = cv["folds"]
    wins = sum(f["mape"] < f["naive_mape"] for f in folds)
    better = cv["mean_mape"] < cv["mean_naive_mape"]
    return [f"Over {len(folds)} rolling-origin folds (each fitted on the weeks before its "
            f"{folds[0]['test_periods']} test weeks) the mean MAPE is {H.fmt(cv['mean_mape'], 'pct')} "
            f"against {H.fmt(cv['mean_naive_mape'], 'pct')} for the seasonal-naive forecast: "
            + ("<span class='good'>better</span>" if better else "<span class='poor'>not better</span>")
            + f"; better in {wins} of {len(folds)} folds."]


def _recovery_line(a: Analysis) -> str:
    if a.recovery is None:
        return ("Recovery of known truth: not checked for this run. Add "
                "<code>simulate_recovery=true</code> (simulates and fits a panel of the same "
                "shape) or <code>recovery_run=&lt;simulated run&gt;</code>.")
    roi = a.recovery[a.recovery["metric"] == "roi"]
    text = (f"Recovery of known truth on {H.esc(a.recovery_label)}: {int(roi['covered'].sum())} of "
            f"{len(roi)} true channel ROIs inside their intervals; "
            f"{H.fmt(a.geo_recovery['coverage'], 'pct')} of geo x channel ROIs covered.")
    if a.recovery_fit is not None:
        conv = a.recovery_fit["convergence"]
        text += (f" That fit: {rhat_text(conv)}, {conv['divergences']} divergences"
                 + ("." if a.recovery_fit.get("converged") else
                    " — <span class='poor'>not converged</span>: indicative only; give it more "
                    "draws (recovery_warmup, recovery_draws)."))
    return text


def trust_section(a: Analysis, run, figs: Dict[str, bytes], diag) -> str:
    """Convergence table, accuracy vs naive, PPC plots, prior -> posterior, recovery."""
    conv = H.table(diag.reset_index(), CONV_SPEC, "table-convergence")
    if diag["r_hat_max"].isna().all():
        conv += (f"<p class='note'>{rhat_text(run.metrics['convergence'])}: R-hat compares "
                 "chains, so convergence is judged on ESS, divergences and E-BFMI only. Fit with "
                 "<code>inference.chains=2</code> or more for R-hat.</p>")
    parts = [H.section("convergence", "Convergence", conv, 3)]
    acc = ("<p>The seasonal-naive forecast of a held-out week is the observed KPI 52 weeks "
           "earlier (the last training week when less than a year was trained): a model that "
           "cannot beat it has learnt nothing useful about the future.</p>"
           + H.table(tables.accuracy(a), ACCURACY_SPEC, "table-accuracy"))
    if a.holdout_source:
        acc += (f"<p>The held-out weeks come from the validation fit {H.esc(a.holdout_source)}: "
                "the same data and model fitted without its last weeks; this run used all weeks."
                "</p>")
    hold = a.accuracy.get("holdout")
    if hold:
        b, n_train = a.holdout_bands, int(np.argmax(a.holdout_bands["holdout"].values))
        obs = b["observed"].transpose(dims.GEO, dims.TIME).values
        naive = seasonal_naive(obs, n_train, int(round(run.config.model.period))).sum(0)
        acc += add(figs, "holdout", plots.holdout(
            b[dims.TIME].values, b["national_observed"].values, b["national_mean"].values,
            b["national_lo"].values, b["national_hi"].values, naive, n_train),
            "National KPI on the held-out weeks: the model's forecast against the seasonal-naive one.")
    parts.append(H.section("accuracy", "Accuracy: in-sample and held out", acc, 3))
    ppc = add(figs, "fit_national", plots.fit_over_time(a.bands, title="All geos"),
              "Observed KPI against the posterior predictive mean and interval (all geos).")
    ppc += add(figs, "ppc_density", plots.ppc_density(run.idata),
               "ArviZ posterior predictive check: replicated data should look like the observed.")
    parts.append(H.section("ppc", "Posterior predictive check", ppc, 3))
    if a.shift is None:
        shift = "<p class='note'>This trace has no prior group (fitted before prior draws were saved).</p>"
    else:
        names = [n for n in a.shift.data_vars if set(a.shift[n].dims) <= {"stat", dims.CHANNEL}
                 and not str(n).endswith("_decentered")]
        shift = H.table(prior_posterior_table(a.shift), SHIFT_SPEC, "table-prior-posterior")
        shift += add(figs, "prior_posterior", plots.prior_posterior(run.idata, names),
                     "Shrinkage = 1 − posterior variance / prior variance: near 1 the data decided, "
                     "near 0 the prior did.")
    parts.append(H.section("prior-posterior", "Prior → posterior", shift, 3))
    if a.recovery is None:
        rec = f"<p class='note'>{_recovery_line(a)}</p>"
    else:
        rec = (f"<p>Fitted on {H.esc(a.recovery_label)}.</p>"
               + H.table(a.recovery, RECOVERY_SPEC, "table-recovery")
               + add(figs, "recovery", plots.recovery(a.recovery),
                     "Estimated against true ROI; the dashed line is perfect recovery.", 480))
    parts.append(H.section("recovery", "Recovery of known truth", rec, 3))
    if a.lift is None:
        lift = ("<p class='note'>No lift tests were given. Experiments (geo holdouts, conversion "
                "lift studies) calibrate the media effects the observational data leave open, "
                "above all for always-on channels: set <code>data.lift_tests</code>.</p>")
    else:
        lift = ("<p>Each lift test's measured lift (KPI units) against the model's posterior lift "
                "for the same geos, weeks and spend. A test agrees when the measurement lies in the "
                "central 90% of the model's lift plus the test's own noise. Tests not used in the "
                "fit (measured in held-out weeks) are an out-of-sample check.</p>"
                + H.table(a.lift, LIFT_SPEC, "table-lift"))
    parts.append(H.section("lift", "Agreement with lift tests", lift, 3))
    return "".join(parts)


def executive(a: Analysis, run, prob: float, figs: Dict[str, bytes], currency: str = "",
              design: str = "design") -> str:
    """The executive summary: what works, what does not, what to do, why to believe it, which
    test to run next (``<run>/<design>/``); amounts with ``currency`` in front."""
    ds = run.ds
    times = ds[dims.TIME].values
    m = a.media_share
    next_week = date_at(calendar(times), [len(times)])[0].strftime("%Y-%m-%d")
    where = "National data" if ds.sizes[dims.GEO] == 1 else f"{ds.sizes[dims.GEO]} geos"
    organic = len(run.config.model.organic_channels)
    paid = ds.sizes[dims.CHANNEL] - organic
    unpaid = f" (and {organic} without spend)" if organic else ""
    intro = (f"<p>{where}, {ds.sizes[dims.TIME]} weeks "
             f"({np.datetime_as_string(times[0], 'D')} to {np.datetime_as_string(times[-1], 'D')}), "
             f"{paid} paid channels{unpaid} with a total spend of "
             f"{H.money(float(ds['spend'].sum()), currency)}. {'Media' if organic else 'Paid media'} drove "
             f"<b>{H.fmt(float(m['median']), 'pct')}</b> of the KPI ({H.fmt(float(m['lo']), 'pct')} "
             f"to {H.fmt(float(m['hi']), 'pct')}). Intervals are {prob:.0%} credible intervals.</p>")
    good, poor = performance(a, prob)
    beyond = beyond_lines(a, prob, currency)
    where_when = geo_calendar.section_body(a)
    ahead = outlook.section_body(a, run.path, currency,
                                 currency if ds.attrs.get("kpi_is_revenue", 1) else "")
    next_test = outlook.next_test_lines(run.path, design, currency)
    body = [intro,
            H.section("summary-good", "1. Channels that perform well",
                      good + synergy_lines(a, currency), 3),
            H.section("summary-poor", "2. Channels that perform poorly or are uncertain", poor, 3),
            H.table(tables.ranking(a), RANKING_SPEC, "table-ranking"),
            add(figs, "ranking", plots.ranking(a.ranking),
                "ROI = revenue driven / spend over the window; marginal ROI = return on the next "
                "1% of spend."),
            *([H.section("summary-beyond", "Mediation, price and promotions", beyond, 3)]
              if beyond else []),
            *([H.section("summary-geo-calendar", "Geos, seasonality and holidays", where_when, 3)]
              if where_when else []),
            *([H.section("summary-outlook", "Timing and forecast", ahead, 3)] if ahead else []),
            H.section("summary-budget", "3. Recommended budget split",
                      budget_lines(a, prob, str(run.path), currency, next_week), 3),
            *([H.section("summary-next-test", "Which test to run next",
                         H.items(next_test, "summary"), 3)] if next_test else []),
            H.section("summary-trust", "4. Why trust the model", trust_lines(a, run.metrics), 3)]
    return "".join(body)
