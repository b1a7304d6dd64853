"""Mediation: the joint model against the two-stage approach on simulated panels with known truth.

For each seed, simulates a panel where ``--upstream`` drives the mediator ``--mediator`` (clicks
without spend, ``simulation.mediation``) and fits:

- joint: one NumPyro model with the mediator's own equation (``model.mediation``);
- two-stage: stage 1 is the mediator equation (its posterior in the joint model is that of the
  mediator fitted alone: the two equations share no parameter, so it is the same fit); its
  posterior-mean parameters predict the mediator; stage 2 fits the KPI model with that predicted
  mediator as the channel's input (no mediator equation). Its direct effect switches the upstream
  channel off with the predicted mediator held; its indirect effect moves the predicted mediator
  by the stage-1 point response (``mmm_geo.model.mediation.effects``, stage-1 point parameters).

Both give the true direct and indirect (and total) revenue effects of each upstream channel
(``truth.json``'s definitions) next to their posterior median and 90 % interval. The geo spread of
the media effects is fixed at its true value in both (a nuisance, as in the recovery test).

    .venv/bin/python scripts/mediation_study.py --seeds 0 1 2 --out experiments/mediation
        [--geos 6] [--noise 0.3] [--chains 2] [--warmup 300] [--draws 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pandas as pd

from mmm_geo.analysis.draws import map_draws
from mmm_geo.analysis.mediation import mediation_metrics, true_value
from mmm_geo.config import (FitConfig, InferenceConfig, ModelConfig, Prior, PriorsConfig, SimMediation, SimulationConfig,
                            with_overrides)
from mmm_geo.data.simulate import simulate
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.model import mediation
from mmm_geo.model_config import MediationConfig
from mmm_geo.run import setup, window_data

EFFECTS = ("contribution_direct", "contribution_indirect", "contribution_total")


def _posterior(samples: dict) -> az.InferenceData:
    return az.from_dict(posterior=samples).posterior


def _health(result) -> dict:
    post = _posterior(result.samples)
    rhat = az.rhat(post)
    return {"max_rhat": float(max(float(rhat[v].max()) for v in rhat.data_vars)),
            "divergences": int(result.stats["diverging"].sum()), "sample_s": result.sample_s}


def _rows(method: str, seed: int, metrics, truth: dict, health: dict) -> list:
    rows = []
    for metric in EFFECTS:
        for ch in map(str, metrics[mediation.UPSTREAM].values):
            v = metrics[metric].sel({mediation.UPSTREAM: ch}).values.ravel()
            lo, med, hi = np.quantile(v, [0.05, 0.5, 0.95])
            true = true_value(truth, metric, ch)
            rows.append({"seed": seed, "method": method, "effect": metric.replace("contribution_", ""),
                         "channel": ch, "true": true, "median": med, "p5": lo, "p95": hi,
                         "covered": bool(lo <= true <= hi), "rel_error": med / true - 1, **health})
    return rows


def study(seed: int, args) -> list:
    sim = SimulationConfig(geos=args.geos, weeks=args.weeks, channels=3, seed=seed,
                           mediation=SimMediation(mediator=args.mediator, upstream=args.upstream,
                                                  noise=args.noise))
    model = ModelConfig(mediation=MediationConfig(mediator=args.mediator, upstream=args.upstream),
                        priors=PriorsConfig(media_geo_sd=Prior("fixed", sim.media_geo_sd, 0.0)))
    inference = InferenceConfig(chains=args.chains, warmup=args.warmup, draws=args.draws, progress_bar=False)
    ready = setup(with_overrides(FitConfig(simulation=sim, model=model, inference=inference, seed=seed),
                                 [f"model.{o}" for o in args.model]))
    _, truth = simulate(sim)
    cfg, ds = ready.cfg.model, ready.ds
    scaling, data = window_data(ready.cfg, ds, ready.lengths[-1])
    key = jax.random.key(seed)

    joint = run_nuts(data, cfg, inference, key)
    post = _posterior(joint.samples)
    rows = _rows("joint", seed, mediation_metrics(post, ds, scaling, cfg), truth, _health(joint))

    med = mediation.resolve(cfg)
    point = {k: np.asarray(post[k].mean(("chain", "draw"))) for k in post.data_vars
             if k.startswith(mediation.PREFIX + "_")}
    predicted = np.asarray(mediation.mean(jax.tree.map(jax.numpy.asarray, data), med, point))
    pop = ds["population"].values[:, None]
    exposure = ds["exposure"].values.copy()
    exposure[..., med.mediator] = predicted * pop * scaling.media_scale[med.mediator]
    ds2 = ds.assign(exposure=(ds["exposure"].dims, exposure))
    media2 = data.media.copy()
    media2[..., med.mediator] = predicted
    stage2 = run_nuts(data._replace(media=media2), dataclasses.replace(cfg, mediation=MediationConfig()),
                      inference, jax.random.fold_in(key, 2))
    shape = stage2.samples["sigma"].shape[:2]
    samples = {**stage2.samples, **{k: np.broadcast_to(v, shape + v.shape) for k, v in point.items()}}
    rows += _rows("two_stage", seed, mediation_metrics(_posterior(samples), ds2, scaling, cfg), truth,
                  _health(stage2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--geos", type=int, default=6)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--mediator", default="search")
    parser.add_argument("--upstream", nargs="+", default=["social"])
    parser.add_argument("--noise", type=float, default=SimMediation().noise,
                        help="the mediator's own weekly variation, a multiple of its baseline")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--model", nargs="*", default=[],
                        help="dotted model overrides for both methods, e.g. adstock.kind=geometric")
    parser.add_argument("--out", default="experiments/mediation")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        rows += study(seed, args)
        table = pd.DataFrame(rows)
        table.to_csv(out / "mediation_study.csv", index=False)     # after every seed
        print(table[table["seed"] == seed].to_string(index=False, float_format=lambda x: f"{x:,.3g}"))
    table = pd.DataFrame(rows)
    summary = table.groupby(["method", "effect"]).agg(
        coverage=("covered", "mean"), mean_rel_error=("rel_error", "mean"),
        mean_abs_rel_error=("rel_error", lambda e: e.abs().mean()), fits=("seed", "nunique"))
    (out / "summary.json").write_text(json.dumps(summary.reset_index().to_dict("records"), indent=1))
    print("\n" + summary.to_string(float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
