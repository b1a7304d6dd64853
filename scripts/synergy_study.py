"""Synergy: recovery of a known interaction, and the budget decision with and without it.

For each seed, simulates a panel whose channels ``--pair`` interact (``simulation.synergy``, the
true coefficient ``--kappa``), fits it twice with the default model and inference, once with the
pair as ``model.synergy.pairs`` and once synergy-blind, each through ``mmm_geo.run.fit`` into
``<out>/seed_<s>/{synergy,blind}/``, and reports per fit (``mmm_geo.coverage.evaluate_panel``):

- the true synergy contribution against its posterior median and 90 % interval (synergy fit);
- true (counterfactual) ROIs inside their 90 % intervals, median |relative ROI error|;
- max R-hat and divergences;
- optimizer capture: the last ``--window`` weeks re-planned at their own budget, judged under the
  simulator's TRUE response, synergy included.

    python scripts/synergy_study.py --seeds 0 1 2 --out experiments/synergy
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={max(4, os.cpu_count() or 1)}")

import pandas as pd  # noqa: E402

from mmm_geo.config import FitConfig, InferenceConfig, ModelConfig, SimulationConfig, SynergyConfig  # noqa: E402
from mmm_geo.coverage import evaluate_panel  # noqa: E402


def config(seed: int, args, pairs) -> FitConfig:
    sim = SimulationConfig(geos=args.geos, weeks=args.weeks, channels=args.channels, seed=seed,
                           synergy=[args.pair], synergy_kappa=args.kappa)
    inference = InferenceConfig(progress_bar=False, chains=args.chains, warmup=args.draws,
                                draws=args.draws)
    return FitConfig(simulation=sim, inference=inference, seed=seed, name=f"synergy_{seed}",
                     model=ModelConfig(synergy=SynergyConfig(pairs=pairs)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--geos", type=int, default=12)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--pair", nargs=2, default=["tv", "social"])
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--window", type=int, default=52)
    p.add_argument("--out", default="experiments/synergy")
    args = p.parse_args()
    rows = []
    for seed in args.seeds:
        for label, pairs in (("synergy", [args.pair]), ("blind", [])):
            out = Path(args.out) / f"seed_{seed}" / label
            channels, panel = evaluate_panel(config(seed, args, pairs), out, args.window)
            row = {"seed": seed, "model": label, **{k: panel.get(k) for k in (
                "status", "max_rhat", "divergences", "capture", "attainable_uplift", "sample_s")}}
            roi = channels[channels["metric"] == "roi"] if len(channels) else channels
            if len(roi):
                row.update(roi_in90=roi["in90"].mean(), roi_abs_rel_error=roi["rel_error"].abs().median())
            summary = pd.read_csv(out / "summary.csv") if (out / "summary.csv").is_file() else None
            if summary is not None and "synergy_contribution" in set(summary["metric"]):
                s = summary[summary["metric"] == "synergy_contribution"].iloc[0]
                row.update(synergy_true=s["true"], synergy_median=s["median"], synergy_p5=s["p5"],
                           synergy_p95=s["p95"], synergy_covered=bool(s["covered"]),
                           synergy_rel_error=s["median"] / s["true"] - 1)
            rows.append(row)
            print(json.dumps(row, default=str), flush=True)
    table = pd.DataFrame(rows)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    table.to_csv(Path(args.out) / "synergy.csv", index=False)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
