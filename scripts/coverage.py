"""Coverage battery: does the DEFAULT model's uncertainty hold on panels it does not assume?

Fits ``--panels`` wide-family simulated panels (``SimulationConfig(family="wide")``, seeds
``--first-seed`` .. on; forms, sizes and flighting beyond the model's assumptions, see
``mmm_geo.data.sim_wide``; the simulator's max lag ``--max-lag`` 13) with the default model and
inference config through ``mmm_geo.run.fit``, each into ``<out>/panel_<seed>/``, and reports
(``mmm_geo.coverage``):

- the share of true ROIs and marginal ROIs inside the central 50 % and 90 % posterior intervals,
  over all channels and per class (small, weak, always_on, long_carryover, seasonal_flighting),
  and the median |relative ROI error| of the posterior median;
- max R-hat and divergences per fit;
- optimizer capture: the last ``--window`` weeks re-planned at their own budget, judged under the
  simulator's true response (recommended - historical) / (true optimum - historical); median and
  minimum.

Rows are appended to ``<out>/channels.csv`` and ``<out>/panels.csv`` as panels finish; a re-run
with the same settings skips finished panels (``--retry-failed`` re-runs failed ones) and reuses
a completed fit in a panel folder. A failed panel records its error and the battery goes on. The
markdown summary is printed at the end and written to ``<out>/summary.md``.

    python scripts/coverage.py                                  # 12 panels, 10 geos x 104 weeks
    python scripts/coverage.py --geos 20 --weeks 156 --out experiments/coverage_20x156 --jobs 4
    python scripts/coverage.py --panels 1 --quick --out experiments/coverage_smoke
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import List, Optional

# Several XLA host devices let chains run in parallel on CPU; must be set before JAX is imported.
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={max(4, os.cpu_count() or 1)}")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mmm_geo.coverage import capture_summary, class_table, evaluate_panel, panel_config  # noqa: E402

PANELS, CHANNELS = "panels.csv", "channels.csv"
PANEL_COLUMNS = ["seed", "status", "max_rhat", "divergences", "attainable_uplift", "capture",
                 "true_historical", "true_optimum", "true_recommended", "kkt_ok", "sample_s",
                 "total_s", "settings", "error"]


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panels", type=int, default=12, help="number of panels (seeds)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--geos", type=int, default=10)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--channels", type=int, default=5)
    p.add_argument("--max-lag", type=int, default=13, help="the simulator's max lag (the model keeps its own)")
    p.add_argument("--window", type=int, default=52, help="weeks re-planned by the optimizer")
    p.add_argument("--out", default="experiments/coverage")
    p.add_argument("--quick", action="store_true", help="2 chains x 200 + 200 draws (smoke check)")
    p.add_argument("--jobs", type=int, default=1, help="panels fitted at once (processes)")
    p.add_argument("--retry-failed", action="store_true", help="re-run panels that failed before")
    p.add_argument("--model", nargs="*", default=[],
                   help="dotted model overrides to measure against the default, e.g. "
                        "media_prior.kind=effect saturation.priors.slope.dist=fixed")
    p.add_argument("--inference", nargs="*", default=[],
                   help="dotted inference overrides, e.g. target_accept=0.95")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> str:
    return (f"{args.geos}x{args.weeks}x{args.channels} lag {args.max_lag} window {args.window} "
            f"{'quick' if args.quick else 'full'}" + "".join(f" {o}" for o in args.model)
            + "".join(f" inference.{o}" for o in args.inference))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def load_done(out: Path, setting: str, retry_failed: bool) -> pd.DataFrame:
    """The finished panels' rows; drops channel rows of unfinished (or retried) panels."""
    panels = _read(out / PANELS)
    if len(panels) and set(panels["settings"]) != {setting}:
        sys.exit(f"{out} holds results of other settings ({', '.join(sorted(set(panels['settings'])))})"
                 f", not {setting}\n  fix: use another --out")
    if retry_failed and len(panels):
        panels = panels[panels["status"] == "ok"]
        panels.to_csv(out / PANELS, index=False)
    chans = _read(out / CHANNELS)
    if len(chans):
        seeds = set(panels["seed"]) if len(panels) else set()
        chans[chans["seed"].isin(seeds)].to_csv(out / CHANNELS, index=False)
    return panels


def _append(path: Path, frame: pd.DataFrame) -> None:
    if len(frame):
        fresh = not path.is_file() or not path.stat().st_size
        frame.to_csv(path, mode="a", header=fresh, index=False)


def record(out: Path, setting: str, rows: pd.DataFrame, panel: dict) -> None:
    """Channel rows first, then the panel row (which marks the panel finished)."""
    _append(out / CHANNELS, rows)
    _append(out / PANELS, pd.DataFrame([{**panel, "settings": setting}]).reindex(columns=PANEL_COLUMNS))
    cap = panel.get("capture")
    print(f"panel {panel['seed']}: {panel['status']}"
          + (f", max R-hat {panel.get('max_rhat')}, divergences {panel.get('divergences')}, "
             f"capture {cap:.1%}" if panel["status"] == "ok" and cap is not None else
             f" {panel['error'][:200]}"), flush=True)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.3g}" if abs(v) >= 10 else f"{v:.3f}"
    return "" if v is None else str(v)


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    return "\n".join([head, rule] + ["| " + " | ".join(_fmt(v) for v in row) + " |"
                                     for row in frame.itertuples(index=False)])


def summary(out: Path, setting: str) -> str:
    panels, chans = _read(out / PANELS), _read(out / CHANNELS)
    panels = panels.sort_values("seed") if len(panels) else panels
    lines = [f"Coverage battery ({setting}): {len(panels)} panels, "
             f"{int((panels['status'] == 'ok').sum()) if len(panels) else 0} finished", ""]
    if len(chans):
        lines += [markdown(class_table(chans)), ""]
    cols = ["seed", "status", "max_rhat", "divergences", "attainable_uplift", "capture", "kkt_ok",
            "sample_s", "error"]
    if len(panels):
        shown = panels[cols].assign(error=panels["error"].map(lambda e: "" if pd.isna(e) else str(e)[:80]))
        lines += [markdown(shown), "", markdown(pd.DataFrame(capture_summary(panels)))]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    out, setting = Path(args.out), settings(args)
    out.mkdir(parents=True, exist_ok=True)
    done = load_done(out, setting, args.retry_failed)
    seeds = [s for s in range(args.first_seed, args.first_seed + args.panels)
             if not len(done) or s not in set(done["seed"])]
    print(f"{setting}: {args.panels - len(seeds)} panels done, {len(seeds)} to fit", flush=True)
    cfgs = {s: panel_config(s, args.geos, args.weeks, args.channels, args.quick, args.max_lag,
                            args.model, args.inference) for s in seeds}
    if args.jobs <= 1:
        for s in seeds:
            record(out, setting, *evaluate_panel(cfgs[s], out / f"panel_{s:02d}", args.window))
    else:
        ctx = multiprocessing.get_context("spawn")     # JAX does not survive fork
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
            futures = [pool.submit(evaluate_panel, cfgs[s], out / f"panel_{s:02d}", args.window)
                       for s in seeds]
            for fut in as_completed(futures):
                record(out, setting, *fut.result())
    text = summary(out, setting)
    (out / "summary.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
