"""The HTML report end to end: ``mmm-geo report`` on a quick fit with held-out weeks and an
optimizer result; it renders in real headless Chromium (no broken images, every section), the
numbers it shows equal those of the analysis functions, it is deterministic, and bad input gives a
clear error."""

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_geo.analysis import checks, contributions
from mmm_geo.analysis.accuracy import fit_metrics, train_mask
from mmm_geo.analysis.draws import summarize, thin
from mmm_geo.analysis.performance import rank_channels
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.config import InferenceConfig, OptimizeConfig, OptimizerConfig, ValidationConfig
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.inference.diagnostics import diagnostics_table
from mmm_geo.report.build import write_report
from mmm_geo.report.config import ReportConfig
from mmm_geo.run import fit, load_run
from tests.conftest import quick_fit_config

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOLDOUT = 8
SECTIONS = ["summary", "summary-good", "summary-poor", "summary-budget", "summary-trust", "trust",
            "convergence", "accuracy", "ppc", "prior-posterior", "recovery", "lift", "contributions",
            "budget", "planner", "channels", "channel-tv", "channel-search", "geos", "geo-geo_00",
            "geo-geo_01", "geo-geo_02", "about"]
CHECK_JS = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = {images: imgs.length,
             broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                         .map(function (i) { return i.alt; }),
             sections: Array.prototype.map.call(document.querySelectorAll('section[id]'),
                                                function (s) { return s.id; }),
             height: document.body.scrollHeight};
  var pre = document.createElement('pre');
  pre.id = 'render-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mmm_geo.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """A short fit of the tiny panel with its last 8 weeks held out, optimized, and reported by
    the CLI (short chains: the report must say whether they converged, not pretend)."""
    from mmm_geo.optimize.output import run_optimize

    cfg = dataclasses.replace(
        quick_fit_config(), validation=ValidationConfig(holdout=HOLDOUT),
        inference=InferenceConfig(chains=2, warmup=80, draws=80, progress_bar=False, ess_min=50))
    out = tmp_path_factory.mktemp("report") / "run"
    fit(cfg, out)
    run_optimize(OptimizeConfig(run=str(out), horizon_weeks=4,
                                optimizer=OptimizerConfig(allocation_draws=0)))
    res = _cli("report", f"run={out}", cwd=out.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "report written to" in res.stdout
    return out


class Tables(HTMLParser):
    """Table cells by table id: ``{id: [{data-col: text}, ...]}``; all text for regexes."""

    def __init__(self):
        super().__init__()
        self.tables, self.text, self._table, self._row, self._col = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._col = a.get("data-col")
            self._row[self._col] = ""

    def handle_endtag(self, tag):
        if tag == "tr" and self._row:
            self._table.append(self._row)
        if tag in ("tr", "table"):
            self._row = None
        if tag == "table":
            self._table = None
        if tag == "td":
            self._col = None

    def handle_data(self, data):
        self.text.append(data)
        if self._col is not None:
            self._row[self._col] += data


def parse(path: Path) -> Tables:
    t = Tables()
    t.feed(path.read_text(encoding="utf-8"))
    return t


def shown(text: str):
    """A displayed number -> (value, half a unit of its last digit)."""
    t, mult = text.replace(",", "").strip(), 1.0
    pct = t.endswith("%")
    t = t.rstrip("%")
    for suffix, m in ((" bn", 1e9), (" m", 1e6), (" k", 1e3)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
    value = float(t) * mult
    half = (0.5 * 10.0 ** -len(t.split(".")[1]) if "." in t else 0.5) * mult
    if "e" in t:
        half = abs(value) * 5e-3
    return (value / 100, half / 100) if pct else (value, half)


def assert_shows(text: str, expected: float, what: str):
    value, half = shown(text)
    assert abs(value - expected) <= half * (1 + 1e-9) + 1e-12, f"{what}: shows {text}, is {expected}"


def test_report_writes_a_self_contained_html_with_figures_and_tables(report_run):
    out = report_run / "report"
    html = (out / "report.html").read_text(encoding="utf-8")
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert {"ranking", "holdout", "fit_national", "ppc_density", "prior_posterior", "recovery",
            "decomposition_national", "budget", "channel_tv_response"} <= set(figures)
    for name in figures:                         # every PNG file is embedded in the page
        assert f'id="fig-{name}"' in html
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html), "external reference"
    for name in ("channels", "roi_geo", "decomposition", "response_curves", "adstock",
                 "accuracy", "fit_national", "prior_posterior", "recovery", "budget"):
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0, name


def chromium(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile under ``tmp_path``."""
    assert CHROMIUM.is_file(), "no /usr/bin/chromium: run `bash scripts/install_test_deps.sh`"
    profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def render_check(page: Path, tmp_path: Path) -> dict:
    """Open ``page`` in headless Chromium: its images (count, broken ones), section ids, height."""
    probe = tmp_path / "check.html"
    html = page.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", CHECK_JS + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout)
    assert found, dom.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_report_renders_in_headless_chromium(report_run, tmp_path):
    check = render_check(report_run / "report" / "report.html", tmp_path)
    assert check["broken"] == [] and check["images"] == len(list((report_run / "report" / "figures").glob("*.png")))
    assert not set(SECTIONS) - set(check["sections"]), set(SECTIONS) - set(check["sections"])
    assert check["height"] > 5000

    from PIL import Image

    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}",
             (report_run / "report" / "report.html").as_uri())
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert img.shape == (1600, 1280, 3)
    assert img[:20].mean() < 100                 # the dark navigation bar is drawn
    assert img.std() > 20                        # text and figures, not a blank page
    print(f"screenshot: {shot}")


