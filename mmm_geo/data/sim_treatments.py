"""Simulated non-media treatments with known truth (``simulation.treatments``).

Plain NumPy, written apart from ``mmm_geo.model.treatments``. For geo g and week t the mean
KPI ``base[g,t]`` (baseline, trend, seasonality, controls and media) is multiplied by

    T[g,t] = (price[g,t] / ref_g) ** e_g * (1 + lift_g) ** promo[g,t]

with ``ref_g`` the geo's mean price over the panel; ``e_g`` is normal around
``price_elasticity`` and ``log(1 + lift_g)`` around ``log(1 + promo_lift)``, both with sd
``treatment_geo_sd`` (0: the same in every geo). Price: a level per geo with a slow random
drift and discount weeks; promotion: 0/1 weeks drawn per geo. Drawn from their own random
stream, so the rest of the panel is the same with or without them.

The truth holds the elasticity, the lift (per geo too) and each treatment's revenue
contribution: ``base (T - 1)`` split in proportion to the treatments' log multipliers (the
model's decomposition, ``mmm_geo.model.treatments``). Media's truth (ROI, contributions) is
stated at the reference price without promotions, as the model's.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from mmm_geo.config import SimulationConfig, TreatmentColumn
from mmm_geo.errors import ConfigError

COLUMNS = {"price": ("price", "avg_price"),            # kind: (treatment name, column)
           "promotion": ("promotion", "promotion")}


def check(cfg: SimulationConfig) -> None:
    """Known kinds, a lift above -100 % and a spread >= 0."""
    bad = sorted(set(cfg.treatments) - set(COLUMNS))
    if bad or cfg.promo_lift <= -1 or cfg.treatment_geo_sd < 0:
        raise ConfigError(f"simulation.treatments={list(cfg.treatments)}, "
                          f"promo_lift={cfg.promo_lift}, "
                          f"treatment_geo_sd={cfg.treatment_geo_sd}\n  fix: list kinds of "
                          f"{sorted(COLUMNS)}, with promo_lift > -1 and treatment_geo_sd >= 0")


def data_columns(cfg: SimulationConfig) -> Dict[str, TreatmentColumn]:
    """``data.treatments`` of the simulated table."""
    return {COLUMNS[k][0]: TreatmentColumn(column=COLUMNS[k][1], kind=k) for k in cfg.treatments}


def draw(cfg: SimulationConfig, geos: List[str], base_pc: np.ndarray,
         pop: np.ndarray) -> Tuple[np.ndarray, dict, dict]:
    """The multiplier ``T`` (geo, week), the table's columns and the truth of the treatments of
    ``cfg`` on a panel with mean KPI per capita ``base_pc`` (before the treatments)."""
    g, t = base_pc.shape
    if not cfg.treatments:
        return np.ones((g, t)), {}, {}
    rng = np.random.default_rng([cfg.seed, 6])
    logs, columns, truth = [], {}, {}
    for kind in cfg.treatments:
        name, column = COLUMNS[kind]
        if kind == "price":
            level = rng.uniform(5.0, 15.0, size=(g, 1))
            drift = np.cumsum(rng.normal(0, 0.02, size=(g, t)), axis=1)
            on_sale = rng.uniform(size=(g, t)) < 0.12
            discount = np.where(on_sale, rng.uniform(0.8, 0.92, (g, t)), 1.0)
            value = level * np.exp(drift - drift.mean(1, keepdims=True)) * discount
            coef = cfg.price_elasticity + cfg.treatment_geo_sd * rng.normal(size=g)
            z = np.log(value / value.mean(1, keepdims=True))
            truth[name] = {"kind": kind, "elasticity": cfg.price_elasticity,
                           "elasticity_geo": dict(zip(geos, coef.tolist()))}
        else:
            value = (rng.uniform(size=(g, t)) < 0.15).astype(float)
            coef = np.log1p(cfg.promo_lift) + cfg.treatment_geo_sd * rng.normal(size=g)
            z = value
            truth[name] = {"kind": kind, "lift": cfg.promo_lift,
                           "lift_geo": dict(zip(geos, np.expm1(coef).tolist()))}
        columns[column] = value.ravel()
        logs.append(coef[:, None] * z)
    each = np.stack(logs, -1)                       # (geo, week, treatment)
    total = each.sum(-1)
    mult = np.exp(total)
    ratio = np.where(np.abs(total) > 1e-12, np.expm1(total) / np.where(total == 0, 1, total), 1.0)
    contribution = (base_pc * ratio * pop[:, None])[..., None] * each
    for k, name in enumerate(truth):
        truth[name]["contribution"] = float(contribution[..., k].sum())
    return mult, columns, truth
