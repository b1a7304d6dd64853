"""Scenario planner: mixes the user describes, as cell totals (geo x channel) over the horizon.

A scenario is a string of one or more steps separated by ``;``, applied in order to the current mix
(the historical mix scaled to the budget):

- ``move 10% tv to social``: move 10 % of the channel's spend in every geo to the other channel in
  the same geo (geo totals unchanged);
- ``+10% total`` / ``-5% total``: scale every cell;
- ``+20% search`` / ``-50% tv``: scale one channel;
- ``tv=500000, social=200000``: set channel totals (split across geos like the history);
  channels not named keep their spend;
- ``plans/q3.csv``: a table with columns ``channel, spend`` (every channel) or ``geo, channel,
  spend`` (cells not listed get 0).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd

from mmm_geo.errors import ConfigError
from mmm_geo.optimize.problem import Problem

_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_MOVE = re.compile(rf"^move\s+{_NUM}\s*%\s+(\S+)\s+to\s+(\S+)$", re.I)
_SCALE = re.compile(rf"^([+-])\s*{_NUM}\s*%\s+(\S+)$", re.I)
_SET = re.compile(r"^\s*[^=,\s]+\s*=\s*[^=,]+(\s*,\s*[^=,\s]+\s*=\s*[^=,]+)*\s*$")

FORMS = ("'move 10% tv to social', '+10% total', '-20% tv', 'tv=500000,social=200000', "
         "or a CSV path")


def _bad(spec: str, problem: str) -> None:
    raise ConfigError(f"scenario {spec!r}: {problem}\n  fix: write one of {FORMS}; join steps "
                      "with ';'")


def _channel(name: str, problem: Problem, spec: str) -> int:
    known = list(problem.channels)
    if name not in known:
        _bad(spec, f"{name!r} is not a channel of the run (channels: {', '.join(known)})")
    return known.index(name)


def _amount(text: str, spec: str) -> float:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        _bad(spec, f"{text!r} is not a non-negative amount")
    return value


def _table(path: str, problem: Problem, spec: str) -> np.ndarray:
    """A CSV plan -> cell totals (G, C)."""
    if not Path(path).is_file():
        _bad(spec, f"file {path} not found")
    frame = pd.read_csv(path)
    cols = set(frame.columns)
    if not {"channel", "spend"} <= cols:
        _bad(spec, f"{path} needs columns channel and spend (and optionally geo); it has "
                   f"{', '.join(map(str, frame.columns))}")
    cells = np.zeros(problem.reference.shape)
    geos = list(problem.geos)
    for row in frame.itertuples(index=False):
        j = _channel(str(row.channel), problem, spec)
        amount = _amount(str(row.spend), spec)
        if "geo" in cols:
            if str(row.geo) not in geos:
                _bad(spec, f"geo {row.geo!r} in {path} is not a geo of the run")
            cells[geos.index(str(row.geo)), j] += amount
        else:
            cells[:, j] += amount * problem.geo_share[:, j]
    if "geo" not in cols:
        missing = sorted(set(problem.channels) - set(frame["channel"].astype(str)))
        if missing:
            _bad(spec, f"{path} leaves out channel(s) {', '.join(missing)}; list every channel")
    return cells


def _step(step: str, cells: np.ndarray, problem: Problem, spec: str) -> np.ndarray:
    cells = cells.copy()
    if step.lower().endswith(".csv"):
        return _table(step, problem, spec)
    if m := _MOVE.match(step):
        share, a, b = float(m.group(1)) / 100, _channel(m.group(2), problem, spec), _channel(
            m.group(3), problem, spec)
        if not 0 < share <= 1:
            _bad(spec, f"cannot move {m.group(1)}% of a channel (use more than 0 and at most 100)")
        moved = share * cells[:, a]
        cells[:, a] -= moved
        cells[:, b] += moved
        return cells
    if m := _SCALE.match(step):
        factor = 1 + (1 if m.group(1) == "+" else -1) * float(m.group(2)) / 100
        if factor < 0:
            _bad(spec, "a cut of more than 100% leaves negative spend")
        if m.group(3).lower() == "total":
            return cells * factor
        cells[:, _channel(m.group(3), problem, spec)] *= factor
        return cells
    if _SET.match(step):
        for part in step.split(","):
            name, value = (s.strip() for s in part.split("="))
            j = _channel(name, problem, spec)
            cells[:, j] = _amount(value, spec) * problem.geo_share[:, j]
        return cells
    _bad(spec, f"cannot read {step!r}")
    return cells


def scenario_cells(spec: str, current: np.ndarray, problem: Problem) -> np.ndarray:
    """Apply the steps of ``spec`` to the current mix ``current`` (G, C); returns cells (G, C)."""
    steps = [s.strip() for s in str(spec).split(";") if s.strip()]
    if not steps:
        _bad(spec, "it is empty")
    cells = np.asarray(current, dtype=float)
    for step in steps:
        cells = _step(step, cells, problem, spec)
    return cells


def scenario_plans(specs: List[str], current: np.ndarray,
                   problem: Problem) -> Dict[str, np.ndarray]:
    """Every scenario of ``specs`` by its text, each cells (G, C); duplicates are errors."""
    plans: Dict[str, np.ndarray] = {}
    for spec in specs:
        if spec in plans or spec in ("current", "recommended"):
            raise ConfigError(f"scenario {spec!r} is given twice (or uses a reserved name)\n  fix: "
                              "list each scenario once")
        plans[spec] = scenario_cells(spec, current, problem)
    return plans
