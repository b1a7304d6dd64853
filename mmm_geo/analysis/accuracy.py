"""Accuracy of a fit: in-sample and on held-out periods, next to a seasonal-naive forecast.

All metrics are over every geo x period cell of the window, in the user's KPI units:

- R^2 = 1 - SSE / SST (SST about the window's own mean);
- MAPE = mean |error| / |observed| over cells with a non-zero KPI;
- NRMSE = RMSE / mean |observed|.

The seasonal-naive forecast of a held-out period is the observed KPI one season earlier (``period``
rounded, 52 for weekly data), stepping back whole seasons until it lands in the training window;
with less than a season of training data it is the last training value. A model that cannot beat
it on the holdout has learnt nothing useful about the future.
"""

from __future__ import annotations

from typing import Dict

import arviz as az
import numpy as np

from mmm_geo import dims
from mmm_geo.data.scaling import excluded, window_end


def accuracy(obs: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """R^2, MAPE and NRMSE of ``pred`` against ``obs`` (same shape, any dims)."""
    obs, pred = np.asarray(obs, float), np.asarray(pred, float)
    resid = obs - pred
    sst = ((obs - obs.mean()) ** 2).sum()
    nonzero = obs != 0
    return {
        "r2": float(1 - (resid ** 2).sum() / sst) if sst > 0 else float("nan"),
        "mape": float(np.mean(np.abs(resid[nonzero] / obs[nonzero]))),
        "nrmse": float(np.sqrt(np.mean(resid ** 2)) / np.mean(np.abs(obs))),
    }


def seasonal_naive(y: np.ndarray, n_train: int, period: int = 52) -> np.ndarray:
    """Seasonal-naive forecast of periods ``n_train ..`` of ``y`` (geo, time) from the first
    ``n_train`` periods; returns (geo, time - n_train)."""
    t = np.arange(n_train, y.shape[-1])
    if n_train < period:
        return np.repeat(y[..., n_train - 1:n_train], t.size, axis=-1)
    back = period * np.ceil((t - n_train + 1) / period).astype(int)
    return y[..., t - back]


def prediction(idata: az.InferenceData) -> np.ndarray:
    """Posterior predictive mean of the KPI, (geo, time)."""
    pp = idata.posterior_predictive["kpi"].mean(dim=(dims.CHAIN, dims.DRAW))
    return pp.transpose(dims.GEO, dims.TIME).values


def train_mask(idata: az.InferenceData) -> np.ndarray:
    """Bool (time,): the periods the fit saw (all, for traces without a ``train`` mask)."""
    cd = idata.constant_data
    n_time = idata.observed_data.sizes[dims.TIME]
    return cd["train"].values.astype(bool) if "train" in cd else np.ones(n_time, bool)


def holdout_mask(idata: az.InferenceData) -> np.ndarray:
    """Bool (time,): the held-out periods, after the training window and not excluded."""
    return ~train_mask(idata) & ~excluded(idata.constant_data)


def fit_window(idata: az.InferenceData) -> int:
    """The length of the fit's training window (its excluded periods included)."""
    return window_end(train_mask(idata), excluded(idata.constant_data))


def fit_metrics(idata: az.InferenceData, period: float = 52.0) -> Dict[str, Dict[str, float]]:
    """``{"fit": in-sample metrics}``, plus ``{"holdout": ...}`` when periods were held out.

    The holdout entry has the model's R^2, MAPE and NRMSE on the held-out periods, the same for
    the seasonal-naive forecast (``naive_*``) and the number of ``periods``. Excluded periods
    (``data.exclude``) enter neither.
    """
    obs = idata.observed_data["kpi"].transpose(dims.GEO, dims.TIME).values
    pred = prediction(idata)
    train, hold = train_mask(idata), holdout_mask(idata)
    out = {"fit": accuracy(obs[:, train], pred[:, train])}
    if hold.any():
        n_fit = fit_window(idata)
        naive = seasonal_naive(obs, n_fit, int(round(period)))[:, hold[n_fit:]]
        out["holdout"] = {"periods": int(hold.sum()), **accuracy(obs[:, hold], pred[:, hold]),
                          **{f"naive_{k}": v for k, v in accuracy(obs[:, hold], naive).items()}}
    return out
