"""Data checks beyond validation (``mmm_geo.data.checks``): negative KPI, outlier weeks, collinear
channels, excluded periods (masked like held-out ones), and a Parquet file read as a CSV is.

The panel is the tiny simulated one of ``conftest`` (3 geos x 40 weeks, sorted by geo then week:
data row ``r`` is geo ``(r - 1) // 40``, week ``(r - 1) % 40``).
"""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pandas as pd
import pytest
import xarray as xr

from mmm_geo.analysis.accuracy import fit_metrics, fit_window, holdout_mask
from mmm_geo.config import ChannelColumns, DataConfig, ModelConfig, to_config
from mmm_geo.data import checks
from mmm_geo.data.load import load_dataset, to_dataset
from mmm_geo.data.scaling import excluded, fit_scaling, model_data
from mmm_geo.data.simulate import data_config
from mmm_geo.errors import ConfigError, DataError
from mmm_geo.model.hierarchical import model, time_bases

from conftest import TINY_SIM, shared_file
from test_validation import rows_named

CFG = data_config(TINY_SIM)
N_WEEKS = TINY_SIM.weeks


def week(frame: pd.DataFrame, t: int) -> str:
    return str(pd.Timestamp(frame["week"].iloc[t]).date())


# --- negative KPI -------------------------------------------------------------------------------

def test_negative_kpi_is_an_error_naming_rows_and_fix(tiny_frame):
    df = tiny_frame[0].copy()
    df.loc[[5, 47], "revenue"] = [-1_000_000.0, -3.0]
    with pytest.raises(DataError) as err:
        to_dataset(df, CFG, "panel.csv")
    msg = str(err.value)
    assert "panel.csv" in msg and "'revenue'" in msg and "negative KPI" in msg
    assert rows_named(msg) == {6, 48}
    assert "data.allow_negative_kpi=true" in msg and "data.exclude" in msg


def test_negative_kpi_allowed_when_the_user_says_so(tiny_frame):
    df = tiny_frame[0].copy()
    df.loc[5, "revenue"] = -1000.0
    ds = to_dataset(df, replace(CFG, allow_negative_kpi=True), "panel.csv")
    assert float(ds["kpi"].values.min()) == -1000.0
    checks.check_negative_allowed(True, "normal")
    checks.check_negative_allowed(True, "student_t")
    checks.check_negative_allowed(False, "lognormal")
    for likelihood in ("lognormal", "poisson", "negbinomial"):
        with pytest.raises(ConfigError, match="(?s)allow_negative_kpi.*normal or student_t"):
            checks.check_negative_allowed(True, likelihood)


def test_negative_kpi_in_an_excluded_week_is_not_an_error(tiny_frame):
    df = tiny_frame[0].copy()
    df.loc[5, "revenue"] = -1000.0
    ds = to_dataset(df, replace(CFG, exclude=[week(df, 5)]), "panel.csv")
    assert excluded(ds)[5] and excluded(ds).sum() == 1


# --- outlier weeks ------------------------------------------------------------------------------

def test_clean_panel_has_no_data_warnings(tiny_dataset):
    assert tiny_dataset.attrs["data_warnings"] == []


def test_outlier_week_is_a_warning_with_rows_typical_value_and_exclusion(tiny_frame, capsys):
    df = tiny_frame[0].copy()
    row = N_WEEKS + 12                                   # geo 1, week 12
    typical = float(df.loc[N_WEEKS:2 * N_WEEKS - 1, "revenue"].median())
    df.loc[row, "revenue"] = typical / 200
    ds = to_dataset(df, CFG, "panel.csv")
    [msg] = ds.attrs["data_warnings"]
    day = week(df, 12)
    assert "'revenue'" in msg and "1 outlier week" in msg and f"geo_01 {day}" in msg
    assert f"{typical / 200:,.6g}" in msg and f"typical {typical:,.6g}" in msg
    assert f"data.exclude=[{day}]" in msg
    assert f"mmm-geo: warning: {msg}" in capsys.readouterr().err
    excluded_too = to_dataset(df, replace(CFG, exclude=[day]), "panel.csv")
    assert excluded_too.attrs["data_warnings"] == []     # the suggested line silences it


def test_robust_z_is_median_and_mad():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])           # median 3, MAD 1
    np.testing.assert_allclose(checks.robust_z(x), 0.6745 * (x - 3.0))
    assert not checks.robust_z(np.ones(5)).any()


