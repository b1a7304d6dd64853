"""Model stacking: the stacked posterior of several runs fitted to the same observations.

Stacking (Yao, Vehtari, Simpson and Gelman 2018) weights the runs so that the mixture of their
leave-one-out predictive densities predicts best; the weights come from ``arviz.compare(...,
method="stacking")`` over each run's PSIS-LOO (``mmm_geo.experiments.compare.loo_compare``).

The stacked posterior is a mixture of the runs' posteriors: of ``n`` stacked draws, each run
contributes its weight's share (rounded by largest remainder, so every count is within one draw of
``weight * n``), drawn from its own posterior by a generator seeded by ``seed`` (without
replacement; with replacement only where a run's share exceeds its number of draws). Any per-draw
quantity of the members (ROI, marginal ROI, contribution, or the model's parameters for the
optimizer) then has a stacked posterior: the members' values at those draws, concatenated.

A comparison folder that holds a stack has ``stack.json`` (:class:`Stack`: the members, their
weights and, per member, the flat chain x draw indices of its stacked draws, in stacked order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.analysis.draws import SAMPLE
from mmm_geo.analysis.roi import interval_table
from mmm_geo.errors import ConfigError, RunError
from mmm_geo.inference.trace import atomic_write

STACK = "stack.json"                # the stack record of a comparison folder
METRICS = ("roi", "mroi", "contribution")
STACKED = "stacked"                 # the model label of the stacked answer


class Member(NamedTuple):
    """One run of a stack.

    Attributes:
        run: the run folder's name; path: its path; label: its comparison label.
        weight: its stacking weight.
        draws: flat (chain x draw) indices of its posterior draws in the stacked posterior.
        samples: its number of posterior draws (chains x draws) when the stack was built.
        config_hash: its ``metrics.json`` config hash when the stack was built.
    """

    run: str
    path: str
    label: str
    weight: float
    draws: Tuple[int, ...]
    samples: int
    config_hash: str


class Stack(NamedTuple):
    """The members of a stack (in stacked-draw order), the seed of the resampling and the
    fingerprint of the observations they were fitted to."""

    members: Tuple[Member, ...]
    seed: int
    data_key: str


def allocate(weights: Sequence[float], n: int) -> np.ndarray:
    """Draw counts proportional to ``weights`` that sum to ``n`` (largest remainder; ties go to
    the earlier member). Negative rounding noise in the weights counts as zero."""
    w = np.clip(np.asarray(weights, float), 0.0, None)
    if n < 1 or not np.isfinite(w).all() or w.sum() <= 0:
        raise ConfigError(f"cannot split {n} stacked draws by the weights {list(weights)}\n  fix: "
                          "give --stack-draws >= 1 and runs with a finite ELPD-LOO")
    exact = w / w.sum() * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def resample(sizes: Sequence[int], weights: Sequence[float], n: int, seed: int) -> list:
    """Per member, the sorted flat indices of its stacked draws (see the module docstring)."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(size, size=k, replace=bool(k > size)))
            for size, k in zip(sizes, allocate(weights, n))]


def take(values: xr.Dataset, ids: np.ndarray) -> xr.Dataset:
    """The draws ``ids`` (flat chain x draw indices) of ``values``, laid out (chain=1, draw)."""
    flat = values.stack(sample=SAMPLE).transpose("sample", ...).isel(sample=np.asarray(ids, int))
    flat = flat.drop_vars(["sample", *SAMPLE]).rename(sample=dims.DRAW)
    return flat.assign_coords({dims.DRAW: np.arange(len(ids))}).expand_dims({dims.CHAIN: [0]})


def stacked(members: Sequence[xr.Dataset], ids: Sequence[np.ndarray]) -> xr.Dataset:
    """The stacked posterior of the members' per-draw values: their draws ``ids`` concatenated,
    (chain=1, draw), with the index of the member each draw came from as coord ``member``."""
    parts = [take(m, i) for m, i in zip(members, ids)]
    out = xr.concat(parts, dim=dims.DRAW, join="exact")
    owner = np.repeat(np.arange(len(parts)), [len(i) for i in ids])
    return out.assign_coords({dims.DRAW: np.arange(len(owner)), "member": (dims.DRAW, owner)})


def answers(members: Dict[str, xr.Dataset], stack: xr.Dataset, weights: Dict[str, float],
            prob: float = 0.9) -> pd.DataFrame:
    """Each model's and the stacked posterior median, mean and central ``prob`` interval of ROI,
    marginal ROI and contribution per channel (``mmm_geo.analysis.roi.interval_table``), one row
    per model x metric x channel; ``weight`` is the model's stacking weight (NaN for the stack)."""
    frames = [interval_table(values, METRICS, prob).assign(model=label, weight=weights[label])
              for label, values in members.items()]
    frames.append(interval_table(stack, METRICS, prob).assign(model=STACKED, weight=np.nan))
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "weight", *[c for c in out.columns if c not in ("model", "weight")]]]


def write_stack(stack: Stack, folder: Path) -> Path:
    """Write ``stack.json`` into ``folder`` atomically."""
    record = {"method": "stacking", "seed": stack.seed, "data_key": stack.data_key,
              "members": [m._replace(draws=[int(i) for i in m.draws])._asdict()
                          for m in stack.members]}
    path = Path(folder) / STACK
    atomic_write(path, lambda p: p.write_text(json.dumps(record)))
    return path


def read_stack(folder: Path) -> Optional[Stack]:
    """The stack of a comparison folder, or None when it holds none; RunError when unreadable."""
    path = Path(folder) / STACK
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        members = tuple(Member(**{**m, "draws": tuple(int(i) for i in m["draws"])})
                        for m in raw["members"])
        return Stack(members, int(raw["seed"]), str(raw["data_key"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunError(f"{path}: unreadable stack ({type(err).__name__}: {str(err)[:120]})\n  fix: "
                       "re-run mmm-geo compare <runs> --stack --out <this folder>") from None
