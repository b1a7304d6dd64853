"""The simpler method of study 5: two-stage least squares for social -> search mediation.

Stage 1 regresses the mediator's spend (Google) on the adstocked spend of the upstream channels
(Facebook, TikTok, Instagram, Snapchat). Stage 2 regresses log revenue on the PREDICTED mediator,
the upstream channels' own adstocked spend, the non-paid channels (email and SMS sends), log price,
the promotion flag, a linear trend and yearly Fourier terms. Adstock is geometric with a fixed
decay (``--decay``, normalised weights over ``--max-lag`` weeks), as an analyst would fix it.

It is scored on the same rolling-origin folds as ``mmm-geo fit validation.holdout=13
validation.folds=3`` (fold k of K fits every week before its ``holdout`` test weeks; the last
fold's test weeks end with the data), on the same weeks (``data.exclude`` weeks neither fitted nor
scored), with MAPE against the seasonal-naive forecast. On all weeks it reports each upstream
channel's direct and mediated (through predicted Google spend) revenue over the data, as
counterfactual differences of the fitted model, per unit of spend.

    python scripts/baseline_two_stage.py conf/data/assessment2.yaml --holdout 13 --folds 3 --out experiments/assessment2/results
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from baseline_ridge import publish  # scripts/baseline_ridge.py
from mmm_geo.analysis.accuracy import accuracy, seasonal_naive
from mmm_geo.config import DataConfig
from mmm_geo.data.load import load_dataset
from mmm_geo.model.forms import geometric
from mmm_geo.model.hierarchical import fourier_basis
from mmm_geo.model.media import lag_stack

MEDIATOR, UPSTREAM, ORGANIC = "google", ["facebook", "tiktok", "instagram", "snapchat"], ["email", "sms"]


def adstock(x: np.ndarray, decay: float, max_lag: int, scale: np.ndarray) -> np.ndarray:
    """Geometric adstock (normalised weights) of (time, k), in units of ``scale`` (k,)."""
    w = np.asarray(geometric(max_lag, np.full(x.shape[1], decay, np.float32)), float)
    return np.einsum("ltk,lk->tk", np.asarray(lag_stack(x / scale, max_lag)), w / w.sum(axis=0))


def columns(path: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The study's columns through the project's loader (weeks,), the excluded weeks, the dates."""
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.load(path)))
    ds = load_dataset(cfg)
    chans = [str(c) for c in ds["channel"].values]
    pick = lambda var, names: ds[var].values[0][:, [chans.index(n) for n in names]]  # noqa: E731
    treat = {str(t): ds["treatments"].values[0][:, i] for i, t in enumerate(ds["treatment"].values)}
    d = {"revenue": ds["kpi"].values[0], "mediator": pick("spend", [MEDIATOR])[:, 0],
         "upstream": pick("spend", UPSTREAM), "organic": pick("exposure", ORGANIC),
         "price": treat["price"], "promotion": treat["promotion"]}
    return d, ds["excluded"].values, ds["time"].values


class TwoStage:
    """Both stages by least squares on the weeks ``train`` (bool); adstock scales are the
    columns' means over all weeks, so counterfactual inputs are in the same units."""

    def __init__(self, d: dict, train: np.ndarray, args):
        self.d, self.a = d, args
        self.scale = {k: np.maximum(d[k].mean(0), 1e-12) for k in ("upstream", "organic")}
        self.scale["mediator"] = np.array([max(d["mediator"].mean(), 1e-12)])
        self.g1 = np.linalg.lstsq(self.stage1(d["upstream"])[train], d["mediator"][train], rcond=None)[0]
        x2, y = self.stage2(d["upstream"], self.mediator_hat(d["upstream"])), np.log(d["revenue"])
        self.b2 = np.linalg.lstsq(x2[train], y[train], rcond=None)[0]
        self.sigma2 = float(np.var(y[train] - x2[train] @ self.b2, ddof=x2.shape[1]))

    def _ad(self, x, key):
        return adstock(x, self.a.decay, self.a.max_lag, self.scale[key])

    def stage1(self, upstream):
        return np.column_stack([np.ones(len(upstream)), self._ad(upstream, "upstream")])

    def mediator_hat(self, upstream):
        return self.stage1(upstream) @ self.g1

    def stage2(self, upstream, mediator):
        d, n = self.d, len(upstream)
        return np.column_stack([np.ones(n), np.linspace(-1, 1, n),
                                fourier_basis(n, self.a.fourier, self.a.period), np.log(d["price"]),
                                d["promotion"], self._ad(d["organic"], "organic"),
                                self._ad(mediator[:, None], "mediator"), self._ad(upstream, "upstream")])

    def predict(self, upstream=None, mediator=None):
        """Expected revenue per week (log-normal mean) for these inputs (default: the data's,
        the mediator predicted from the upstream spend)."""
        up = self.d["upstream"] if upstream is None else upstream
        med = self.mediator_hat(up) if mediator is None else mediator
        return np.exp(self.stage2(up, med) @ self.b2 + self.sigma2 / 2)


def effects(m: TwoStage, keep: np.ndarray) -> pd.DataFrame:
    """Per upstream channel: revenue over the weeks ``keep`` lost without it, directly (the
    mediator as the channel's spend predicts it) and through the mediator, per unit of spend."""
    base, rows = m.predict(), []
    for j, ch in enumerate(UPSTREAM):
        off = m.d["upstream"].copy()
        off[:, j] = 0.0
        total = (base - m.predict(off))[keep].sum()
        direct = (base - m.predict(off, m.mediator_hat(m.d["upstream"])))[keep].sum()
        spend = m.d["upstream"][keep, j].sum()
        rows.append({"channel": ch, "direct": direct, "indirect": total - direct, "total": total,
                     "spend": spend, "total_roi": total / spend, "direct_roi": direct / spend,
                     "stage1_coef": m.g1[1 + j]})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="the study's data config, conf/data/assessment2.yaml")
    p.add_argument("--holdout", type=int, default=13)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--decay", type=float, default=0.5)
    p.add_argument("--max-lag", type=int, default=8)
    p.add_argument("--fourier", type=int, default=2)
    p.add_argument("--period", type=float, default=52.1775)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    d, excl, times = columns(args.data)
    n = len(d["revenue"])
    folds = []
    for k in range(args.folds):
        start = n - (args.folds - k) * args.holdout
        test = (np.arange(n) >= start) & (np.arange(n) < start + args.holdout) & ~excl
        model = TwoStage(d, (np.arange(n) < start) & ~excl, args)
        naive = seasonal_naive(d["revenue"][None], start, int(round(args.period)))[0]
        naive = naive[test[start:]]
        folds.append({"fold": k, "train_periods": int(start), "test_first": str(times[start])[:10],
                      "test_periods": int(test.sum()),
                      **accuracy(d["revenue"][test], model.predict()[test]),
                      **{f"naive_{m}": v for m, v in accuracy(d["revenue"][test], naive).items()}})
    full = TwoStage(d, ~excl, args)
    table = effects(full, ~excl)
    result = {"data": args.data, "decay": args.decay, "folds": folds,
              "mean_mape": float(np.mean([f["mape"] for f in folds])),
              "in_sample": accuracy(d["revenue"][~excl], full.predict()[~excl]),
              "price_elasticity": float(full.b2[2 + 2 * args.fourier]),
              "promotion_lift": float(np.exp(full.b2[3 + 2 * args.fourier]) - 1)}
    publish(result, table, args.out, "baseline_two_stage.json", "baseline_two_stage_effects.csv")


if __name__ == "__main__":
    main()