def test_assessment_file_flags_its_revenue_of_one_weeks():
    """National data, read as a data config would (geo: null). Its revenue is bimodal (median
    972); the weeks recorded as exactly 1 are the ones a robust z flags."""
    path = shared_file("assessment2_mmm_weekly", "Assessment 2 - MMM Weekly.csv")
    cfg = to_config({"path": str(path), "time": "week", "geo": None, "kpi": "revenue",
                     "channels": {c: {"spend": f"{c}_spend"} for c in ("facebook", "google", "tiktok")}},
                    DataConfig)
    ds = load_dataset(cfg)
    raw = pd.read_csv(path)
    ones = sorted(str(d) for d in raw.loc[raw["revenue"] <= 1, "week"])
    [msg] = [m for m in ds.attrs["data_warnings"] if "outlier" in m]
    assert f"{len(ones)} outlier week(s)" in msg
    assert f"data.exclude=[{','.join(ones)}]" in msg
    assert "national 2023-11-05: 1 (typical" in msg


# --- collinear channels -------------------------------------------------------------------------

def test_collinear_channels_are_a_warning_naming_the_pair(tiny_frame):
    df = tiny_frame[0].copy()
    rng = np.random.default_rng(0)
    df["search_impressions"] = df["tv_impressions"] * 0.5 * (1 + 0.01 * rng.standard_normal(len(df)))
    ds = to_dataset(df, CFG, "panel.csv")
    [msg] = ds.attrs["data_warnings"]
    assert "'tv' and 'search' are collinear" in msg
    r = float(msg.split("correlation ")[1].split(" ")[0])
    assert r > 0.95
    assert "only through the priors" in msg and "negatively correlated" in msg and "lift test" in msg


def test_geo_size_alone_does_not_make_channels_collinear():
    """Two independent channels in geos of very different size: raw pooled values correlate
    (big geos spend more on both), the within-geo series do not."""
    rng = np.random.default_rng(1)
    size = np.array([1.0, 10.0, 100.0])[:, None, None]
    exposure = size * rng.uniform(0.9, 1.1, (3, 50, 2))
    assert np.corrcoef(exposure[..., 0].ravel(), exposure[..., 1].ravel())[0, 1] > 0.95
    assert checks.collinear_channels(exposure, ["a", "b"], np.zeros(50, bool), "x") == []


# --- excluded periods ---------------------------------------------------------------------------

def test_exclusion_must_name_a_period_of_the_data(tiny_frame):
    df = tiny_frame[0]
    with pytest.raises(DataError, match=r"2023-01-04 is not a period.*nearest are 2023-01-02, 2023-01-09"):
        to_dataset(df, replace(CFG, exclude=["2023-01-04"]), "panel.csv")
    with pytest.raises(DataError, match="(?s)'last week' is not a date.*fix: give ISO dates"):
        to_dataset(df, replace(CFG, exclude=["last week"]), "panel.csv")


def test_exclusion_from_the_command_line_syntax():
    from hydra import compose, initialize_config_dir
    from mmm_geo.cli import CONF_DIR
    from mmm_geo.config import FitConfig, register_configs

    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        raw = compose("fit", overrides=["data.exclude=[2023-09-24,2023-10-01]",
                                        "data.allow_negative_kpi=true"])
    cfg = to_config(raw, FitConfig)
    assert cfg.data.exclude == ["2023-09-24", "2023-10-01"] and cfg.data.allow_negative_kpi


def _ds(frame: pd.DataFrame, exclude=()) -> xr.Dataset:
    return to_dataset(frame, replace(CFG, exclude=list(exclude)), "panel.csv")


def test_excluded_periods_leave_scaling_weights_and_shares_alone(tiny_frame):
    df, t = tiny_frame[0], 17
    bad = df.copy()
    bad.loc[df["week"] == df["week"].iloc[t], ["revenue", "tv_spend", "tv_impressions"]] *= 1000.0
    day = [week(df, t)]
    s_bad, s_good = fit_scaling(_ds(bad, day)), fit_scaling(_ds(df, day))
    assert s_bad == s_good
    assert fit_scaling(_ds(bad)) != s_good               # the check can fail
    d_bad, d_good = model_data(_ds(bad, day), s_bad), model_data(_ds(df, day), s_good)
    assert not d_bad.train[t] and d_bad.train.sum() == N_WEEKS - 1
    np.testing.assert_array_equal(d_bad.revenue_weight, d_good.revenue_weight)
    np.testing.assert_array_equal(d_bad.spend_share, d_good.spend_share)
    assert (d_bad.revenue_weight[:, t] == 0).all()


