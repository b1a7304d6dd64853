"""The simpler method: ridge regression on adstocked, saturated spend, as an analyst would fit it.

Reads a data config (``conf/data/<name>.yaml``) with the project's loader, so it sees exactly the
weeks, channels and controls the Bayesian model sees, and holds out the same last ``--holdout``
weeks as ``mmm-geo fit validation.holdout=<n>``. Panels are pooled (one row per geo-week, a fixed
intercept per geo). The regression, in numpy:

- features: per channel, spend in units of its mean non-zero weekly level, geometric adstock
  (decay ``a``, normalised weights over ``--max-lag`` weeks), then ``x / (x + K)`` saturation;
  a linear trend, yearly Fourier terms (``--fourier`` harmonics) and the data's controls;
- hyperparameters: each channel's (a, K) from a grid, by coordinate descent, and the ridge penalty
  from a grid, all chosen on the last ``--holdout`` weeks of the training window (fitted on the
  weeks before them), so the reported holdout is never seen;
- intervals: a 90 % prediction interval from the training residual sd (normal); channel ROIs
  (revenue driven over the training window / spend) with a 90 % moving-block bootstrap interval
  (``--boot`` refits on resampled blocks of 4 weeks, the hyperparameters fixed).

Writes ``<out>/baseline_ridge.json`` (holdout MAPE, R^2, interval coverage, the seasonal-naive
MAPE on the same weeks, hyperparameters) and ``<out>/baseline_ridge_roi.csv``; prints both.

    .venv/bin/python scripts/baseline_ridge.py conf/data/jellypop.yaml --holdout 13 --out experiments/jellypop
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from mmm_geo import dims
from mmm_geo.analysis.accuracy import accuracy, seasonal_naive
from mmm_geo.config import DataConfig
from mmm_geo.data.load import load_dataset
from mmm_geo.model.forms import geometric
from mmm_geo.model.hierarchical import fourier_basis
from mmm_geo.model.media import lag_stack

DECAYS = (0.0, 0.2, 0.4, 0.6, 0.8)
HALF_SATURATIONS = (0.25, 0.5, 1.0, 2.0, 4.0)
PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)
Z90 = 1.6448536269514722


def load(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, np.ndarray]:
    """KPI (geo, time), spend (geo, time, channel), controls (geo, time, k), channels, times."""
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.load(path)))
    ds = load_dataset(cfg)
    order = (dims.GEO, dims.TIME, dims.CHANNEL)
    spend = ds["spend"].transpose(*order).values
    controls = ds["controls"].transpose(dims.GEO, dims.TIME, dims.CONTROL).values
    return (ds["kpi"].transpose(dims.GEO, dims.TIME).values, spend, controls,
            [str(c) for c in ds[dims.CHANNEL].values], ds[dims.TIME].values)


def spend_level(spend: np.ndarray) -> np.ndarray:
    """Each channel's mean non-zero weekly spend, (channel,)."""
    return np.array([s[s > 0].mean() for s in np.moveaxis(spend, -1, 0).reshape(spend.shape[-1], -1)])


def media_features(spend: np.ndarray, decay: np.ndarray, half: np.ndarray, max_lag: int,
                   level=None) -> np.ndarray:
    """Adstocked, saturated spend (geo, time, channel), spend in units of its mean non-zero level
    (``level``: the fitted data's, for spend plans evaluated with a fitted regression)."""
    level = spend_level(spend) if level is None else level
    w = np.asarray(geometric(max_lag, np.asarray(decay, np.float32)))
    w = w / w.sum(axis=0)
    carried = np.einsum("l...tc,lc->...tc", np.asarray(lag_stack(spend / level, max_lag)), w)
    return carried / (carried + half)


def design(media: np.ndarray, controls: np.ndarray, fourier: int, period: float) -> np.ndarray:
    """Rows (geo * time) of [geo intercepts | trend, Fourier terms, controls | media]."""
    n_geo, n_time = media.shape[:2]
    trend = np.linspace(-1, 1, n_time)[:, None]
    base = np.concatenate([trend, fourier_basis(n_time, fourier, period)], axis=-1)
    base = np.broadcast_to(base, (n_geo,) + base.shape)
    geo = np.broadcast_to(np.eye(n_geo)[:, None, :], (n_geo, n_time, n_geo))
    return np.concatenate([geo, base, controls, media], axis=-1)


