"""Treatment changes in a scenario (``mmm-geo forecast treatments.<name>=...``).

The treatments over a horizon (``mmm_geo.data.treatments``) are the recorded ones where the data
have them (a historical window, and the periods before the horizon whose media carry over);
after the data, a price stays at the geo's mean training price (the reference) and there is no
promotion. A change applies over the horizon:

- a price: ``"+5%"`` or ``"-3%"``, every horizon period's price times 1.05 or 0.97;
- a promotion: ``{off: [dates]}`` and/or ``{on: [dates]}`` (dates of the horizon), or ``off`` /
  ``on`` for the whole horizon; ``on`` is a full promotion (intensity 1).

Media stay additive (``mmm_geo.model.treatments``), so treatment changes move the KPI but not
the media's incremental return: the optimizer's best mix does not depend on them.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import numpy as np
import pandas as pd

from mmm_geo import dims
from mmm_geo.data.treatments import PRICE, inputs, kinds
from mmm_geo.errors import ConfigError

PERCENT = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)\s*%\s*$")
SWITCHES = ("off", "on")


def _fail(problem: str, fix: str) -> None:
    raise ConfigError(f"{problem}\n  fix: {fix}")


def _dates(name: str, value: Any, horizon: List[str]) -> List[int]:
    """Horizon positions of a list of dates (or every one for ``all``)."""
    if isinstance(value, str) and value == "all":
        return list(range(len(horizon)))
    wanted = [str(pd.Timestamp(str(d)).date()) for d in (value if isinstance(value, (list, tuple))
                                                         else [value])]
    missing = [d for d in wanted if d not in horizon]
    if missing:
        _fail(f"treatments.{name}: {missing} are not periods of the horizon "
              f"({horizon[0]} .. {horizon[-1]})", "give dates of the horizon, e.g. "
              f"treatments.{name}.off=[{horizon[0]}]")
    return [horizon.index(d) for d in wanted]


def check(changes: Dict[str, Any], treatment_kinds: Dict[str, str]) -> None:
    """Names of the run's treatments, with a change of their kind's form."""
    for name, value in changes.items():
        if name not in treatment_kinds:
            _fail(f"treatments.{name}: the run has no such treatment (it has "
                  f"{sorted(treatment_kinds) or 'none'})", "name one of the fitted treatments")
        if treatment_kinds[name] == PRICE:
            if not (isinstance(value, str) and PERCENT.match(value)):
                _fail(f"treatments.{name}={value!r}: a price change is a percentage",
                      f"e.g. treatments.{name}=+5%")
        elif not (value in SWITCHES
                  or isinstance(value, dict) and value and set(value) <= set(SWITCHES)):
            _fail(f"treatments.{name}={value!r}: a promotion is switched off or on in dates",
                  f"e.g. treatments.{name}.off=[2027-01-04] or treatments.{name}=off")


def describe(changes: Dict[str, Any]) -> str:
    """A short label of the changes, for the scenario's name."""
    parts = []
    for name, value in changes.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {len(v) if isinstance(v, (list, tuple)) else v}"
                              + (" periods" if isinstance(v, (list, tuple)) else "")
                              for k, v in value.items())
        parts.append(f"{name} {value}")
    return "; ".join(parts)


def window(run, offset: int, n_pre: int, horizon: List[str], changes: Dict[str, Any]) -> np.ndarray:
    """The model's treatment inputs (geo, n_pre + H, treatment) over the ``n_pre`` periods before
    the horizon and the horizon (``offset``: its first period's index on the data's calendar),
    with ``changes`` applied (module docstring)."""
    ds, ref = run.ds, run.scaling.treatment_ref
    named = kinds(ds)
    n_geo, n = ds.sizes[dims.GEO], n_pre + len(horizon)
    if not named:
        return np.zeros((n_geo, n, 0))
    idx = np.arange(offset - n_pre, offset + len(horizon))
    inside = (idx >= 0) & (idx < ds.sizes[dims.TIME])
    default = np.asarray(ref, float)[:, None, :]         # price: the reference; promotion: 0
    values = np.broadcast_to(default, (n_geo, n, len(named))).copy()
    values[:, inside] = ds["treatments"].values[:, idx[inside]]
    for name, value in changes.items():
        k = list(named).index(name)
        if named[name] == PRICE:
            values[:, n_pre:, k] *= 1 + float(PERCENT.match(value).group(1)) / 100
            continue
        spec = value if isinstance(value, dict) else {value: "all"}
        for switch, dates in spec.items():
            at = n_pre + np.asarray(_dates(name, dates, horizon), int)
            values[:, at, k] = 1.0 if switch == "on" else 0.0
    return inputs(values, list(named.values()), ref)
