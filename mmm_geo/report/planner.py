"""The report's interactive planner: one slider per paid channel, the outcome computed in the page.

When the report is built, the optimizer's machinery (``mmm_geo.optimize``) gives the planning
problem (the horizon and flighting of the run's ``optimize.json``, or the defaults: the 13 weeks
after the data, historical flighting) and the per-draw response terms of a seeded subsample of
posterior draws. For separable media (no synergy) a plan's incremental value is, in every draw, the
sum over channels of each channel's own curve (the others at zero), so the page needs only those:
per channel, a grid of horizon totals from 0 to 3x the current one (denser near zero, the current
total among them) and the per-draw values on it, embedded as JSON. An inline script interpolates
each curve linearly per draw, adds them up and shows the median, the 50 % and 90 % intervals and
P(beats current) over the same draws. With synergy the curves do not add up, so the section says
the planner is not available rather than approximate.
"""

from __future__ import annotations

import json
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from mmm_geo import dims
from mmm_geo.config import OptimizeConfig, to_config
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.model import media as mm
from mmm_geo.optimize.plan import single_plan
from mmm_geo.optimize.problem import Problem, build_problem, current_mix
from mmm_geo.optimize.response import DrawTerms, build_terms, draw_params, values
from mmm_geo.report import html as H

DRAWS = 200                                               # posterior draws embedded
MULTIPLES = np.unique(np.append(3.0 * np.linspace(0.0, 1.0, 48) ** 2, 1.0))  # x current total
# the median and the ends of the central 50 % and 90 % intervals, by output name
QUANTILES = {"median": 0.5, "p25": 0.25, "p75": 0.75, "p5": 0.05, "p95": 0.95}


class Inputs(NamedTuple):
    """The planning problem and the per-draw response terms the planner's curves come from."""

    problem: Problem
    terms: DrawTerms
    media: mm.Spec
    ids: np.ndarray        # flat (chain x draw) indices of the draws, (D,)
    unit: str              # "revenue" or "KPI"


class Curves(NamedTuple):
    """Per paid channel (P of them): its grid of horizon totals and the per-draw values on it."""

    channels: list         # names, (P,)
    index: np.ndarray      # their positions among the run's channels, (P,)
    current: np.ndarray    # current horizon total of every channel, (C,)
    grid: np.ndarray       # (P, K) totals; grid[:, k] = current * MULTIPLES[k]
    values: np.ndarray     # (P, K, D) incremental value of each total alone, per draw


def optimize_config(summary: Optional[dict]) -> OptimizeConfig:
    """The optimizer's settings from its ``optimize.json`` summary, or the defaults."""
    return OptimizeConfig() if summary is None else to_config(summary["config"], OptimizeConfig)


def inputs(run, summary: Optional[dict], n_draws: int = DRAWS, seed: int = 0) -> Inputs:
    """The problem of the optimizer's horizon (at its final budget) and the terms of ``n_draws``
    posterior draws (seeded); ConfigError where the optimizer could not plan the run either."""
    cfg, model = optimize_config(summary), run.config.model
    budget = None if summary is None else summary.get("budget")
    problem = build_problem(run.ds, run.scaling, model, cfg, budget, single_plan(run, cfg))
    params, ids = draw_params(run.idata.posterior, model, n_draws, seed)
    o = cfg.optimizer
    unit = "revenue" if o.metric == "revenue" or o.objective == "profit" else "KPI"
    return Inputs(problem, build_terms(params, problem, model),
                  mm.spec(model, len(problem.channels)), ids, unit)


def channel_cells(problem: Problem, channel: int, totals: np.ndarray) -> np.ndarray:
    """Cell totals (K, G, C) of ``totals`` of one channel (split by ``geo_share``), others 0."""
    out = np.zeros((len(totals),) + problem.geo_share.shape)
    out[:, :, channel] = problem.geo_share[None, :, channel] * np.asarray(totals)[:, None]
    return out


def plan_values(inp: Inputs, cells: np.ndarray) -> np.ndarray:
    """Per-draw incremental value of each of a stack of cell totals (K, G, C), (K, D)."""
    fn = jax.jit(lambda cs, t, w: jax.lax.map(lambda c: values(c, t, w, inp.media), cs))
    return np.asarray(fn(jnp.asarray(cells, jnp.float32), inp.terms,
                         jnp.asarray(inp.problem.weights, jnp.float32)), float)


