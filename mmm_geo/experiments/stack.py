"""``mmm-geo compare ... --stack``: stacking weights and the stacked posterior of saved runs.

The weights are ``arviz.compare(..., method="stacking")`` over the runs' PSIS-LOO
(:func:`mmm_geo.experiments.compare.loo_compare`), so only runs fitted to the same observations
stack. The stacked posterior of ROI, marginal ROI and contribution per channel resamples each
run's saved per-draw values (``trace.nc``, computed at fit time by
``mmm_geo.analysis.roi.channel_metrics``) in proportion to its weight (``mmm_geo.analysis.stack``).

Files written next to the comparison (``--out``): ``stack.json`` (the members, weights and the
draws each contributes: ``mmm-geo optimize run=<that folder>`` plans over it),
``stack_weights.csv`` (one row per run) and ``stacked.csv`` (each model's and the stacked
median, mean and 90 % interval, one row per model x metric x channel).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

import pandas as pd

from mmm_geo import dims
from mmm_geo.analysis import stack as st
from mmm_geo.analysis.draws import n_samples
from mmm_geo.errors import ConfigError
from mmm_geo.experiments import compare, store
from mmm_geo.inference.trace import atomic_write

WEIGHTS = "stack_weights.csv"
TABLE = "stacked.csv"
NAMES = {"roi": "ROI", "mroi": "mROI", "contribution": "contribution"}


class Stacked(NamedTuple):
    """A computed stack: its record, the weights table and the answers table."""

    stack: st.Stack
    weights: pd.DataFrame
    answers: pd.DataFrame


def _channels(values) -> List[str]:
    return [str(c) for c in values.coords[dims.CHANNEL].values]


def build(entries: Sequence[compare.Entry], table: pd.DataFrame, n_draws: Optional[int] = None,
          seed: int = 0, prob: float = 0.9) -> Stacked:
    """Stack the complete runs among ``entries`` (``table`` is their comparison, for the labels).

    Args:
        entries: the runs' comparison entries (runs without a LOO result are left out).
        table: :func:`mmm_geo.experiments.compare.rank` of ``entries``.
        n_draws: stacked draws in all (None: as many as the run with the fewest draws has).
        seed: seed of the resampling.
        prob: the central interval of the answers.

    Raises:
        ConfigError: fewer than two complete runs, different observations or channels, or a run
            without per-draw ROI.
    """
    scored = [e for e in entries if e.loo is not None]
    if len(scored) < 2:
        raise ConfigError(f"--stack needs at least two complete runs, got {len(scored)}\n  fix: "
                          "give the run folders (or experiment folder) of two or more "
                          "finished fits")
    given = [e.row["path"] for e in scored]
    paths = [str(Path(p).resolve()) for p in given]         # absolute: the optimizer finds them
    cmp = compare.loo_compare(scored).loc[given].set_axis(paths)
    by_path = dict(zip(table["path"], table["label"]))
    shown = [by_path[p] for p in given]
    labels = {p: lab if shown.count(lab) == 1 else f"{lab} ({p})" for p, lab in zip(paths, shown)}
    values = [compare.posterior_small(Path(p) / "trace.nc") for p in paths]
    for path, v in zip(paths, values):
        missing = [m for m in st.METRICS if m not in v]
        if missing:
            raise ConfigError(f"{path}: the trace has no per-draw {', '.join(missing)}\n  fix: "
                              "re-fit it with this version of mmm_geo")
        if _channels(v) != _channels(values[0]):
            raise ConfigError(f"the runs model different channels ({paths[0]}: "
                              f"{_channels(values[0])}, {path}: {_channels(v)}), so their "
                              "answers cannot be averaged\n  fix: stack runs of the same channels")
    values = [v[list(st.METRICS)] for v in values]
    weights = [float(cmp.loc[p, "weight"]) for p in paths]
    sizes = [n_samples(v) for v in values]
    n = min(sizes) if n_draws is None else n_draws
    ids = st.resample(sizes, weights, n, seed)
    members = tuple(st.Member(e.row["run"], p, labels[p], w, tuple(int(i) for i in d), s,
                              str((store.read_metrics(Path(p)) or {}).get("config_hash", "")))
                    for e, p, w, d, s in zip(scored, paths, weights, ids, sizes))
    stack = st.Stack(members, int(seed), str(scored[0].data_key))
    weight_table = pd.DataFrame({
        "run": [m.run for m in members], "label": [m.label for m in members], "path": paths,
        "weight": weights, "stacked_draws": [len(d) for d in ids], "posterior_draws": sizes,
        **{c: [float(cmp.loc[p, c]) for p in paths] for c in ("elpd_loo", "elpd_diff", "dse")}})
    answers = st.answers({m.label: v for m, v in zip(members, values)},
                         st.stacked(values, ids), {m.label: m.weight for m in members}, prob)
    return Stacked(stack, weight_table, answers)


def write(result: Stacked, out_dir: Path) -> List[Path]:
    """Write ``stack.json``, ``stack_weights.csv`` and ``stacked.csv`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in ((WEIGHTS, result.weights), (TABLE, result.answers)):
        atomic_write(out_dir / name, lambda p, f=frame: f.to_csv(p, index=False))
        paths.append(out_dir / name)
    return paths + [st.write_stack(result.stack, out_dir)]


def channel_table(answers: pd.DataFrame) -> pd.DataFrame:
    """The answers for a page: one row per model (the stack last) with its weight and, per metric
    and channel, the median and interval."""
    lo, hi = [c for c in answers.columns if c[:1] == "p" and c[1:].replace(".", "").isdigit()]
    rows = []
    for model, block in answers.groupby("model", sort=False):
        w = block["weight"].iloc[0]
        row = {"model": model, "weight": "" if pd.isna(w) else f"{w:.3f}"}
        for r in block.itertuples():
            fmt = ",.0f" if r.metric == "contribution" else ".2f"
            row[f"{NAMES[r.metric]} {r.channel}"] = (f"{r.median:{fmt}} [{getattr(r, lo):{fmt}}, "
                                                     f"{getattr(r, hi):{fmt}}]")
        rows.append(row)
    return pd.DataFrame(rows)