def test_report_numbers_equal_the_analysis_functions(report_run):
    page = parse(report_run / "report" / "report.html")
    run = load_run(report_run)
    post = run.idata.posterior[contributions.sites(run.idata.posterior)]
    metrics = channel_metrics(post, run.ds, run.scaling, run.config.model)
    ranking = rank_channels(metrics, 0.9, 0.8, 0.2)
    rows = page.tables["table-ranking"]
    assert [r["channel"] for r in rows] == list(ranking["channel"].values)
    for r in rows:
        ch = ranking.sel(channel=r["channel"])
        assert r["verdict"] == ch["verdict"].item()
        for col in ("roi_median", "roi_lo", "roi_hi", "mroi_median", "p_roi_gt_1",
                    "contribution_median", "contribution_share_median"):
            assert_shows(r[col], float(ch[col]), f"{r['channel']} {col}")
    csv = pd.read_csv(report_run / "report" / "tables" / "channels.csv").set_index("channel")
    np.testing.assert_allclose(csv.loc[list(ranking["channel"].values), "roi_median"],
                               ranking["roi_median"].values, rtol=1e-12)

    acc = fit_metrics(run.idata, run.config.model.period)
    hold = acc["holdout"]
    assert hold["periods"] == HOLDOUT and run.metrics["holdout"]["mape"] == pytest.approx(hold["mape"])
    model_row, naive_row = page.tables["table-accuracy"][1:]
    assert naive_row["forecast"] == "seasonal naive"
    for k in ("r2", "mape", "nrmse"):
        assert_shows(page.tables["table-accuracy"][0][k], acc["fit"][k], f"in-sample {k}")
        assert_shows(model_row[k], hold[k], f"holdout {k}")
        assert_shows(naive_row[k], hold[f"naive_{k}"], f"naive {k}")
    text = " ".join(page.text)
    said = re.search(r"model's MAPE is ([\d.]+%) against ([\d.]+%)", text)
    assert_shows(said.group(1), hold["mape"], "summary MAPE")
    assert_shows(said.group(2), hold["naive_mape"], "summary naive MAPE")

    diag = diagnostics_table(run.idata, contributions.sites(run.idata.posterior))
    for r in page.tables["table-convergence"]:
        assert_shows(r["r_hat_max"], diag.loc[r["variable"], "r_hat_max"], r["variable"])
        assert_shows(r["ess_bulk_min"], diag.loc[r["variable"], "ess_bulk_min"], r["variable"])

    truth = json.loads((report_run / "truth.json").read_text())
    rec = checks.recovery(metrics, truth, 0.9)
    for r, (_, want) in zip(page.tables["table-recovery"], rec.iterrows()):
        assert (r["metric"], r["channel"]) == (want["metric"], want["channel"])
        for col in ("true", "median", "lo", "hi"):
            assert_shows(r[col], want[col], f"recovery {col}")
        assert r["covered"] == str(want["covered"])

    roi_geo = summarize(metrics["roi_geo"], 0.9)
    for geo in run.ds["geo"].values:
        for r in page.tables[f"table-geo-{geo}"]:
            assert_shows(r["roi_median"], float(roi_geo["median"].sel(geo=geo, channel=r["channel"])), geo)

    parts = contributions.decomposition(thin(post, 1000), run.ds, run.scaling, run.config.model,
                                        train_mask(run.idata))
    share = summarize(contributions.window_share(parts), 0.9)
    for r in page.tables["table-decomposition"]:
        assert_shows(r["share_median"], float(share["median"].sel(component=r["component"])), r["component"])

    import xarray as xr
    with xr.open_dataset(report_run / "optimize" / "optimize.nc", engine="h5netcdf") as nc:
        gain = (nc["outcome"].sel(plan="recommended") - nc["outcome"].sel(plan="current")).values
    said = re.search(r"Expected gain over the current mix:\s*([-\d.,]+(?: [kmb]n?)?)", text)
    assert_shows(said.group(1), float(gain.mean()), "expected gain")
    said = re.search(r"beats the current mix in (\d+%)", text)
    assert_shows(said.group(1), float((gain > 0).mean()), "P(gain > 0)")