def curves(inp: Inputs) -> Curves:
    """Each paid channel's per-draw curve on its grid (channels without current spend get none)."""
    current = current_mix(inp.problem).sum(0)
    index = np.flatnonzero(current > 0)
    grid = current[index, None] * MULTIPLES[None, :]
    cells = np.concatenate([channel_cells(inp.problem, c, g) for c, g in zip(index, grid)])
    vals = plan_values(inp, cells).reshape(len(index), len(MULTIPLES), -1)
    return Curves([str(inp.problem.channels[c]) for c in index], index, current, grid, vals)


def _num(x: float) -> float:
    return float(f"{x:.8g}")       # float32 precision, short JSON


def payload(cv: Curves, inp: Inputs, currency: str) -> str:
    """The curves as JSON for the page (safe inside a script element)."""
    data = {"channels": cv.channels, "current": cv.current[cv.index].tolist(),
            "held": float(cv.current.sum() - cv.current[cv.index].sum()),
            "budget": float(cv.current.sum()), "grid": cv.grid.tolist(),
            "values": [[[_num(v) for v in row] for row in ch] for ch in cv.values],
            "draw_ids": np.asarray(inp.ids).tolist(), "quantiles": QUANTILES,
            "currency": currency}
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def section(run, summary: Optional[dict], currency: str = "", seed: int = 0) -> str:
    """The planner section's HTML: sliders, outcome and inline script, or why it is unavailable."""
    model = run.config.model
    try:
        if not mm.spec(model, run.ds.sizes[dims.CHANNEL]).separable:
            pairs = ", ".join(" x ".join(p) for p in model.synergy.pairs)
            return ("<p class='note'>The in-page planner is not available for this run: its "
                    f"media interact (synergy {H.esc(pairs)}), so a plan's value is not the sum of "
                    "each channel's own curve and cannot be computed in the page from per-channel "
                    "curves. Compare plans with <code>mmm-geo forecast</code> or the optimizer's "
                    "<code>scenarios</code>.</p>")
        inp = inputs(run, summary, seed=seed)
    except (ConfigError, RunError) as err:
        return (f"<p class='note'>The in-page planner is not available for this run: "
                f"{H.esc(str(err).splitlines()[0])}.</p>")
    return body(curves(inp), inp, currency)


def _out(name: str) -> str:
    return f'<output id="planner-{name}" data-value="">–</output>'


def body(cv: Curves, inp: Inputs, currency: str) -> str:
    """Sliders, outputs and the script of the planner."""
    pb = inp.problem
    weeks = f"{pb.weeks[0]} to {pb.weeks[-1]}" if len(pb.weeks) > 1 else str(pb.weeks[0])
    rows = []
    for j, (name, cur) in enumerate(zip(cv.channels, cv.current[cv.index])):
        s = H.slug(name)
        rows.append(
            f"<tr><td>{H.esc(name)}</td><td><input type='range' id='planner-slider-{s}' "
            f"data-channel='{H.esc(name)}' min='0' max='{float(cv.grid[j, -1])!r}' "
            f"step='any' value='{float(cur)!r}'></td><td>{_out('spend-' + s)}</td>"
            f"<td>{_out('multiple-' + s)}</td><td>{H.esc(H.money(cur, currency))}</td></tr>")
    held = [str(pb.channels[c]) for c in range(len(pb.channels)) if c not in set(cv.index)]
    note = (f"<p class='muted'>Held at zero (no spend in the current mix): "
            f"{H.esc(', '.join(held))}.</p>" if held else "")
    return (
        f"<p>Set each channel's total spend over the {len(pb.weeks)} week"
        f"{'s' if len(pb.weeks) > 1 else ''} {H.esc(weeks)} (0 to 3x "
        "its current total, spread over geos and weeks as the current mix is). The page adds up "
        f"each channel's response curve in each of {len(inp.ids)} posterior draws, straight lines "
        f"between {len(MULTIPLES)} precomputed spend levels per channel, and shows the incremental "
        f"{inp.unit} over the horizon{' and its carryover' if pb.tail else ''}. The current "
        "mix is the optimizer's: the historical one, at its budget; its bounds and locks do not "
        "apply here.</p>"
        "<table id='planner-sliders'><thead><tr><th>channel</th><th>spend</th><th>plan</th>"
        "<th>x current</th><th>current</th></tr></thead><tbody>" + "".join(rows) +
        "</tbody></table>" + note +
        f"<p>Plan spend {_out('total')} against the current budget {_out('budget')} "
        f"({_out('total-ratio')} of it). <button type='button' id='planner-reset'>Reset to the "
        "current mix</button></p>"
        f"<table id='planner-outcome'><thead><tr><th>incremental {H.esc(inp.unit)}</th>"
        "<th>median</th><th>50% interval</th><th>90% interval</th><th>P(beats current)</th></tr>"
        f"</thead><tbody><tr><td>this plan</td><td>{_out('median')}</td>"
        f"<td>{_out('p25')} – {_out('p75')}</td><td>{_out('p5')} – {_out('p95')}</td>"
        f"<td>{_out('p-beats')}</td></tr><tr><td>current mix</td><td>{_out('current-median')}</td>"
        f"<td>{_out('current-p25')} – {_out('current-p75')}</td>"
        f"<td>{_out('current-p5')} – {_out('current-p95')}</td><td></td></tr></tbody></table>"
        f"<script type='application/json' id='planner-data'>{payload(cv, inp, currency)}</script>"
        f"<script>{SCRIPT}</script>")


