"""``mmm-geo fit prior_only=true``: the prior predictive check on the tiny panel. One row per
channel with ordered quantiles, the KPI range against the observed, the same tables for the same
seed, a self-contained page that renders, and clear errors (exit 2, no traceback)."""

from __future__ import annotations

import dataclasses
import re

import jax
import numpy as np
import pandas as pd
import pytest

from mmm_geo.analysis.prior import channel_quantiles, kpi_range
from mmm_geo.analysis.roi import channel_metrics
from mmm_geo.inference.trace import prior_trace, site_dims
from mmm_geo.prior_check import KPI, PAGE, TABLE, prior_check
from mmm_geo.run import setup, window_data
from tests.conftest import quick_fit_config
from tests.test_report import _cli, parse, render_check

CHANNELS = ["tv", "search"]
QUANTILE_COLS = ["p5", "p25", "median", "p75", "p95"]    # in increasing order


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The CLI's prior check of the tiny experiment."""
    out = tmp_path_factory.mktemp("prior") / "check"
    res = _cli("fit", "experiment=tiny", "prior_only=true", f"output_dir={out}", cwd=out.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res.stdout


def test_prior_check_writes_a_table_per_channel_with_ordered_quantiles(checked):
    out, stdout = checked
    assert "Prior predictive check (150 draws from the prior" in stdout
    assert f"prior check saved to {out}" in stdout and "no model was fitted" in stdout
    assert not (out / "metrics.json").exists() and not (out / "trace.nc").exists()
    table = pd.read_csv(out / TABLE)
    assert list(table["channel"]) == CHANNELS
    for prefix in ("roi", "mroi", "share"):
        q = table[[f"{prefix}_{k}" for k in QUANTILE_COLS]].to_numpy()
        assert np.isfinite(q).all() and (q > 0).all(), prefix
        assert (np.diff(q, axis=1) >= 0).all(), f"{prefix} quantiles not ordered"
        assert (np.diff(q, axis=1).sum(axis=1) > 0).all(), f"{prefix}: a prior with no spread"
    assert table["roi_p_gt_1"].between(0, 1).all()
    assert (table["share_p95"] < 1).all()
    for ch in CHANNELS:                                   # the printed table is the CSV's
        row = table.set_index("channel").loc[ch]
        assert re.search(rf"{ch}\s+{row['roi_median']:,.3f}\s+{row['roi_p5']:,.3f}", stdout)


def test_prior_check_compares_the_prior_predictive_kpi_with_the_observed(checked, tiny_dataset):
    out, stdout = checked
    kpi = pd.read_csv(out / KPI).set_index("level")
    assert list(kpi.index) == ["geo-week", "national week"]
    obs = tiny_dataset["kpi"]
    for level, values in (("geo-week", obs), ("national week", obs.sum("geo"))):
        row = kpi.loc[level]
        assert row["observed_min"] == pytest.approx(float(values.min()))
        assert row["observed_max"] == pytest.approx(float(values.max()))
        assert (np.diff(row[QUANTILE_COLS].to_numpy(float)) >= 0).all()
        assert 0 <= row["observed_in_50"] <= row["observed_in_90"] <= 1
    # the default priors are weakly informative: the data lie inside the prior predictive band
    assert kpi.loc["national week", "observed_in_90"] >= 0.9
    assert "KPI: prior predictive range against the observed" in stdout


def test_prior_check_uses_the_fit_s_functions_and_is_deterministic(checked, tmp_path):
    """In-process with the same config: the same table as the CLI's, the same again, and the
    numbers are channel_metrics of prior_trace; another seed gives other draws."""
    out, _ = checked
    cfg = quick_fit_config()
    first, again = prior_check(cfg), prior_check(cfg)
    pd.testing.assert_frame_equal(first.channels, again.channels)
    pd.testing.assert_frame_equal(first.kpi, again.kpi)
    assert first.figures == again.figures
    cli = pd.read_csv(out / TABLE)
    pd.testing.assert_frame_equal(first.channels, cli, check_exact=False, rtol=1e-9)

    ready = setup(cfg)
    scaling, data = window_data(ready.cfg, ready.ds, ready.lengths[-1])
    idata = prior_trace(data, ready.ds, scaling, ready.cfg.model, jax.random.key(cfg.seed),
                        cfg.inference.draws)
    assert dict(idata.posterior.sizes)["chain"] == 1
    assert idata.posterior.sizes["draw"] == cfg.inference.draws
    site = site_dims(data, ready.cfg.model)              # laid out as a fitted trace
    for name, var in idata.posterior.data_vars.items():
        assert var.dims == ("chain", "draw", *site[name]), name
    assert list(idata.posterior["channel"].values) == CHANNELS
    assert idata.posterior_predictive["kpi"].dims == ("chain", "draw", "geo", "time")
    metrics = channel_metrics(idata.posterior, ready.ds, scaling, ready.cfg.model)
    pd.testing.assert_frame_equal(channel_quantiles(metrics), first.channels)
    pd.testing.assert_frame_equal(kpi_range(idata), first.kpi)

    other = prior_check(dataclasses.replace(cfg, seed=1))
    assert not np.allclose(other.channels["roi_median"], first.channels["roi_median"])


def test_prior_check_page_is_self_contained_and_renders(checked, tmp_path):
    out, _ = checked
    page = out / PAGE
    html = page.read_text(encoding="utf-8")
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert figures == ["prior_intervals", "prior_kpi"]
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html), "external reference"
    assert "<script" not in html
    tables = parse(page).tables
    table = pd.read_csv(out / TABLE)
    assert [r["channel"] for r in tables["table-prior-roi"]] == CHANNELS
    for r, (_, want) in zip(tables["table-prior-roi"], table.iterrows()):
        assert r["roi_median"] == f"{want['roi_median']:,.2f}"
        assert r["roi_p95"] == f"{want['roi_p95']:,.2f}"
    assert [r["level"] for r in tables["table-prior-kpi"]] == ["geo-week", "national week"]
    check = render_check(page, tmp_path)
    assert check["broken"] == [] and check["images"] == 2
    assert {"reading", "channels", "kpi", "about"} <= set(check["sections"])


def test_prior_check_bad_input_is_a_clear_error(tmp_path):
    res = _cli("fit", "prior_only=true", "data.path=missing.csv", f"output_dir={tmp_path / 'x'}",
               cwd=tmp_path)
    assert res.returncode == 2 and "missing.csv" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    res = _cli("fit", "--multirun", "experiment=tiny", "prior_only=true", "seed=0,1", cwd=tmp_path)
    assert res.returncode == 2 and "prior_only=true is for single runs" in res.stderr
    assert "Traceback" not in res.stderr