def test_contributions_add_up_on_held_out_weeks_too(report_run):
    """Held-out weeks are forecasts with the trend held flat: the decomposition must use the
    fit's training window. Tolerance as in test_analysis: 4 Monte Carlo standard errors per cell."""
    run = load_run(report_run)
    parts = contributions.decomposition(run.idata.posterior, run.ds, run.scaling,
                                        run.config.model, train_mask(run.idata))
    pp = run.idata.posterior_predictive["kpi"]
    mcse = pp.std(("chain", "draw")) / np.sqrt(pp.sizes["chain"] * pp.sizes["draw"])
    gap = abs(parts["expected"].mean(("chain", "draw")) - pp.mean(("chain", "draw"))) / mcse
    assert float(gap.isel(time=slice(-HOLDOUT, None)).max()) < 4
    assert float(gap.max()) < 4
    table = pd.read_csv(report_run / "report" / "tables" / "decomposition.csv")
    per_cell = table.groupby(["geo", "time"])["kpi"].sum().to_xarray()
    pred = pp.mean(("chain", "draw")).assign_coords(time=per_cell["time"].values)
    assert float(abs(per_cell / pred - 1).max()) < 0.02


def test_same_run_gives_the_same_report(report_run):
    write_report(ReportConfig(run=str(report_run), output="again"))
    a, b = report_run / "report", report_run / "again"
    assert (a / "report.html").read_bytes() == (b / "report.html").read_bytes()
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_report_of_a_full_data_run_shows_its_validation_fit(quick_run, report_run, tmp_path):
    """A run that kept every week shows the held-out accuracy of a validation fit of the same data
    and model; no optimizer output gives the command to run; small geos get no section."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run, ignore=shutil.ignore_patterns("report*", "optimize"))
    with pytest.raises(ConfigError, match="held no weeks out"):
        write_report(ReportConfig(run=str(run), validation_run=str(quick_run)))
    write_report(ReportConfig(run=str(run), max_geos=1, max_draws=100,
                              validation_run=str(report_run)))
    page = parse(run / "report" / "report.html")
    text = " ".join(page.text)
    assert "mmm-geo optimize run=" in text and "2 smaller geos have no section" in text
    hold = fit_metrics(load_run(report_run).idata)["holdout"]
    rows = page.tables["table-accuracy"]
    assert [r["forecast"] for r in rows] == ["model", "model", "seasonal naive"]
    assert "validation fit" in rows[1]["window"]
    assert_shows(rows[1]["mape"], hold["mape"], "validation holdout MAPE")
    assert_shows(rows[2]["mape"], hold["naive_mape"], "validation naive MAPE")
    assert (run / "report" / "figures" / "holdout.png").is_file()


def test_bad_runs_give_clear_errors(report_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report_run, broken, ignore=shutil.ignore_patterns("report*", "again", "optimize"))
    (broken / "metrics.json").unlink()
    res = _cli("report", f"run={broken}", cwd=tmp_path)
    assert res.returncode == 2 and "not a complete run" in res.stderr
    assert "Traceback" not in res.stderr
    with pytest.raises(ConfigError, match="run=<folder"):
        write_report(ReportConfig())
    real = tmp_path / "real"
    shutil.copytree(report_run, real, ignore=shutil.ignore_patterns("report*", "again", "optimize"))
    (real / "truth.json").unlink()   # as a fit of real data: no truth.json, none recorded
    metrics = json.loads((real / "metrics.json").read_text())
    del metrics["sha256"]["truth.json"]
    (real / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(RunError, match="no truth.json"):
        write_report(ReportConfig(run=str(real), recovery_run=str(real)))


def test_recovery_check_for_real_data_simulates_the_same_shape(report_run):
    from mmm_geo.report.recovery import same_shape

    run = load_run(report_run)
    cfg = same_shape(run, ReportConfig(recovery_chains=2, recovery_warmup=50, recovery_draws=40))
    sim = cfg.simulation
    assert (sim.geos, sim.weeks, sim.channels, sim.controls) == (3, 40, 2, 1)
    assert cfg.model == run.config.model and cfg.data.path is None
    assert (cfg.inference.chains, cfg.inference.warmup, cfg.inference.draws) == (2, 50, 40)
    assert cfg.validation.holdout == 0


def planner_inputs(report_run):
    """The planner's problem, draw terms and curves for the report fixture, and a function giving
    mmm_geo's own per-draw value of channel totals (C,) (``response.values`` of the joint plan)."""
    import jax.numpy as jnp

    from mmm_geo.optimize.response import values
    from mmm_geo.report import planner
    from mmm_geo.report.analyse import read_optimizer

    inp = planner.inputs(load_run(report_run), read_optimizer(report_run / "optimize")["summary"])
    w = jnp.asarray(inp.problem.weights, jnp.float32)

    def exact(totals):
        cells = jnp.asarray(inp.problem.geo_share * totals, jnp.float32)
        return np.asarray(values(cells, inp.terms, w, inp.media))

    cv = planner.curves(inp)
    # float32 rounding: a value is a gross sum over geos x weeks x channels minus the carry-in's
    # value (base); allow about 16 float32 ulps of the largest gross value (the JSON keeps 8 digits)
    tol = 2e-6 * (float(np.abs(inp.terms.base).max()) + float(np.abs(cv.values).max()))
    return inp, cv, exact, tol