def test_exclusion_and_holdout_together(tiny_dataset):
    ds = tiny_dataset.assign(excluded=("time", np.isin(np.arange(N_WEEKS), [3, 35])))
    data = model_data(ds, fit_scaling(ds.isel(time=slice(0, 30))), n_train=30)
    assert np.flatnonzero(~data.train).tolist() == [3, *range(30, N_WEEKS)]
    plain = model_data(tiny_dataset, fit_scaling(tiny_dataset), n_train=30)
    np.testing.assert_array_equal(plain.train, np.arange(N_WEEKS) < 30)   # holdout as before


def test_lift_test_in_an_excluded_week_is_left_out(tiny_dataset):
    from mmm_geo.data.lift import with_lift_tests

    day = str(pd.Timestamp(tiny_dataset["time"].values[20]).date())
    tests = pd.DataFrame({"channel": ["tv", "tv"], "geo": ["geo_00", "geo_01"],
                          "start": ["2023-02-06", day], "end": ["2023-02-27", day],
                          "lift": [1000.0, 2000.0], "lift_se": [100.0, 200.0]})
    ds = with_lift_tests(tiny_dataset, tests, "lift.csv")
    s = fit_scaling(ds)
    assert model_data(ds, s).lift.y.shape == (2,)
    kept = model_data(ds.assign(excluded=("time", np.arange(N_WEEKS) == 20)), s).lift
    assert kept.y.shape == (1,)
    np.testing.assert_allclose(kept.y, model_data(ds, s).lift.y[:1])


def _log_density(ds: xr.Dataset, cfg: ModelConfig, params: dict) -> float:
    """The log density of ``model`` at ``params`` given the KPI of ``ds``."""
    data = jax.tree.map(jnp.asarray, model_data(ds, fit_scaling(ds), np.float32,
                                                 time_bases(ds.sizes["time"], cfg)))
    return float(numpyro.infer.util.log_density(model, (data, cfg), {"y": data.y}, params)[0])


def test_excluded_week_does_not_enter_the_log_density(tiny_frame):
    """The KPI of an excluded week, wildly corrupted or not, gives the same log density at the
    same parameters (the masked term is dropped, not filled in); without the exclusion it does not."""
    df, t = tiny_frame[0], 23
    corrupt = df.copy()
    corrupt.loc[df["week"] == df["week"].iloc[t], "revenue"] *= 1e4
    cfg = ModelConfig(channel_names=["tv", "search"])
    data = jax.tree.map(jnp.asarray, model_data(_ds(df), fit_scaling(_ds(df)), np.float32,
                                                 time_bases(N_WEEKS, cfg)))
    prior = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(data, cfg)
    params = {k: site["value"] for k, site in prior.items()
              if site["type"] == "sample" and not site["is_observed"] and k not in ("y", "lift")}
    day = [week(df, t)]
    normal = _log_density(_ds(df, day), cfg, params)
    assert np.isfinite(normal)
    assert _log_density(_ds(corrupt, day), cfg, params) == normal
    assert _log_density(_ds(corrupt), cfg, params) < _log_density(_ds(df), cfg, params) - 1e3


def _trace(train: np.ndarray, excl: np.ndarray, obs: np.ndarray, pred: np.ndarray) -> az.InferenceData:
    const = {"train": train} | ({"excluded": excl} if excl.any() else {})
    return az.from_dict(posterior={"a": np.zeros((1, 2))}, observed_data={"kpi": obs},
                        posterior_predictive={"kpi": np.broadcast_to(pred, (1, 2) + pred.shape)},
                        constant_data=const, dims={"kpi": ["geo", "time"], "train": ["time"],
                                                   "excluded": ["time"]})


def test_fit_metrics_leave_excluded_periods_out_of_fit_and_holdout():
    rng = np.random.default_rng(2)
    obs = rng.uniform(50, 150, (2, 60))
    pred = obs * (1 + 0.05 * rng.standard_normal(obs.shape))
    bad = obs.copy()
    bad[:, [10, 55]] = 1e9                               # excluded: one in the fit, one held out
    excl = np.isin(np.arange(60), [10, 55])
    train = (np.arange(60) < 50) & ~excl
    with_excl = fit_metrics(_trace(train, excl, bad, pred))
    keep = ~excl
    without = fit_metrics(_trace(train[keep], np.zeros(58, bool), obs[:, keep], pred[:, keep]))
    assert with_excl["fit"] == without["fit"]
    assert with_excl["holdout"]["periods"] == 9
    for k in ("r2", "mape", "nrmse"):
        assert with_excl["holdout"][k] == pytest.approx(without["holdout"][k])
    idata = _trace(train, excl, bad, pred)
    assert fit_window(idata) == 50 and holdout_mask(idata).sum() == 9
    assert fit_window(_trace(np.arange(60) < 60, np.zeros(60, bool), obs, pred)) == 60