def ridge(x: np.ndarray, y: np.ndarray, penalty: float, n_free: int) -> np.ndarray:
    """Coefficients of ridge regression on standardised columns; the first ``n_free`` (the geo
    intercepts) are not penalised."""
    sd = x.std(axis=0)
    sd[:n_free] = 1.0
    sd[sd == 0] = 1.0
    xs = x / sd
    pen = np.full(x.shape[1], penalty * len(y))
    pen[:n_free] = 0.0
    return np.linalg.solve(xs.T @ xs + np.diag(pen), xs.T @ y) / sd


def with_pairs(media: np.ndarray, pairs=()) -> np.ndarray:
    """``media`` (geo, time, channel) and, per channel pair (i, j), the product of their features
    as one more column: the simpler method's synergy term."""
    return np.concatenate([media] + [media[..., i:i + 1] * media[..., j:j + 1] for i, j in pairs],
                          axis=-1)


class Fit:
    """One ridge fit on the first ``n_train`` weeks; ``predict`` gives every week (geo, time).
    ``pairs``: channel index pairs whose feature product is a column too (``with_pairs``)."""

    def __init__(self, kpi, spend, controls, decay, half, penalty, n_train, args, pairs=()):
        self.n_geo, self.n_time = kpi.shape
        self.media = with_pairs(media_features(spend, decay, half, args.max_lag), pairs)
        self.x = design(self.media, controls, args.fourier, args.period).reshape(self.n_geo * self.n_time, -1)
        rows = np.broadcast_to(np.arange(self.n_time) < n_train, kpi.shape).reshape(-1)
        self.rows = rows
        self.coef = ridge(self.x[rows], kpi.reshape(-1)[rows], penalty, self.n_geo)

    def predict(self) -> np.ndarray:
        return (self.x @ self.coef).reshape(self.n_geo, self.n_time)

    def contributions(self, n_train: int) -> np.ndarray:
        """Revenue driven per channel over the first ``n_train`` weeks (coefficient x feature)."""
        media_coef = self.coef[-self.media.shape[-1]:]
        return (self.media[:, :n_train] * media_coef).sum(axis=(0, 1))


def score(kpi, spend, controls, decay, half, penalty, n_fit, n_val, args) -> float:
    """MAPE on weeks ``n_fit .. n_fit + n_val`` of a fit on the weeks before them."""
    pred = Fit(kpi, spend, controls, decay, half, penalty, n_fit, args).predict()
    window = slice(n_fit, n_fit + n_val)
    return accuracy(kpi[:, window], pred[:, window])["mape"]


def tune(kpi, spend, controls, n_train, args):
    """Per-channel (decay, K) by two passes of coordinate descent, then the penalty, on the last
    ``holdout`` weeks of the training window."""
    n_val = args.holdout
    n_fit = n_train - n_val
    n_ch = spend.shape[-1]
    decay, half, penalty = np.full(n_ch, 0.4), np.full(n_ch, 1.0), 1.0
    for _ in range(2):
        for c in range(n_ch):
            best = None
            for a in DECAYS:
                for k in HALF_SATURATIONS:
                    d, h = decay.copy(), half.copy()
                    d[c], h[c] = a, k
                    s = score(kpi, spend, controls, d, h, penalty, n_fit, n_val, args)
                    best = min(best or (s, a, k), (s, a, k))
            decay[c], half[c] = best[1], best[2]
        penalty = min(PENALTIES, key=lambda p: score(kpi, spend, controls, decay, half, p, n_fit, n_val, args))
    return decay, half, penalty


