"""The client studies (issue 13): every study's experiment composes into a valid FitConfig and its
data config reads its file with the project's loader (study 5's excluded weeks included); study 1 (JellyPop) runs end to end through
its one command on short chains, and its report renders in headless Chromium and names every
channel. Tests that need a dataset skip when it is absent from ../shared/data."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from mmm_geo.config import FitConfig, register_configs, to_config
from mmm_geo.data.load import load_dataset
from tests.test_report import render_check

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# study name -> (experiment, script, channels the data config must name, geos, has spend)
ECOMMERCE = ["google", "facebook", "affiliates", "youtube_paid", "youtube_organic", "email"]
STUDIES = {
    "jellypop": ("jellypop", "scripts/study_jellypop.sh",
                 ["search_non_branded", "search_branded", "twitter_prospecting",
                  "facebook_prospecting", "linear_tv", "facebook_retargeting"], 1, True),
    "pymc_mmm_example": ("pymc_mmm_example", "scripts/study_pymc_mmm_example.sh", ["x1", "x2"], 1, True),
    "assessment2": ("assessment2", "scripts/study_assessment2.sh",
                    ["facebook", "google", "tiktok", "instagram", "snapchat", "email", "sms"], 1, True),
    "ecommerce_geo": ("ecommerce_geo", "scripts/study_ecommerce_geo.sh", ECOMMERCE, 25, True),
    "ecommerce_geo_impressions": ("ecommerce_geo_impressions", "scripts/study_ecommerce_geo.sh",
                                  ECOMMERCE, 25, False),
}
FOLDER = {"ecommerce_geo_impressions": "ecommerce_geo"}    # a variant inside another study's folder

def compose(experiment: str, *overrides: str) -> FitConfig:
    from hydra import compose as hydra_compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return to_config(hydra_compose("fit", overrides=[f"experiment={experiment}", *overrides]))


def data_file(cfg: FitConfig) -> Path:
    return (ROOT / cfg.data.path).resolve()


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_study_config_composes_and_reads_its_data(study):
    experiment, script, channels, n_geo, paid = STUDIES[study]
    cfg = compose(experiment)
    assert cfg.name == study
    assert (cfg.data.geo is None) == (n_geo == 1)    # national data has no geo column
    assert list(cfg.data.channels) == channels
    folder = FOLDER.get(study, study)
    assert (ROOT / script).is_file() and (ROOT / "experiments" / folder / "README.md").is_file()
    if not data_file(cfg).is_file():
        pytest.skip(f"{data_file(cfg)} is absent")
    cwd = os.getcwd()
    os.chdir(ROOT)                                   # data.path is relative to the repository
    try:
        ds = load_dataset(cfg.data)
    finally:
        os.chdir(cwd)
    assert [str(c) for c in ds["channel"].values] == channels
    assert ds.sizes["geo"] == n_geo and (float(ds["spend"].sum()) > 0) == paid


def test_simulated_synergy_study_composes_the_same_panel_for_fit_and_simulate():
    """Study 3 (a simulated portfolio): the fit's experiment and ``mmm-geo simulate
    +simulation=synergy_portfolio`` compose the same panel, with six named channels, the TV x
    online-video synergy the model is asked about and unrecorded shocks in its truth."""
    from hydra import compose as hydra_compose, initialize_config_dir

    from mmm_geo.config import SimulateConfig
    from mmm_geo.data.simulate import simulate

    cfg = compose("synergy_portfolio")
    assert cfg.name == "synergy_portfolio" and cfg.data.path is None
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        sim = to_config(hydra_compose("simulate", overrides=["+simulation=synergy_portfolio"]),
                        SimulateConfig).simulation
    assert sim == cfg.simulation
    assert list(sim.names) == ["tv", "search", "social", "display", "online_video",
                               "ecommerce_display"]
    assert [list(p) for p in cfg.model.synergy.pairs] == [["tv", "online_video"]]
    assert (ROOT / "scripts/study_synergy_portfolio.sh").is_file()
    assert (ROOT / "experiments/synergy_portfolio/README.md").is_file()
    frame, truth = simulate(sim)
    assert {f"{c}_spend" for c in sim.names} <= set(frame.columns)
    assert truth["synergy"]["tv:online_video"]["contribution"] > 0
    assert len(truth["shocks"]) == sim.shocks == 4


@pytest.mark.study
@pytest.mark.slow
def test_jellypop_study_runs_end_to_end_and_its_report_names_every_channel(tmp_path, env):
    experiment, script, channels, _, _ = STUDIES["jellypop"]
    if not data_file(compose(experiment)).is_file():
        pytest.skip("../shared/data/jellypop/marketing_data.csv is absent")
    out = tmp_path / "jellypop"
    env = {**env, "OUT": str(out), "RIDGE_BOOT": "20"}   # the session's shared JAX cache
    proc = subprocess.run(["bash", script, "inference.warmup=150", "inference.draws=150",
                           "inference.chains=2", "inference.progress_bar=false"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    page = out / "fit" / "report" / "report.html"
    html = page.read_text(encoding="utf-8")
    for name in channels:
        assert name in html, name
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"\$1(\.00)? m over the next 13 weeks \(2024-03-04 to 2024-05-27\)", text), \
        "the budget is not phrased in money and dates"
    check = render_check(page, tmp_path)
    assert check["broken"] == [] and check["images"] > 5
    assert {"summary", "summary-budget", "accuracy", "budget", "channels"} <= set(check["sections"])
    for name in ("baseline_ridge.json", "holdout_metrics.json", "holdout_forecast.json", "report.html"):
        assert (out / "results" / name).is_file(), name
