"""One chain: R-hat (a between-chain statistic) is not available. The fit says so, does not count
it as a convergence problem (ESS, divergences and E-BFMI are still checked), saves the run, and
``mmm-geo report`` and ``mmm-geo compare`` work on it."""

from __future__ import annotations

import json
import shutil

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest

from mmm_geo.config import InferenceConfig
from mmm_geo.errors import ConfigError
from mmm_geo.experiments import compare_report
from mmm_geo.inference import diagnostics
from mmm_geo.inference.mcmc import chain_method
from mmm_geo.run import load_run
from tests.test_report import _cli, parse, render_check

NO_RHAT = "R-hat not available with 1 chain"


def _idata(chains: int, draws: int = 300, divergent: int = 0) -> az.InferenceData:
    """Independent normal draws of a scalar and a 3-vector, with NUTS-like sample stats."""
    rng = np.random.default_rng(0)
    diverging = np.zeros((chains, draws), bool)
    diverging.flat[:divergent] = True
    return az.from_dict(
        posterior={"a": rng.normal(size=(chains, draws)), "b": rng.normal(size=(chains, draws, 3))},
        sample_stats={"diverging": diverging, "n_steps": np.full((chains, draws), 7),
                      "energy": rng.normal(size=(chains, draws))})


def test_one_chain_has_no_rhat_but_ess_and_the_rest():
    conv = diagnostics.convergence(_idata(1))
    assert conv["rhat_available"] is False and conv["max_rhat"] is None
    assert conv["worst_rhat"] is None and conv["chains"] == 1
    assert np.isfinite(conv["min_ess_bulk"]) and conv["min_ess_bulk"] > 100
    assert np.isfinite(conv["min_ess_tail"]) and np.isfinite(conv["bfmi_min"])
    assert '"max_rhat": null' in json.dumps(conv)           # metrics.json says null, not NaN
    table = diagnostics.diagnostics_table(_idata(1))
    assert table["r_hat_max"].isna().all() and table["ess_bulk_min"].notna().all()
    assert diagnostics.rhat_text(conv) == NO_RHAT

    two = diagnostics.convergence(_idata(2))
    assert two["rhat_available"] is True and 0.9 < two["max_rhat"] < 1.1
    assert diagnostics.rhat_text(two) == f"max R-hat {two['max_rhat']:.3f}"


def test_one_chain_problems_skip_rhat_only(capsys):
    cfg = InferenceConfig(ess_min=50)
    conv = diagnostics.convergence(_idata(1))
    assert diagnostics.problems(conv, cfg) == []
    issues = diagnostics.problems(diagnostics.convergence(_idata(1, draws=40, divergent=3)),
                                  InferenceConfig(ess_min=1000))
    assert len(issues) == 2 and "bulk ESS" in issues[0] and "3 divergent" in issues[1]
    assert not any("R-hat" in i for i in issues)
    diagnostics.report(diagnostics.diagnostics_table(_idata(1)), conv, [])
    printed = capsys.readouterr().out
    assert NO_RHAT in printed and "n/a" in printed


@pytest.mark.parametrize("method", ["auto", "parallel", "vectorized", "sequential"])
def test_one_chain_runs_as_a_single_chain_whatever_the_method(method):
    assert chain_method(InferenceConfig(chains=1, chain_method=method)) == "sequential"


def test_chain_method_resolution():
    devices = jax.local_device_count()
    with pytest.raises(ConfigError, match="chain_method"):
        chain_method(InferenceConfig(chains=1, chain_method="pmap"))
    many = InferenceConfig(chains=devices + 1, chain_method="parallel")
    assert chain_method(many) == "sequential"             # NumPyro's fallback, reported as such
    assert chain_method(InferenceConfig(chains=devices + 1)) == "vectorized"
    if devices >= 2:
        assert chain_method(InferenceConfig(chains=2)) == "parallel"


@pytest.fixture(scope="module")
def one_chain_run(tmp_path_factory):
    """A one-chain fit of the tiny panel through the CLI (short: not for conclusions)."""
    out = tmp_path_factory.mktemp("one_chain") / "run"
    res = _cli("fit", "experiment=tiny", "inference.chains=1", "inference.chain_method=parallel",
               "inference.warmup=100", "inference.draws=100", f"output_dir={out}", cwd=out.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res.stdout


@pytest.mark.slow
def test_one_chain_fit_saves_with_the_right_metrics(one_chain_run):
    out, stdout = one_chain_run
    assert NO_RHAT in stdout and f"run saved to {out}" in stdout and "(1 chain)" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    conv = metrics["convergence"]
    assert conv["rhat_available"] is False and conv["max_rhat"] is None and conv["chains"] == 1
    assert metrics["time"]["chain_method"] == "sequential"
    assert not any("R-hat" in p for p in metrics["problems"])
    assert metrics["converged"] == (not metrics["problems"])
    assert (conv["min_ess_bulk"] < 50) == any("bulk ESS" in p for p in metrics["problems"])
    assert pd.read_csv(out / "diagnostics.csv")["r_hat_max"].isna().all()
    run = load_run(out)
    assert run.idata.posterior.sizes["chain"] == 1 and run.idata.posterior.sizes["draw"] == 100


@pytest.mark.slow
def test_one_chain_run_reports_and_compares(one_chain_run, tmp_path):
    out, _ = one_chain_run
    res = _cli("report", f"run={out}", cwd=out.parent)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    page = out / "report" / "report.html"
    text = " ".join(parse(page).text)
    assert f"{NO_RHAT}, min bulk ESS" in text and "judged on ESS, divergences and E-BFMI" in text
    assert all(r["r_hat_max"] == "–" for r in parse(page).tables["table-convergence"])
    check = render_check(page, tmp_path)
    assert check["broken"] == [] and check["images"] > 5 and "convergence" in check["sections"]

    exp = tmp_path / "exp"                   # the one-chain run next to a (relabelled) 2-chain one
    shutil.copytree(out, exp / "one", ignore=shutil.ignore_patterns("report"))
    shutil.copytree(out, exp / "two", ignore=shutil.ignore_patterns("report"))
    path = exp / "two" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["convergence"].update(max_rhat=1.004, rhat_available=True, chains=2)
    path.write_text(json.dumps(metrics))
    table = compare_report.main([str(exp), "--out", str(tmp_path / "cmp")]).set_index("run")
    assert np.isnan(table.loc["one", "max_rhat"]) and table.loc["two", "max_rhat"] == 1.004
    assert table["rank"].notna().all()
    csv = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("run")
    assert np.isnan(csv.loc["one", "max_rhat"])


def test_diagnostics_of_a_variable_with_nan_elements_are_quiet(capfd):
    """An organic channel has no ROI (NaN draws): its elements are left out of the worst R-hat and
    ESS without NumPy's all-NaN warnings or ArviZ's NaN log line reaching the user."""
    import warnings

    import arviz as az
    import numpy as np

    from mmm_geo.inference.diagnostics import diagnostics_table

    rng = np.random.default_rng(0)
    roi = rng.normal(1.0, 0.1, (2, 200, 3))
    roi[..., 2] = np.nan
    idata = az.from_dict(posterior={"roi": roi, "a": rng.normal(size=(2, 200))})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = diagnostics_table(idata)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert "NaN" not in capfd.readouterr().err
    assert np.isfinite(table.loc["roi", "r_hat_max"]) and table.loc["roi", "r_hat_max"] < 1.05