def test_planner_curves_add_up_to_the_joint_plan(report_run):
    """Separable media: the sum of each channel's own curve is the value of the joint plan, and
    the current mix on the curves is the optimizer's current plan over the same draws."""
    import xarray as xr

    inp, cv, exact, tol = planner_inputs(report_run)
    assert cv.channels == ["tv", "search"] and cv.values.shape == (2, len(cv.grid[0]), 160)
    assert np.all(np.diff(cv.values, axis=1) >= -tol) and np.all(cv.values[:, 0] == 0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        k = rng.integers(0, cv.grid.shape[1], size=2)
        want = exact(cv.grid[[0, 1], k])
        np.testing.assert_allclose(cv.values[[0, 1], k].sum(0), want, rtol=0, atol=tol)
    mult = list(np.round(cv.grid[0] / cv.current[0], 12)).index(1.0)
    current = cv.values[:, mult].sum(0)
    with xr.open_dataset(report_run / "optimize" / "optimize.nc", engine="h5netcdf") as nc:
        assert np.array_equal(nc["posterior_index"].values, inp.ids)
        np.testing.assert_allclose(current, nc["outcome"].sel(plan="current").values, atol=tol)
        np.testing.assert_allclose(cv.current, nc["spend"].sel(plan="current").sum("geo"))


def page_numbers(page, names):
    return {n: float(page.get_attribute(f"#planner-{n}", "data-value")) for n in names}


def test_planner_in_headless_chromium_equals_the_response_in_python(report_run):
    """Move the sliders in real Chromium: the page's median, 50 % / 90 % intervals and P(beats
    current) equal mmm_geo's response over the same draws, with no network request.

    On grid points the page only sums the embedded curves: float32 tolerance (``planner_inputs``).
    Off the grid it interpolates linearly; as the curves rise with spend, each draw's error is at
    most the rise of each channel's curve over its grid segment, summed over channels (``bound``),
    and a quantile moves no more than the largest per-draw error. P(beats current) may differ only
    by draws whose margin over the current mix is within that error. Same draws: no Monte Carlo
    error."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: run `bash scripts/install_test_deps.sh`")
    from playwright.sync_api import sync_playwright

    inp, cv, exact, tol = planner_inputs(report_run)
    current = exact(cv.current)
    names = ["median", "p25", "p75", "p5", "p95", "p-beats", "total", "budget"]

    def expect(v, shown, err):
        q = np.quantile(v, [0.5, 0.25, 0.75, 0.05, 0.95])
        for name, want in zip(names[:5], q):
            assert abs(shown[name] - want) <= err.max() + tol, (name, shown[name], want)
        unsure = np.sum(np.abs(v - current) <= err + tol)
        assert abs(shown["p-beats"] - np.mean(v > current)) <= unsure / len(v), shown["p-beats"]

    urls = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("request", lambda r: urls.append(r.url))
        page.goto((report_run / "report" / "report.html").as_uri())
        data = json.loads(page.text_content("#planner-data"))
        assert data["draw_ids"] == inp.ids.tolist() and data["channels"] == cv.channels
        start = page_numbers(page, names)
        expect(current, start, np.zeros(len(current)))
        assert start["p-beats"] == 0 and start["budget"] == pytest.approx(inp.problem.budget)
        grid = cv.grid[[0, 1], [30, 9]]                       # on grid points: sums only
        off = cv.current * np.array([1.37, 0.52])             # between grid points
        for totals, on_grid in ((grid, True), (off, False)):
            for name, x in zip(cv.channels, totals):
                page.fill(f"#planner-slider-{name}", repr(float(x)))
            shown = page_numbers(page, names)
            assert shown["total"] == pytest.approx(totals.sum(), rel=1e-12)
            for name, x in zip(cv.channels, totals):
                spend = page_numbers(page, [f"spend-{name}"])[f"spend-{name}"]
                assert spend == pytest.approx(x, rel=1e-12)   # a slider keeps ~15 digits
            k = [np.clip(np.searchsorted(g, x, "right") - 1, 0, len(g) - 2)
                 for g, x in zip(cv.grid, totals)]
            f = [(x - g[j]) / (g[j + 1] - g[j]) for g, x, j in zip(cv.grid, totals, k)]
            lo, hi = (sum(cv.values[c, k[c] + s] for c in range(2)) for s in (0, 1))
            expect(sum((1 - f[c]) * cv.values[c, k[c]] + f[c] * cv.values[c, k[c] + 1]
                       for c in range(2)), shown, 0 * lo)     # the page's own arithmetic
            truth = exact(totals)
            expect(truth, shown, 0 * lo if on_grid else hi - lo)  # mmm_geo's response
            print(f"on grid {on_grid}: |page median - exact| = "
                  f"{abs(shown['median'] - np.median(truth)):.3g}, bound {(hi - lo).max():.3g}")
        page.click("#planner-reset")
        assert page_numbers(page, names) == start
        browser.close()
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls


def test_planner_is_not_offered_for_media_with_synergy(report_run):
    from mmm_geo.model_config import SynergyConfig
    from mmm_geo.report import planner

    run = load_run(report_run)
    model = dataclasses.replace(run.config.model, synergy=SynergyConfig(pairs=[["tv", "search"]]))
    text = planner.section(run._replace(config=dataclasses.replace(run.config, model=model)), None)
    assert "not available" in text and "tv x search" in text and "<script" not in text


def test_report_shows_the_timing_of_a_time_varying_run_of_the_same_data(quick_run, tmp_path,
                                                                        monkeypatch):
    """``timing_run=``: a run without time-varying effects shows another run's multipliers (here
    the quick run with tv's effect set to 1.5x in April weeks and 1 elsewhere), and refuses a run
    of other data."""
    import mmm_geo.run as run_module
    from mmm_geo.config import TimeVaryingConfig
    from mmm_geo.model.time_varying import SITE

    run = tmp_path / "run"
    shutil.copytree(quick_run, run, ignore=shutil.ignore_patterns("report*", "optimize"))
    base = load_run(run)
    post = base.idata.posterior
    weeks = base.ds["time"].values
    april = pd.DatetimeIndex(weeks).month == 4
    site = np.zeros((post.sizes["chain"], post.sizes["draw"], len(weeks), post.sizes["channel"]))
    site[:, :, april, list(post["channel"].values).index("tv")] = np.log(1.5)
    idata = base.idata.copy()
    idata.posterior = post.assign({SITE: (("chain", "draw", "time", "channel"), site)}).assign_coords(
        time=weeks)
    tv_cfg = dataclasses.replace(base.config, model=dataclasses.replace(
        base.config.model, time_varying=TimeVaryingConfig(channels=["tv"])))
    varying = base._replace(path=tmp_path / "tv", idata=idata, config=tv_cfg)
    other = base._replace(path=tmp_path / "other", ds=base.ds.assign(kpi=base.ds["kpi"] * 2))
    real = run_module.load_run
    monkeypatch.setattr(run_module, "load_run", lambda p: {"tv": varying, "other": other}.get(
        Path(p).name) or real(p))
    write_report(ReportConfig(run=str(run), max_draws=100, timing_run=str(tmp_path / "tv")))
    page = parse(run / "report" / "report.html")
    text = " ".join(page.text)
    assert "tv works best in April (its effect 1.50x its average)" in text
    with pytest.raises(ConfigError, match="timing_run=.*other is not the same data"):
        write_report(ReportConfig(run=str(run), max_draws=100, timing_run=str(tmp_path / "other")))
    with pytest.raises(ConfigError, match="has no time-varying effects"):
        write_report(ReportConfig(run=str(run), max_draws=100, timing_run=str(quick_run)))
