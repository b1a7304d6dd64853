"""``mmm-geo compare``: print the ranked comparison and write CSV, HTML and an ROI forest plot.

    mmm-geo compare experiments/<name>                # every run folder of an experiment
    mmm-geo compare RUN_DIR RUN_DIR ... [--out DIR] [--rank-by auto|loo|holdout|cv|objective]
    mmm-geo compare RUN_DIR RUN_DIR ... --stack [--stack-draws N] [--seed S]

Files go to ``--out`` (default: ``<experiment>/compare/`` for one experiment folder, else
``./compare/``): ``compare.csv`` (every number, one row per run), ``compare.html`` (the table, the
notes and the plot) and ``roi_forest.png``; with ``--stack`` also the model average
(``mmm_geo.experiments.stack``): ``stack.json``, ``stack_weights.csv`` and ``stacked.csv``, and a
model-averaging section on the page.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import textwrap
from pathlib import Path
from typing import List, Optional, Sequence

import pandas as pd

from mmm_geo.experiments import compare, stack, store
from mmm_geo.files import atomic_write


def forest_plot(table: pd.DataFrame, path: Path) -> Path:
    """ROI per channel across runs: median (dot) and 90 % interval (line), best run on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_channel = compare.roi_intervals(table)
    first = next(iter(per_channel.values()))
    labels = [textwrap.fill(f"{r}. {lab}", 40)
              for r, lab in zip(first["rank"].astype(str), first["label"])]
    lines = sum(lab.count("\n") + 1 for lab in labels)
    width = 3.0 * len(per_channel) + 0.075 * max(len(x) for lab in labels for x in lab.split("\n"))
    fig, axes = plt.subplots(1, len(per_channel), sharey=True, squeeze=False,
                             figsize=(width + 0.5, 0.3 * lines + 0.3 * len(labels) + 1.4))
    for ax, (channel, df) in zip(axes[0], per_channel.items()):
        y = list(range(len(df)))[::-1]
        ax.hlines(y, df["p5"], df["p95"], color="tab:blue", lw=2)
        ax.plot(df["median"], y, "o", color="tab:blue")
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.set_title(channel)
        ax.set_xlabel("ROI")
        ax.set_yticks(y, labels)
    fig.suptitle("ROI by run: posterior median and 90 % interval (dashed: break-even)", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path


def stack_section(stacked: Optional[stack.Stacked]) -> str:
    """The model-averaging section: the weights, each model's answer and the stacked answer."""
    if stacked is None:
        return ""
    weights = stacked.weights[["run", "label", "weight", "elpd_loo", "elpd_diff", "dse",
                               "stacked_draws"]]
    n = int(weights["stacked_draws"].sum())
    return f"""<h2>Model averaging (stacking)</h2>
<p>Stacking weights over the runs' PSIS-LOO (<code>arviz.compare(method="stacking")</code>): the
mixture of the runs' predictive distributions with these weights predicts left-out observations
best. The stacked posterior takes {n} draws from the runs in proportion to their weights (seed
{stacked.stack.seed}); below, each model's answer and the averaged one: posterior median and 90 %
interval of ROI, marginal ROI (mROI) and revenue contribution.</p>
{weights.to_html(index=False, escape=True, float_format=lambda v: f"{v:.3f}")}
{stack.channel_table(stacked.answers).to_html(index=False, escape=True)}
<p><code>mmm-geo optimize run=&lt;this folder&gt;</code> plans the budget over the stacked
posterior.</p>"""


def write_html(table: pd.DataFrame, path: Path, image: Path,
               stacked: Optional[stack.Stacked] = None) -> Path:
    """A self-contained page: ranking criterion, table, notes, the embedded forest plot and,
    with a stack, the model-averaging section."""
    shown = compare.printable(table)
    criterion = compare.criterion_text(table)
    img = base64.b64encode(image.read_bytes()).decode() if image.is_file() else ""
    notes = "".join(f"<li><code>{html.escape(r)}</code>: {html.escape(n)}</li>"
                    for r, n in zip(table["run"], table["note"]) if n)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mmm-geo compare</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
td:nth-child(3){{text-align:left}}</style>
</head><body>
<h1>Run comparison</h1>
<p>{html.escape(criterion[0].upper() + criterion[1:])}. ELPD-LOO is PSIS-LOO over the saved
pointwise log-likelihood of the training periods, on the model's scaled KPI; MAPE on held-out
periods is in the KPI's units. "bad Pareto k": observations for which PSIS-LOO is unreliable.
ROI: posterior median and 90 % interval.</p>
{shown.to_html(index=False, escape=True)}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>ROI across runs</h2>
{f'<img alt="ROI forest plot" src="data:image/png;base64,{img}">' if img else
   "<p>No complete run.</p>"}
{stack_section(stacked)}
</body></html>
"""
    atomic_write(path, lambda p: p.write_text(page, encoding="utf-8"))
    return path


def write_outputs(table: pd.DataFrame, out_dir: Path,
                  stacked: Optional[stack.Stacked] = None) -> List[Path]:
    """Write ``compare.csv``, ``roi_forest.png`` and ``compare.html`` into ``out_dir`` (and the
    stack's files, :func:`mmm_geo.experiments.stack.write`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = stack.write(stacked, out_dir) if stacked is not None else []
    csv = out_dir / "compare.csv"
    atomic_write(csv, lambda p: table.to_csv(p, index=False))
    image = out_dir / "roi_forest.png"
    if compare.channels(table) and (table["status"] == "complete").any():
        forest_plot(table, image)
    elif image.exists():
        image.unlink()
    return [csv, image, write_html(table, out_dir / "compare.html", image, stacked), *extra]


def default_out(paths: Sequence[Path]) -> Path:
    """``<experiment>/compare`` for a single experiment folder, else ``./compare``."""
    if len(paths) == 1 and not store.is_run_dir(Path(paths[0])):
        return Path(paths[0]) / "compare"
    return Path("compare")


def main(argv: Sequence[str]) -> pd.DataFrame:
    """Entry point of ``mmm-geo compare``; returns the ranked table."""
    parser = argparse.ArgumentParser(prog="mmm-geo compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="experiment folders or run folders")
    parser.add_argument("--out", type=Path, default=None, help="folder for the CSV, HTML and plot")
    parser.add_argument("--rank-by", default="auto", choices=compare.RANK_BY)
    parser.add_argument("--stack", action="store_true",
                        help="average the runs: stacking weights and the stacked posterior")
    parser.add_argument("--stack-draws", type=int, default=None,
                        help="stacked draws in all (default: the fewest any run has)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stack's resampling")
    args = parser.parse_args(list(argv))
    entries = compare.summarize_runs(args.paths)
    table = compare.rank(entries, args.rank_by)
    stacked = stack.build(entries, table, args.stack_draws, args.seed) if args.stack else None
    with pd.option_context("display.width", 250, "display.max_columns", 50,
                           "display.max_colwidth", 60):
        print(compare.printable(table).drop(columns="note").to_string(index=False))
    print(f"\n{compare.criterion_text(table)}")
    for run, note in zip(table["run"], table["note"]):
        if note:
            print(f"note: {run}: {note}")
    if stacked is not None:
        print("\nstacking weights: " + ", ".join(
            f"{r.run} {r.weight:.3f}" for r in stacked.weights.itertuples()))
        with pd.option_context("display.width", 250, "display.max_columns", 50):
            print(stack.channel_table(stacked.answers).to_string(index=False))
    paths = write_outputs(table, args.out or default_out(args.paths), stacked)
    print("wrote " + ", ".join(os.fspath(p) for p in paths if p.exists()))
    return table
