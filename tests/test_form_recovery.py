"""Each adstock, saturation and likelihood form recovers its own truth (slow, seeded).

The simulator (plain NumPy, ``mmm_geo.data.sim_forms``) draws a default-family panel whose every
channel has the form under test and whose KPI has the noise the likelihood under test assumes; the
model is fitted with those forms and that likelihood. Each channel's true ROI must lie inside its
90 % interval and its posterior median within 20 % of it.

Two further combinations were measured and FAIL this check (seed 0, 2 chains x 500 + 500; they are
not tests until they pass; see scripts/RESULTS.md): weibull_pdf + tanh + poisson put search at
1.39 [0.81, 2.18] against a true 2.45, and binomial + hill + negbinomial put tv at 1.01 [0.30, ...]
against 1.85. So weibull_pdf, binomial, tanh and the count likelihoods have no passing recovery
test yet. Nor has gamma (the default carryover since session 14): gamma + michaelis_menten +
normal (2 chains x 800 + 800) covered tv, search and display but put social at 3.17 [2.75, 3.66]
against 2.64, the channel every free-shape model over-states on this panel (scripts/RESULTS.md).
"""

from __future__ import annotations

import json

import pytest

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig, SaturationConfig,
                            SimulationConfig)

CASES = [  # (simulator adstock, model adstock, saturation, simulator KPI noise = model likelihood)
    ("delayed", "delayed", "michaelis_menten", "student_t"),
    ("weibull_cdf", "weibull_cdf", "logistic", "lognormal"),
]


@pytest.mark.study
@pytest.mark.slow
@pytest.mark.parametrize("sim_adstock,adstock,saturation,likelihood", CASES,
                         ids=[f"{c[1]}-{c[2]}-{c[3]}" for c in CASES])
def test_form_recovers_its_own_truth(tmp_path, sim_adstock, adstock, saturation, likelihood):
    from mmm_geo.run import fit

    sim = SimulationConfig(geos=10, weeks=104, channels=4, seed=0, adstock=sim_adstock,
                           saturation=saturation, kpi_noise=likelihood)
    model = ModelConfig(adstock=AdstockConfig(kind=adstock, max_lag=sim.max_lag),
                        saturation=SaturationConfig(kind=saturation), likelihood=likelihood)
    cfg = FitConfig(simulation=sim, model=model, name="forms",
                    inference=InferenceConfig(chains=2, warmup=800, draws=800, progress_bar=False,
                                              ess_min=100))
    metrics = fit(cfg, tmp_path)
    assert metrics["convergence"]["divergences"] == 0, metrics["convergence"]
    assert metrics["convergence"]["max_rhat"] <= 1.02, metrics["convergence"]
    truth = json.loads((tmp_path / "truth.json").read_text())["national"]
    import pandas as pd
    roi = pd.read_csv(tmp_path / "summary.csv").query("metric == 'roi'").set_index("channel")
    print(roi[["median", "p5", "p95", "true"]].to_string())
    for channel, row in roi.iterrows():
        true = truth[channel]["roi"]
        assert row["p5"] <= true <= row["p95"], (channel, row.to_dict())
        assert abs(row["median"] / true - 1) <= 0.20, (channel, row.to_dict())
