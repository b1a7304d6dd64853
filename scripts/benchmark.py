"""Benchmark the fit: a simulated panel of a chosen size, or a CSV with a data config.

Prints one JSON line: compile time, sampling time, time per gradient evaluation, min bulk ESS,
min ESS per second, max R-hat, divergences, peak memory and device.

Examples::

    python scripts/benchmark.py --geos 20 --weeks 156 --channels 4
    python scripts/benchmark.py --data conf/data/meridian_geo_media.yaml \
        --baseline additive --trend-knots 155 --fourier-order 0     # = experiment=meridian_geo_media
    python scripts/benchmark.py --geos 40 --weeks 156 --channels 10 --chains 4 --draws 500
    python scripts/benchmark.py --geos 50 --weeks 208 --channels 30 --controls 10 --init svi \
        --save /tmp/big.nc                       # the public benchmark's largest preset's shape

Compile time is the wall time of a separate 2-iteration fit (it compiles the same programs);
sampling time is the wall time of the real fit, which also compiles, minus that compile time.
Results are recorded in scripts/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer.util import initialize_model  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mmm_geo.config import (AdstockConfig, DataConfig, FitConfig, InferenceConfig, ModelConfig,  # noqa: E402
                            SaturationConfig, SimulationConfig, to_config)
from mmm_geo.data.scaling import fit_scaling, model_data  # noqa: E402
from mmm_geo.inference import diagnostics  # noqa: E402
from mmm_geo.inference.mcmc import run_nuts  # noqa: E402
from mmm_geo.inference.trace import build_trace, save_trace  # noqa: E402
from mmm_geo.model.hierarchical import model, time_bases  # noqa: E402
from mmm_geo.run import load_data  # noqa: E402


def gradient_seconds(data, cfg: ModelConfig, reps: int = 200) -> float:
    """Mean wall time of one jitted gradient of the potential energy (one chain)."""
    info = initialize_model(jax.random.key(0), model, model_args=(jax.tree.map(jax.numpy.asarray, data), cfg),
                            model_kwargs={"y": data.y})
    grad = jax.jit(jax.grad(info.potential_fn))
    params = info.param_info.z
    jax.block_until_ready(grad(params))
    t0 = time.perf_counter()
    for _ in range(reps):
        out = grad(params)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / reps


def peak_memory() -> dict:
    """Peak host RSS (MB) and, on accelerators, peak device memory (MB)."""
    out = {"peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="data config YAML (conf/data/*.yaml); default: simulated panel")
    p.add_argument("--path", help="override data.path of --data (e.g. a local copy of the file)")
    p.add_argument("--geos", type=int, default=10)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--controls", type=int, default=2)
    p.add_argument("--init", default="median", help="median | svi (warm start)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--max-lag", type=int, default=8)
    p.add_argument("--saturation", default="hill")
    p.add_argument("--chain-method", default="auto")
    p.add_argument("--baseline", default="multiplicative")
    p.add_argument("--trend-knots", type=int, default=4)
    p.add_argument("--fourier-order", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--save", help="also write the trace here (to inspect divergences)")
    a = p.parse_args(argv)

    data_cfg = to_config(OmegaConf.load(a.data), DataConfig) if a.data else DataConfig()
    if a.path:
        data_cfg = replace(data_cfg, path=a.path)
    sim = SimulationConfig(geos=a.geos, weeks=a.weeks, channels=a.channels, controls=a.controls,
                           seed=a.seed)
    model_cfg = ModelConfig(adstock=AdstockConfig(max_lag=a.max_lag),
                            saturation=replace(SaturationConfig(), kind=a.saturation),
                            baseline=a.baseline, trend_knots=a.trend_knots, fourier_order=a.fourier_order)
    infer = InferenceConfig(chains=a.chains, warmup=a.warmup, draws=a.draws, progress_bar=False,
                            chain_method=a.chain_method, target_accept=a.target_accept, init=a.init)
    cfg = FitConfig(data=data_cfg, model=model_cfg, inference=infer, simulation=sim, seed=a.seed)
    ds, _ = load_data(cfg)
    scaling = fit_scaling(ds)
    data = model_data(ds, scaling, np.float32, time_bases(ds.sizes["time"], model_cfg))
    key = jax.random.key(a.seed)
    grad_s = gradient_seconds(data, model_cfg)
    fit = run_nuts(data, model_cfg, infer, key, measure_compile=True)
    idata = build_trace(fit, ds, scaling, data, model_cfg, key, 500, {})
    if a.save:
        save_trace(idata, Path(a.save))
    conv = diagnostics.convergence(idata)
    sampling_s = max(fit.sample_s - fit.compile_s, 1e-9)
    out = {
        "data": a.data or f"simulated {a.geos}x{a.weeks}x{a.channels}, {a.controls} controls",
        "init": a.init, "trace_mb": round(Path(a.save).stat().st_size / 2**20, 1) if a.save else None,
        "geos": ds.sizes["geo"], "weeks": ds.sizes["time"], "channels": ds.sizes["channel"],
        "chains": a.chains, "warmup": a.warmup, "draws": a.draws, "chain_method": fit.chain_method,
        "compile_s": round(fit.compile_s, 2), "sampling_s": round(sampling_s, 2),
        "fit_wall_s": round(fit.sample_s, 2), "grad_ms": round(grad_s * 1e3, 4),
        "min_ess_bulk": round(conv["min_ess_bulk"], 1), "min_ess_tail": round(conv["min_ess_tail"], 1),
        "min_ess_per_s": round(conv["min_ess_bulk"] / sampling_s, 3),
        "min_ess_per_s_incl_compile": round(conv["min_ess_bulk"] / fit.sample_s, 3),
        "max_rhat": None if conv["max_rhat"] is None else round(conv["max_rhat"], 4),
        "divergences": conv["divergences"],
        "mean_leapfrog": round(conv["mean_leapfrog_steps"], 1), "worst_ess": conv["worst_ess"],
        **{k: round(v, 1) for k, v in peak_memory().items()},
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "host": f"{platform.node()} {os.cpu_count()} cpus", "jax": jax.__version__,
        "python": sys.version.split()[0],
    }
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