def bootstrap_coefs(fit: Fit, kpi, n_train, penalty, boot: int, seed: int) -> np.ndarray:
    """The ridge refitted on ``boot`` moving-block bootstrap resamples of the training weeks
    (blocks of 4 weeks, every geo's row of a week together, features as fitted): (boot, coef).
    Resampling rows, not residuals around the fit: the ridge shrinks, so refitting it on its
    own predictions plus residuals would shrink again and bias every interval toward zero."""
    rng = np.random.default_rng(seed)
    x = fit.x.reshape(fit.n_geo, fit.n_time, -1)
    out = []
    for _ in range(boot):
        starts = rng.integers(0, n_train - 3, size=int(np.ceil(n_train / 4)))
        idx = np.concatenate([np.arange(s, s + 4) for s in starts])[:n_train]
        out.append(ridge(x[:, idx].reshape(-1, x.shape[-1]), kpi[:, idx].reshape(-1), penalty,
                         fit.n_geo))
    return np.array(out)


def bootstrap_roi(kpi, spend, fit: Fit, n_train, penalty, args) -> np.ndarray:
    """ROI per channel (revenue driven over the training weeks / spend) of each bootstrap refit
    (:func:`bootstrap_coefs`): (boot, channel)."""
    n_ch = spend.shape[-1]
    spent = spend[:, :n_train].sum(axis=(0, 1))
    coefs = bootstrap_coefs(fit, kpi, n_train, penalty, args.boot, args.seed)
    return np.einsum("gtc,bc->bc", fit.media[:, :n_train, :n_ch], coefs[:, -n_ch:]) / spent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="a data config, e.g. conf/data/jellypop.yaml")
    p.add_argument("--holdout", type=int, default=13, help="last weeks held out (as validation.holdout)")
    p.add_argument("--max-lag", type=int, default=8)
    p.add_argument("--fourier", type=int, default=2)
    p.add_argument("--period", type=float, default=52.1775)
    p.add_argument("--boot", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for baseline_ridge.json and baseline_ridge_roi.csv")
    args = p.parse_args()
    kpi, spend, controls, channels, times = load(args.data)
    n_train = kpi.shape[1] - args.holdout
    decay, half, penalty = tune(kpi, spend, controls, n_train, args)
    fit = Fit(kpi, spend, controls, decay, half, penalty, n_train, args)
    pred = fit.predict()
    sd = float(np.std((kpi - pred)[:, :n_train], ddof=fit.coef.size))
    held = slice(n_train, None)
    inside = np.abs(kpi[:, held] - pred[:, held]) <= Z90 * sd
    naive = seasonal_naive(kpi, n_train, int(round(args.period)))
    spent = spend[:, :n_train].sum(axis=(0, 1))
    roi = fit.contributions(n_train) / spent
    boot = bootstrap_roi(kpi, spend, fit, n_train, penalty, args)
    table = pd.DataFrame({"channel": channels, "decay": decay, "half_saturation": half,
                          "roi": roi, "roi_lo": np.quantile(boot, 0.05, axis=0),
                          "roi_hi": np.quantile(boot, 0.95, axis=0),
                          "contribution": fit.contributions(n_train), "spend": spent})
    table["rank"] = table["roi"].rank(ascending=False).astype(int)
    result = {"data": args.data, "holdout_weeks": args.holdout,
              "holdout_first": str(times[n_train])[:10], "holdout_last": str(times[-1])[:10],
              "penalty": penalty, "in_sample": accuracy(kpi[:, :n_train], pred[:, :n_train]),
              "holdout": accuracy(kpi[:, held], pred[:, held]),
              "holdout_coverage_90": float(inside.mean()),
              "naive_holdout": accuracy(kpi[:, held], naive)}
    publish(result, table, args.out, "baseline_ridge.json", "baseline_ridge_roi.csv")


def publish(result: dict, table: pd.DataFrame, out, json_name: str, csv_name: str) -> None:
    """Print a baseline's summary and table, and write both into the folder ``out`` if given."""
    print(json.dumps(result, indent=1))
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / json_name).write_text(json.dumps(result, indent=1) + "\n")
        table.to_csv(out / csv_name, index=False)


if __name__ == "__main__":
    main()
