"""Invertible scaling of a Dataset into the O(1) arrays the model sees.

- KPI: per capita, divided by its overall mean, so the scaled KPI averages 1.
- Media exposure: per capita, divided by the channel's mean non-zero per-capita value, so 1.0 is
  a typical week of that channel.
- Controls: centred and divided by their standard deviation.

The scaling is saved with every run (``scaling.json``) so each reported number is in user units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import numpy as np
import xarray as xr

from mmm_geo import dims
from mmm_geo.data import treatments as tr
from mmm_geo.data.lift import LiftData, lift_data


class ModelData(NamedTuple):
    """Arrays the model is a function of (a pytree; float32 unless x64 is on).

    Attributes:
        y: scaled KPI, (geo, time).
        media: scaled exposure, (geo, time, channel).
        controls: standardised controls, (geo, time, control).
        trend: trend basis, (time, knot); see ``mmm_geo.model.hierarchical.trend_basis``.
        season: Fourier basis, (time, 2 * order).
        train: True for the periods the likelihood sees, (time,): the training window less the
            excluded periods (``data.exclude``); the periods after the window are held out.
        revenue_weight: revenue per unit of scaled KPI in each training cell over the training
            window's total revenue, (geo, time); 0 in held-out periods (``mmm_geo.model.media``).
        spend_share: each channel's training-window spend over that total revenue, (channel,).
        kpi_unit: KPI units per unit of scaled KPI in each geo, (geo,) (count likelihoods).
        lift: lift tests measured in the training periods (``mmm_geo.data.lift``), or None.
        treatments: non-media treatment inputs (``mmm_geo.data.treatments``), (geo, time,
            treatment); None: none.
        priors: priors that replace the configured ones, ``{site: (loc, scale)}``
            (``mmm_geo.model.site_priors``; a refresh's previous posterior); None: none.
        frequency: the average frequency of reach & frequency channels, (geo, time, channel);
            1 for the other channels and where a channel reached no one (its exposure is 0
            there, so the value does not matter); None: no such channel.
        seen: the first ``seen`` periods are already in the priors (a refresh's previous
            window, ``mmm_geo.refresh``): the likelihood leaves them out
            (``mmm_geo.model.site_priors.observed``).
    """

    y: np.ndarray
    media: np.ndarray
    controls: np.ndarray
    trend: np.ndarray
    season: np.ndarray
    train: np.ndarray
    revenue_weight: np.ndarray
    spend_share: np.ndarray
    kpi_unit: np.ndarray
    lift: Optional[LiftData] = None
    treatments: Optional[np.ndarray] = None
    priors: Optional[dict] = None
    frequency: Optional[np.ndarray] = None
    seen: int = 0


@dataclass(frozen=True)
class Scaling:
    """Scale factors, all in user units; see the module docstring."""

    kpi_scale: float
    media_scale: Tuple[float, ...]
    control_mean: Tuple[float, ...]
    control_std: Tuple[float, ...]
    treatment_ref: Tuple[Tuple[float, ...], ...] = ()   # (geo, treatment): mean training price

    def to_json(self, path: Path) -> None:
        """Write as JSON (callers write atomically)."""
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def from_json(cls, path: Path) -> "Scaling":
        """Read what :meth:`to_json` wrote."""
        raw = json.loads(Path(path).read_text())
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def excluded(ds: xr.Dataset) -> np.ndarray:
    """Bool (time,): the periods excluded from the fit (``data.exclude``) of a Dataset (or a
    trace's ``constant_data``); none when it has no ``excluded`` variable."""
    return (ds["excluded"].values.astype(bool) if "excluded" in ds
            else np.zeros(ds.sizes[dims.TIME], bool))


def window_end(train: np.ndarray, excluded_periods: np.ndarray) -> int:
    """The length of the training window of a ``train`` mask: the first held-out period (neither
    trained on nor excluded), or all periods when none is held out."""
    held_out = np.flatnonzero(~np.asarray(train, bool) & ~np.asarray(excluded_periods, bool))
    return int(held_out[0]) if held_out.size else len(train)


def fit_scaling(ds: xr.Dataset) -> Scaling:
    """Compute the scale factors of a Dataset (see module docstring) over its periods that are
    not excluded."""
    ds = ds.isel({dims.TIME: np.flatnonzero(~excluded(ds))})
    pop = ds["population"]
    kpi_pc = ds["kpi"] / pop
    expo_pc = (ds["exposure"] / pop).transpose(..., "channel").values.reshape(-1, ds.sizes["channel"])
    media_scale = [float(col[col > 0].mean()) for col in expo_pc.T]
    ctrl = ds["controls"].transpose(..., "control").values
    ctrl = ctrl.reshape(int(np.prod(ctrl.shape[:-1])), ctrl.shape[-1])   # (rows, control); 0 controls ok
    return Scaling(
        kpi_scale=float(kpi_pc.mean()),
        media_scale=tuple(media_scale),
        control_mean=tuple(float(x) for x in ctrl.mean(axis=0)),
        control_std=tuple(float(x) for x in ctrl.std(axis=0)),
        treatment_ref=tr.reference(ds),
    )


def model_data(ds: xr.Dataset, s: Scaling, dtype=np.float32, bases: Tuple[np.ndarray, ...] = (),
               n_train: Optional[int] = None, seen: int = 0) -> ModelData:
    """Scale a Dataset into :class:`ModelData`.

    ``bases`` is (trend, season) from ``mmm_geo.model.hierarchical.time_bases`` (empty: no trend or
    seasonality terms, enough for media-only analysis); ``n_train`` the length of the training
    window (None: all); the likelihood sees its periods that are not excluded, and lift tests
    measured in any other period are left out; ``seen`` the periods already in the priors
    (:attr:`ModelData.seen`; lift tests measured only in them are left out too).
    """
    pop = ds["population"].values[:, None]
    n_time = ds.sizes["time"]
    y = ds["kpi"].values / pop / s.kpi_scale
    media = ds["exposure"].values / pop[..., None] / np.asarray(s.media_scale)
    controls = (ds["controls"].values - np.asarray(s.control_mean)) / np.asarray(s.control_std)
    trend, season = bases or (np.zeros((n_time, 0)), np.zeros((n_time, 0)))
    n_train = n_time if n_train is None else n_train
    train = (np.arange(n_time) < n_train) & ~excluded(ds)
    lift = lift_data(ds, lambda spend: exposure_scaled(spend, ds, s), s.kpi_scale, train, dtype,
                     seen)
    kpi_unit = s.kpi_scale * ds["population"].values
    revenue = kpi_unit[:, None] * ds["revenue_per_kpi"].values * train[None, :]
    total_revenue = float((revenue * y).sum())
    spend_share = ds["spend"].values[:, train].sum(axis=(0, 1)) / total_revenue
    arrays = (y, media, controls, trend, season)
    return ModelData(*(a.astype(dtype) for a in arrays), train, (revenue / total_revenue).astype(dtype),
                     spend_share.astype(dtype), kpi_unit.astype(dtype), lift,
                     tr.model_inputs(ds, s.treatment_ref).astype(dtype),
                     frequency=frequency(ds, dtype), seen=seen)


def frequency(ds: xr.Dataset, dtype=np.float32) -> Optional[np.ndarray]:
    """The :class:`ModelData` frequency of a Dataset (None without reach & frequency channels)."""
    if "frequency" not in ds:
        return None
    f = ds["frequency"].transpose(dims.GEO, dims.TIME, dims.CHANNEL).values
    return np.where(np.isfinite(f) & (f > 0), f, 1.0).astype(dtype)


def kpi_units(scaled: np.ndarray, ds: xr.Dataset, s: Scaling) -> np.ndarray:
    """Scaled KPI (..., geo, time) -> the user's KPI units (inverse of the KPI scaling)."""
    return np.asarray(scaled) * s.kpi_scale * ds["population"].values[:, None]


def exposure_scaled(spend: np.ndarray, ds: xr.Dataset, s: Scaling) -> np.ndarray:
    """Spend (..., geo, time, channel) -> scaled exposure at the data's cost per exposure.

    Where a channel had no spend in the data, its cost per exposure is the channel average.
    """
    sp, ex = ds["spend"].values, ds["exposure"].values
    channel_cpe = sp.sum(axis=(0, 1)) / np.maximum(ex.sum(axis=(0, 1)), 1e-30)
    cpe = np.where(ex > 0, sp / np.where(ex > 0, ex, 1.0), channel_cpe)
    pop = ds["population"].values[:, None, None]
    return np.asarray(spend) / cpe / pop / np.asarray(s.media_scale)
