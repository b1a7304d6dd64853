"""Recovery of known truth by full NUTS fits (slow): the simulator and PyMC-Marketing's example.

Criteria (from the project's acceptance tests): every channel's true ROI lies inside its 90 %
posterior interval and the posterior median is within 20 % of the truth; the fit converges
(R-hat <= 1.01, no divergences).
"""

import dataclasses

import pytest
from omegaconf import OmegaConf

from mmm_geo.config import DataConfig, FitConfig, ModelConfig, SaturationConfig, SimulationConfig, to_config
from mmm_geo.run import fit
from tests.conftest import shared_file

pytestmark = pytest.mark.slow

# TRUTH.md section 2: true ROAS per unit of x1 and x2 (contribution / spend, amplitude 1000).
PYMC_EXAMPLE_ROAS = {"x1": 4968.0, "x2": 2275.0}


def _check(summary, truth_roi, tolerance=0.20):
    roi = summary[summary["metric"] == "roi"].set_index("channel")
    for channel, true in truth_roi.items():
        row = roi.loc[channel]
        assert row["p5"] <= true <= row["p95"], f"{channel}: true ROI {true:.3f} outside [{row['p5']:.3f}, {row['p95']:.3f}]"
        assert abs(row["median"] / true - 1) <= tolerance, f"{channel}: median {row['median']:.3f} vs true {true:.3f}"


def _converged(metrics):
    conv = metrics["convergence"]
    assert conv["max_rhat"] <= 1.01, conv
    assert conv["divergences"] == 0, conv


def test_simulated_panel_recovers_true_roi(tmp_path):
    """10 geos x 104 weeks x 4 channels, geometric adstock, Hill saturation, geo-varying effects."""
    sim = SimulationConfig(geos=10, weeks=104, channels=4, seed=0)
    cfg = FitConfig(simulation=sim, seed=0)
    metrics = fit(cfg, tmp_path / "sim")
    import pandas as pd
    import json

    truth = json.loads((tmp_path / "sim" / "truth.json").read_text())
    summary = pd.read_csv(tmp_path / "sim" / "summary.csv")
    _converged(metrics)
    assert metrics["convergence"]["min_ess_bulk"] >= 400
    _check(summary, {c: v["roi"] for c, v in truth["national"].items()})


def test_pymc_marketing_example_recovers_true_roas(tmp_path):
    """PyMC-Marketing's mmm_example.csv: national, 2 channels, logistic saturation (TRUTH.md §2)."""
    path = shared_file("pymc_marketing", "mmm_example.csv")
    data = to_config(OmegaConf.load("conf/data/pymc_mmm_example.yaml"), DataConfig)
    data = dataclasses.replace(data, path=str(path))
    model = ModelConfig(saturation=SaturationConfig(kind="logistic"))
    metrics = fit(FitConfig(data=data, model=model, seed=0), tmp_path / "pymc")
    import pandas as pd

    summary = pd.read_csv(tmp_path / "pymc" / "summary.csv")
    _converged(metrics)
    _check(summary, PYMC_EXAMPLE_ROAS)
