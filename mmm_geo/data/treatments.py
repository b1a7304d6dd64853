"""Non-media treatment columns (``data.treatments``): checked, laid out, and turned into the
model's inputs (``mmm_geo.model.treatments``).

In the Dataset: ``treatments`` (geo, time, treatment) in the user's units and ``treatment_kind``
(treatment) (price or promotion), only when there are treatments. The model's input of a price
is ``log(price / ref_g)``, ``ref_g`` the geo's mean price over the training periods (kept in the
run's scaling); of a promotion, its value (0/1 or an intensity).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import TreatmentColumn
from mmm_geo.data import validate as v
from mmm_geo.errors import DataError

PRICE = "price"
KINDS = (PRICE, "promotion")


def required(treatments: Dict[str, TreatmentColumn]) -> List[Tuple[str, str]]:
    """(config key, column) of every treatment, for the missing-column check; bad kinds fail."""
    out = []
    for name, t in treatments.items():
        if t.kind not in KINDS:
            raise DataError(f"data.treatments.{name}.kind={t.kind!r} is unknown\n  fix: use one of "
                            f"{', '.join(KINDS)}")
        if not t.column:
            raise DataError(f"data.treatments.{name}: no column\n  fix: give "
                            f"data.treatments.{name}.column=<the column of the table>")
        out.append((f"data.treatments.{name}.column", t.column))
    return out


def check(df: pd.DataFrame, treatments: Dict[str, TreatmentColumn], source: str) -> pd.DataFrame:
    """Numeric columns; a price must be > 0 and a promotion >= 0 (rows named otherwise)."""
    cols = [t.column for t in treatments.values()]
    df = v.check_numeric(df, list(dict.fromkeys(cols)), source)
    for t in treatments.values():
        if t.kind == PRICE:
            v.check_positive(df, [t.column], source, "price")
        else:
            v.check_nonnegative(df, [t.column], source, "promotion intensity")
    return df


def variables(grid, treatments: Dict[str, TreatmentColumn], source: str) -> Dict[str, tuple]:
    """The Dataset variables of the treatments (``grid(column)``: the column as (geo, time));
    a treatment constant over the whole panel fails (the baseline already covers it)."""
    if not treatments:
        return {}
    values = np.stack([grid(t.column) for t in treatments.values()], axis=-1)
    for k, (name, t) in enumerate(treatments.items()):
        if np.ptp(values[..., k]) == 0:
            v.fail(source, t.column,
                   f"treatment '{name}' is constant ({values.flat[k]:g}) in every row",
                   f"remove '{name}' from data.treatments (a constant cannot be measured)")
    return {"treatments": ((dims.GEO, dims.TIME, dims.TREATMENT), values),
            "treatment_kind": ((dims.TREATMENT,),
                               np.asarray([t.kind for t in treatments.values()]))}


def kinds(ds: xr.Dataset) -> Dict[str, str]:
    """name: kind of the Dataset's treatments (empty without)."""
    if "treatments" not in ds:
        return {}
    return {str(n): str(k) for n, k in zip(ds[dims.TREATMENT].values, ds["treatment_kind"].values)}


def reference(ds_train: xr.Dataset) -> Tuple[Tuple[float, ...], ...]:
    """Per geo and treatment the reference level: a price's mean over the (training) Dataset,
    0 for a promotion."""
    if "treatments" not in ds_train:
        return ()
    mean = ds_train["treatments"].mean(dims.TIME).values                  # (geo, treatment)
    price = np.asarray(ds_train["treatment_kind"].values) == PRICE
    return tuple(tuple(float(x) for x in row) for row in np.where(price[None, :], mean, 0.0))


def inputs(values: np.ndarray, kind: List[str], ref) -> np.ndarray:
    """The model's inputs ``z`` (geo, time, treatment) of treatment values in the user's units
    (same shape): ``log(price / ref)`` for prices, the value for promotions."""
    values = np.asarray(values, float)
    if values.shape[-1] == 0:
        return values
    price = np.asarray(kind) == PRICE
    ref = np.asarray(ref, float)[:, None, :]
    logs = np.log(np.where(price, values, 1.0) / np.where(price, ref, 1.0))
    return np.where(price, logs, values)


def model_inputs(ds: xr.Dataset, ref) -> np.ndarray:
    """``z`` of a Dataset's treatments (geo, time, treatment); (geo, time, 0) without any."""
    if "treatments" not in ds:
        return np.zeros((ds.sizes[dims.GEO], ds.sizes[dims.TIME], 0))
    return inputs(ds["treatments"].values, list(ds["treatment_kind"].values), ref)