def test_a_holdout_that_is_all_excluded_is_refused():
    excl = np.zeros(40, bool)
    excl[36:] = True
    with pytest.raises(ConfigError, match="covers all 4 test periods"):
        checks.check_test_windows(excl, [36], 4)
    checks.check_test_windows(excl, [32], 4)
    checks.check_test_windows(excl, [40], 0)


# --- Parquet ------------------------------------------------------------------------------------

def test_a_parquet_file_loads_as_its_csv(tiny_frame, tmp_path):
    df = tiny_frame[0]
    df.to_parquet(tmp_path / "panel.parquet")
    df.to_csv(tmp_path / "panel.csv", index=False)
    cfg = replace(CFG, path=str(tmp_path / "panel.parquet"),
                  channels={k: ChannelColumns(**vars(v)) for k, v in CFG.channels.items()})
    pq = load_dataset(cfg)
    csv = load_dataset(replace(cfg, path=str(tmp_path / "panel.csv")))
    xr.testing.assert_allclose(pq, csv)
    assert pq.sizes == {"geo": 3, "time": N_WEEKS, "channel": 2, "control": 1}


def test_values_too_large_for_the_model_are_an_error(tiny_frame):
    df = tiny_frame[0].copy()
    df.loc[7, "tv_spend"] = 2e16                         # finite, but sums overflow float32
    with pytest.raises(DataError) as err:
        to_dataset(df, CFG, "panel.csv")
    msg = str(err.value)
    assert "'tv_spend'" in msg and "beyond 1e+15" in msg and rows_named(msg) == {8}
    assert "larger units" in msg
    df.loc[7, "tv_spend"] = 9e14
    to_dataset(df, CFG, "panel.csv")


@pytest.mark.slow
def test_fit_with_an_excluded_week_and_a_holdout(tmp_path):
    """A tiny fit end to end: the excluded week is in the trace's data but not in its
    log-likelihood (so not in LOO), nor in the fit or holdout metrics; the run loads back."""
    from mmm_geo.config import ValidationConfig
    from mmm_geo.run import fit, load_run

    from conftest import quick_fit_config

    base = quick_fit_config()
    base = replace(base, inference=replace(base.inference, warmup=60, draws=60))
    times = pd.date_range(TINY_SIM.start, periods=N_WEEKS, freq="7D")
    cfg = replace(base, data=DataConfig(exclude=[str(times[9].date()), str(times[37].date())]),
                  validation=ValidationConfig(holdout=4))
    metrics = fit(cfg, tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert excluded(run.ds).tolist() == [t in (9, 37) for t in range(N_WEEKS)]
    loo_times = run.idata.log_likelihood["kpi"]["time"].values
    assert len(loo_times) == N_WEEKS - 4 - 1 and times[9] not in loo_times
    assert metrics["holdout"]["periods"] == 3 and metrics["data_warnings"] == []
    assert fit_window(run.idata) == N_WEEKS - 4


def test_data_warnings_reach_the_cli_user(tiny_frame, tmp_path):
    """An outlier week in a file whose fit then stops (adstock window too long; no MCMC): the
    warning is on stderr before the error."""
    import json
    from dataclasses import asdict

    from test_validation import run_fit

    df = tiny_frame[0].copy()
    df.loc[N_WEEKS + 12, "revenue"] /= 500
    df.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "panel.yaml").write_text(
        json.dumps(asdict(replace(CFG, path="panel.csv"))))
    proc = run_fit(tmp_path, "--config-dir", str(tmp_path / "conf"), "data=panel",
                   "model.adstock.max_lag=30")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    warning = proc.stderr.index("mmm-geo: warning: panel.csv, column 'revenue': 1 outlier week")
    assert f"geo_01 {week(df, 12)}" in proc.stderr
    assert warning < proc.stderr.index("mmm-geo: error: ")


def test_a_panel_without_controls_scales_and_builds_model_data():
    """Zero controls (study 5 has none): the scaling and the model's arrays, no reshape error."""
    from mmm_geo.config import SimulationConfig
    from mmm_geo.data.load import to_dataset
    from mmm_geo.data.scaling import fit_scaling, model_data
    from mmm_geo.data.simulate import data_config, simulate

    sim = SimulationConfig(geos=2, weeks=30, channels=2, controls=0)
    frame, _ = simulate(sim)
    ds = to_dataset(frame, data_config(sim), "sim")
    scaling = fit_scaling(ds)
    assert scaling.control_mean == () and scaling.control_std == ()
    assert model_data(ds, scaling).controls.shape == (2, 30, 0)
