"""Time-series validation: which periods each fit may see, and the number a sweep optimises.

- ``validation.holdout = h``: one fit on all but the final ``h`` periods, which are forecast.
- ``validation.folds = K`` (with ``h``): rolling-origin cross-validation. Fold ``k`` (1..K) trains
  on the first ``T - (K - k + 1) h`` periods and forecasts the next ``h``; the last fold's window
  ends with the data, and its fit is the run's trace.

A fit never sees its test periods: scaling, trend knots and the likelihood use the training
window only; media, controls and seasonality in the test window are known inputs (a forecast
given the plan), the trend is held at its last fitted value.
"""

from __future__ import annotations

from typing import List

from mmm_geo.config import ValidationConfig
from mmm_geo.errors import ConfigError


def train_lengths(n_time: int, cfg: ValidationConfig, min_train: int) -> List[int]:
    """Training lengths of the fits to run, in order; the last one is the run's own fit."""
    h, k = cfg.holdout, cfg.folds
    if h < 0 or k < 0:
        raise ConfigError("validation.holdout and validation.folds must be >= 0")
    if k and not h:
        raise ConfigError("validation.folds needs validation.holdout > 0 (the periods each fold "
                          "forecasts), e.g. validation.holdout=13")
    allowed = {"auto", "fit"} | ({"holdout"} if h else set()) | ({"cv"} if k else set())
    if cfg.metric.split(".")[0] not in allowed:
        raise ConfigError(f"validation.metric={cfg.metric!r} does not exist with holdout={h}, "
                          f"folds={k}\n  fix: use auto or a path under {sorted(allowed - {'auto'})}")
    if not h:
        return [n_time]      # the data's own window check applies (mmm_geo.data.validate)
    folds = max(k, 1)
    first = n_time - folds * h
    if first < min_train:
        raise ConfigError(
            f"validation.holdout={h} with {folds} fold(s) leaves {first} training periods of "
            f"{n_time}; at least {min_train} are needed\n  fix: lower validation.holdout or "
            "validation.folds (or model.adstock.max_lag)")
    return [n_time - (folds - i) * h for i in range(folds)]


def check_trend_knots(knots: int, n_train: int) -> None:
    """A piecewise-linear trend has at most one knot per fitted period after the first."""
    if knots > n_train - 1:
        raise ConfigError(
            f"model.trend_knots={knots} needs at least {knots + 1} training periods, but the "
            f"shortest training window has {n_train}\n  fix: set model.trend_knots to at most "
            f"{n_train - 1} (e.g. model.trend_knots={n_train - 1} for one knot per week)")


def objective(metrics: dict, metric: str) -> float:
    """The ``metrics.json`` value named by the dotted path ``metric`` (``auto``: see config)."""
    if metric == "auto":
        metric = "cv.mean_mape" if "cv" in metrics else (
            "holdout.mape" if "holdout" in metrics else "fit.mape")
    node = metrics
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"validation.metric={metric!r} is not in metrics.json\n  fix: use a "
                              "dotted path such as fit.mape, holdout.mape or cv.mean_mape")
        node = node[part]
    return float(node)
