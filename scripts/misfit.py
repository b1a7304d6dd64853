"""Where a fit of a simulated panel goes wrong: its parts against the simulator's truth.

For a finished run of a simulated panel (e.g. a coverage battery panel folder), prints each
channel's modelled contribution against its true one (the simulator's counterfactual with that
channel switched off, same noise), the non-media part (baseline, trend, seasonality, controls)
against the truth and its 90 % interval, the residual sd against the simulator's noise sd, and per
channel the misfit of its contribution per capita (mean, and sd around the geo means).

    python scripts/misfit.py /tmp/covfree/panel_07      # scripts/RESULTS.md, "Session 14"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mmm_geo.analysis.accuracy import train_mask
from mmm_geo.analysis.contributions import decomposition
from mmm_geo.data.simulate import simulate
from mmm_geo.run import load_run


def main(path: Path) -> None:
    run = load_run(path)
    sim = run.config.simulation
    frame, truth = simulate(sim)
    g, t, c = sim.geos, sim.weeks, sim.channels
    channels = [str(ch) for ch in run.ds.coords["channel"].values]
    pop = run.ds["population"].values[:, None]
    revenue = frame["revenue"].values.reshape(g, t)

    def without(scale):
        return simulate(sim, spend_scale=scale)[0]["revenue"].values.reshape(g, t)

    true_media = {ch: revenue - without(np.where(np.arange(c) == j, 0.0, 1.0))
                  for j, ch in enumerate(channels)}
    true_nonmedia = without(np.zeros(c))            # includes the noise
    parts = decomposition(run.idata.posterior, run.ds, run.scaling, run.config.model, train_mask(run.idata))
    nonmedia = parts["baseline"] + parts["trend"] + parts["seasonality"] + parts["controls"].sum("control")
    q = np.quantile(nonmedia.sum(("geo", "time")).values.ravel(), [0.05, 0.5, 0.95]) / true_nonmedia.sum()
    print(f"non-media part / truth: median {q[1]:.3f}, 90 % interval [{q[0]:.3f}, {q[2]:.3f}]")
    media = parts["media"].mean(("chain", "draw"))
    residual = (revenue - parts["expected"].mean(("chain", "draw")).values) / pop
    print(f"residual sd per capita {residual.std():.3f}, simulator noise sd {truth['params']['noise_sd']:.3f}")
    for ch in channels:
        model = media.sel(channel=ch).values
        diff = (model - true_media[ch]) / pop
        print(f"{ch:10s} contribution model / true {model.sum() / true_media[ch].sum():5.2f}   misfit per capita: "
              f"mean {diff.mean():+.3f}, sd around geo means {(diff - diff.mean(1, keepdims=True)).std():.3f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run folder of a simulated panel")
    main(p.parse_args().run)