SCRIPT = """(function () {
var D = JSON.parse(document.getElementById('planner-data').textContent);
var sliders = Array.prototype.slice.call(document.querySelectorAll('#planner-sliders input'));
function curve(c, x) {            // per-draw value of channel c at total x, linear on its grid
  var g = D.grid[c], V = D.values[c], k = 0;
  x = Math.min(Math.max(x, 0), g[g.length - 1]);
  while (k < g.length - 2 && g[k + 1] <= x) k++;
  var f = (x - g[k]) / (g[k + 1] - g[k]), a = V[k], b = V[k + 1], out = new Array(a.length);
  for (var d = 0; d < a.length; d++) out[d] = f === 0 ? a[d] : a[d] + f * (b[d] - a[d]);
  return out;
}
function plan(xs) {               // per-draw value of a plan: the sum of the channels' curves
  var tot = new Array(D.values[0][0].length).fill(0);
  xs.forEach(function (x, c) { curve(c, x).forEach(function (v, d) { tot[d] += v; }); });
  return tot;
}
function quantile(s, p) {         // as numpy.quantile (linear) on sorted s
  var h = (s.length - 1) * p, lo = Math.floor(h), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}
function money(v) {
  var a = Math.abs(v), sign = v < 0 ? '-' : '', units = [[1e9, ' bn'], [1e6, ' m'], [1e3, ' k']];
  for (var i = 0; i < units.length; i++) {
    var u = units[i];
    if (a >= u[0]) return sign + D.currency + +(a / u[0]).toPrecision(3) + u[1];
  }
  return sign + D.currency + +a.toPrecision(3);
}
function show(name, v, text) {
  var el = document.getElementById('planner-' + name);
  el.setAttribute('data-value', String(v));
  el.textContent = text === undefined ? money(v) : text;
}
function summary(prefix, vals) {
  var s = vals.slice().sort(function (a, b) { return a - b; });
  Object.keys(D.quantiles).forEach(function (k) { show(prefix + k, quantile(s, D.quantiles[k])); });
}
var current = plan(D.current);
summary('current-', current);
show('budget', D.budget);
var xs = D.current.slice();       // the plan (a slider's own value keeps ~15 digits)
function update() {
  var vals = plan(xs), beats = 0, total = D.held;
  sliders.forEach(function (el, c) {
    var slug = el.id.slice('planner-slider-'.length);
    total += xs[c];
    show('spend-' + slug, xs[c]);
    show('multiple-' + slug, xs[c] / D.current[c], (xs[c] / D.current[c]).toFixed(2) + 'x');
  });
  vals.forEach(function (v, d) { if (v > current[d]) beats++; });
  summary('', vals);
  show('p-beats', beats / vals.length, Math.round(100 * beats / vals.length) + '%');
  show('total', total);
  show('total-ratio', total / D.budget, Math.round(100 * total / D.budget) + '%');
}
sliders.forEach(function (el, c) {
  function moved() { xs[c] = parseFloat(el.value); update(); }
  el.addEventListener('input', moved);
  el.addEventListener('change', moved);
});
document.getElementById('planner-reset').addEventListener('click', function () {
  xs = D.current.slice();
  sliders.forEach(function (el, c) { el.value = String(D.current[c]); });
  update();
});
update();
})();"""
