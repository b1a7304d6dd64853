"""Study 2's simpler method: pooled ridge on adstocked, log-transformed impressions, with a per-geo
mixed-effects check, scored on the same rolling-origin folds as ``mmm-geo fit validation.folds``.

Reads a data config with the project's loader (the same geos, weeks, channels and holiday flags
the Bayesian model sees). The regression, in numpy:

- target: log revenue per geo-week; features: per channel ``log(1 + adstock(impressions) / m_c)``
  with geometric decay fixed at ``--decay`` (0.3) over ``--max-lag`` weeks and ``m_c`` the channel's
  mean impressions; a linear trend, yearly Fourier terms, the data's controls (holiday flags), one
  unpenalised intercept per geo; slopes shared by every geo (pooled). The ridge penalty is chosen
  from a grid on the last ``--holdout`` weeks of each training window (fitted on the weeks before).
- rolling origin: ``--folds`` windows of ``--holdout`` test weeks (the training lengths of
  ``mmm_geo.validation.train_lengths``); per fold the MAPE of revenue (exp of the prediction,
  times the mean of exp(residual), the smearing correction), its 90 % interval coverage (normal
  on the log scale) and a seasonal-naive forecast's MAPE on the same weeks.
- mixed-effects check: the same regression fitted per geo (OLS, intercept and base terms of its
  own), then each channel's per-geo slopes pooled by a DerSimonian-Laird random-effects
  meta-analysis: between-geo sd ``tau``, Cochran's Q and its p-value, I^2; and a random-slopes
  version of the ridge (each geo's media slopes = the pooled ones + a deviation shrunk by its own
  penalty) scored on the same folds as the pooled one: do geo-specific effects forecast better?
- channel effects (full data): revenue driven per 1,000 impressions and, where the channel has
  spend, revenue per dollar (the prediction with the channel's feature set to zero, subtracted),
  with a 90 % moving-block bootstrap interval (blocks of 4 weeks, every geo together).

Writes ``<out>/baseline_log_ridge.json`` and ``<out>/baseline_log_ridge_effects.csv``.

    .venv/bin/python scripts/baseline_log_ridge.py conf/data/ecommerce_geo.yaml --out experiments/ecommerce_geo/results
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_ridge import Z90, design, publish, ridge  # noqa: E402

from mmm_geo import dims  # noqa: E402
from mmm_geo.analysis.accuracy import accuracy, seasonal_naive  # noqa: E402
from mmm_geo.config import DataConfig, ValidationConfig  # noqa: E402
from mmm_geo.data.load import load_dataset  # noqa: E402
from mmm_geo.model.media import lag_stack  # noqa: E402
from mmm_geo.validation import train_lengths  # noqa: E402

PENALTIES = (0.001, 0.01, 0.1, 1.0, 10.0)
PENALTIES_RE = (0.01, 0.1, 1.0, 10.0, 100.0)


def load(path: str) -> dict:
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.load(path)))
    ds = load_dataset(cfg)
    order = (dims.GEO, dims.TIME, dims.CHANNEL)
    return {"kpi": ds["kpi"].transpose(dims.GEO, dims.TIME).values,
            "exposure": ds["exposure"].transpose(*order).values,
            "spend": ds["spend"].transpose(*order).values,
            "controls": ds["controls"].transpose(dims.GEO, dims.TIME, dims.CONTROL).values,
            "channels": [str(c) for c in ds[dims.CHANNEL].values], "times": ds[dims.TIME].values,
            "geos": [str(g) for g in ds[dims.GEO].values]}


def features(exposure: np.ndarray, decay: float, max_lag: int) -> np.ndarray:
    """log(1 + geometric adstock of impressions / the channel's mean), (geo, time, channel)."""
    w = decay ** np.arange(max_lag)
    carried = np.einsum("l...tc,l->...tc", np.asarray(lag_stack(exposure, max_lag)), w / w.sum())
    return np.log1p(carried / exposure.mean(axis=(0, 1)))


class Panel:
    """The design (geo, time, column) and log target; the media columns are the last ``n_ch``."""

    def __init__(self, d: dict, args):
        self.media = features(d["exposure"], args.decay, args.max_lag)
        self.x = design(self.media, d["controls"], args.fourier, args.period)
        self.y = np.log(d["kpi"])
        self.n_geo, self.n_time, self.n_ch = self.media.shape

    def fit(self, n: int, penalty: float) -> np.ndarray:
        return ridge(self.x[:, :n].reshape(-1, self.x.shape[-1]), self.y[:, :n].reshape(-1), penalty,
                     self.n_geo)

    def revenue(self, coef: np.ndarray, n: int) -> tuple[np.ndarray, float]:
        """Revenue predicted every week with the smearing factor of the first ``n`` weeks, and the
        training residual sd on the log scale."""
        log_pred = self.x @ coef
        resid = (self.y - log_pred)[:, :n]
        return np.exp(log_pred) * np.mean(np.exp(resid)), float(resid.std())

    def tuned(self, n: int, holdout: int) -> float:
        """The penalty whose fit on weeks ``< n - holdout`` best forecasts weeks ``n - holdout .. n``."""
        def mape(p):
            pred = self.revenue(self.fit(n - holdout, p), n - holdout)[0]
            return accuracy(np.exp(self.y[:, n - holdout:n]), pred[:, n - holdout:n])["mape"]
        return min(PENALTIES, key=mape)


def geo_slopes(panel: Panel, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-geo OLS media slopes and their standard errors on the first ``n`` weeks, (geo, channel)."""
    beta, se = [], []
    for g in range(panel.n_geo):
        x = np.concatenate([np.ones((n, 1)), panel.x[g, :n, panel.n_geo:]], axis=-1)
        keep = x.std(axis=0) > 0
        keep[0] = True
        x = x[:, keep]
        coef, *_ = np.linalg.lstsq(x, panel.y[g, :n], rcond=None)
        resid = panel.y[g, :n] - x @ coef
        s2 = resid @ resid / (n - x.shape[1])
        cov = s2 * np.linalg.pinv(x.T @ x)
        beta.append(coef[-panel.n_ch:])
        se.append(np.sqrt(np.diag(cov)[-panel.n_ch:]))
    return np.array(beta), np.array(se)


def meta(beta: np.ndarray, se: np.ndarray) -> dict:
    """DerSimonian-Laird random-effects pooling per channel: pooled slope, tau, Q, p, I^2."""
    w = 1 / se ** 2
    fixed = (w * beta).sum(0) / w.sum(0)
    q = (w * (beta - fixed) ** 2).sum(0)
    k = beta.shape[0]
    tau2 = np.maximum(0.0, (q - (k - 1)) / (w.sum(0) - (w ** 2).sum(0) / w.sum(0)))
    wr = 1 / (se ** 2 + tau2)
    pooled = (wr * beta).sum(0) / wr.sum(0)
    return {"pooled": pooled, "tau": np.sqrt(tau2), "q": q, "p": stats.chi2.sf(q, k - 1),
            "i2": np.maximum(0.0, (q - (k - 1)) / q)}


def random_slopes_revenue(panel: Panel, n: int, penalty: float, holdout: int) -> np.ndarray:
    """The mixed-effects version: the pooled design plus each geo's own deviation of every media
    slope, the deviations shrunk toward zero by their own ridge penalty (a random-slopes model
    fitted as penalised least squares, i.e. its BLUP at a fixed variance ratio). That penalty is
    chosen from ``PENALTIES_RE`` on the last ``holdout`` weeks of the window, as the pooled one."""
    dev = (panel.media[:, :, None, :] * np.eye(panel.n_geo)[:, None, :, None]).reshape(
        panel.n_geo, panel.n_time, -1)                                  # (geo, time, geo x channel)
    x = np.concatenate([panel.x, dev], axis=-1)

    def fit(m, pen_re):
        rows = x[:, :m].reshape(-1, x.shape[-1])
        sd = rows.std(axis=0)
        sd[:panel.n_geo] = 1.0
        sd[sd == 0] = 1.0
        pen = np.full(x.shape[-1], penalty * rows.shape[0])
        pen[:panel.n_geo] = 0.0
        pen[panel.x.shape[-1]:] = pen_re * rows.shape[0]
        xs = rows / sd
        coef = np.linalg.solve(xs.T @ xs + np.diag(pen), xs.T @ panel.y[:, :m].reshape(-1)) / sd
        log_pred = x @ coef
        return np.exp(log_pred) * np.mean(np.exp((panel.y - log_pred)[:, :m]))

    def val(pen_re):
        pred = fit(n - holdout, pen_re)[:, n - holdout:n]
        return accuracy(np.exp(panel.y[:, n - holdout:n]), pred)["mape"]
    return fit(n, min(PENALTIES_RE, key=val))


def folds(panel: Panel, d: dict, args) -> list:
    lengths = train_lengths(panel.n_time, ValidationConfig(holdout=args.holdout, folds=args.folds),
                            2 * args.max_lag)
    rows = []
    for k, n in enumerate(lengths, start=1):
        test = slice(n, n + args.holdout)
        penalty = panel.tuned(n, args.holdout)
        coef = panel.fit(n, penalty)
        pred, sd = panel.revenue(coef, n)
        inside = np.abs(panel.y[:, test] - (panel.x @ coef)[:, test]) <= Z90 * sd   # log scale
        truth = d["kpi"][:, test]
        rows.append({"fold": k, "train_periods": n, "first_test": str(d["times"][n])[:10],
                     "penalty": penalty, "mape": accuracy(truth, pred[:, test])["mape"],
                     "coverage_90": float(inside.mean()),
                     "random_slopes_mape": accuracy(truth, random_slopes_revenue(panel, n, penalty, args.holdout)[:, test])["mape"],
                     "naive_mape": accuracy(truth, seasonal_naive(d["kpi"], n, int(round(args.period)))[:, :args.holdout])["mape"]})
    return rows


def effects(panel: Panel, d: dict, coef: np.ndarray, penalty: float, args) -> pd.DataFrame:
    """Revenue driven per channel over all weeks, per 1,000 impressions and per dollar, with
    moving-block bootstrap intervals."""
    n = panel.n_time

    def driven(c):
        log_pred = panel.x @ c
        smear = np.mean(np.exp(panel.y - log_pred))
        out = []
        for j in range(panel.n_ch):                 # the channel's feature set to zero
            without = log_pred - panel.x[..., -panel.n_ch + j] * c[-panel.n_ch + j]
            out.append(smear * (np.exp(log_pred) - np.exp(without)).sum())
        return np.array(out)

    rng = np.random.default_rng(args.seed)
    boot = []
    for _ in range(args.boot):
        idx = np.concatenate([np.arange(s, s + 4) for s in rng.integers(0, n - 3, size=n // 4 + 1)])[:n]
        boot.append(driven(ridge(panel.x[:, idx].reshape(-1, panel.x.shape[-1]),
                                 panel.y[:, idx].reshape(-1), penalty, panel.n_geo)))
    boot = np.array(boot)
    imps = d["exposure"].sum(axis=(0, 1))
    spent = d["spend"].sum(axis=(0, 1))
    point = driven(coef)
    table = pd.DataFrame({"channel": d["channels"], "elasticity": coef[-panel.n_ch:], "revenue": point,
                          "revenue_lo": np.quantile(boot, 0.05, 0), "revenue_hi": np.quantile(boot, 0.95, 0),
                          "per_1000": 1000 * point / imps, "per_1000_lo": 1000 * np.quantile(boot, 0.05, 0) / imps,
                          "per_1000_hi": 1000 * np.quantile(boot, 0.95, 0) / imps, "spend": spent})
    paid = spent > 0
    for col, src in [("roi", point), ("roi_lo", np.quantile(boot, 0.05, 0)), ("roi_hi", np.quantile(boot, 0.95, 0))]:
        table[col] = np.where(paid, src / np.where(paid, spent, 1), np.nan)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="the study's data config, conf/data/ecommerce_geo.yaml")
    p.add_argument("--holdout", type=int, default=13)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--decay", type=float, default=0.3)
    p.add_argument("--max-lag", type=int, default=8)
    p.add_argument("--fourier", type=int, default=3)
    p.add_argument("--period", type=float, default=52.1775)
    p.add_argument("--boot", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    d = load(args.data)
    panel = Panel(d, args)
    rows = folds(panel, d, args)
    penalty = panel.tuned(panel.n_time, args.holdout)
    coef = panel.fit(panel.n_time, penalty)
    check = meta(*geo_slopes(panel, panel.n_time))
    table = effects(panel, d, coef, penalty, args)
    for key in ("tau", "q", "p", "i2"):
        table[f"geo_{key}"] = check[key]
    table["geo_pooled_slope"] = check["pooled"]
    result = {"data": args.data, "decay": args.decay, "penalty_full": penalty, "folds": rows,
              **{f"mean_{m}": float(np.mean([r[m] for r in rows]))
                 for m in ("mape", "coverage_90", "random_slopes_mape", "naive_mape")}}
    publish(result, table, args.out, "baseline_log_ridge.json", "baseline_log_ridge_effects.csv")


if __name__ == "__main__":
    main()
