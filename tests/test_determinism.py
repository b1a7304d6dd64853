"""Reproducibility (README "Reproducibility"): the same config and seed give a bit-identical trace
in two processes; the ``parallel`` and ``vectorized`` chain methods give different draws, because
XLA computes the log density's gradient with other rounding when the chains are batched."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import init_to_median
from numpyro.infer.util import initialize_model

from conftest import quick_fit_config
from mmm_geo.config import InferenceConfig, SimulationConfig
from mmm_geo.inference.mcmc import run_nuts
from mmm_geo.model.hierarchical import model
from mmm_geo.run import load_run, setup, window_data

MMM = str(Path(sys.executable).with_name("mmm-geo"))
TINY = ["experiment=tiny", "simulation.geos=1", "simulation.channels=1", "simulation.weeks=30",
        "inference.warmup=50", "inference.draws=50"]
SIM = SimulationConfig(geos=1, weeks=30, channels=1, controls=1, seed=3, max_lag=4)


@pytest.mark.slow
def test_two_processes_give_a_bit_identical_trace(tmp_path):
    """Each process compiles for itself (no compilation cache), as two single fits do."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    for name in ("a", "b"):
        res = subprocess.run([MMM, "fit", *TINY, f"output_dir={tmp_path / name}"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    a, b = load_run(tmp_path / "a").idata, load_run(tmp_path / "b").idata
    assert a.groups() == b.groups() and "posterior" in a.groups()
    for group in a.groups():
        da, db = a[group], b[group]
        assert set(da.data_vars) == set(db.data_vars)
        for var in da.data_vars:
            assert da[var].dtype == db[var].dtype
            np.testing.assert_array_equal(da[var].values, db[var].values, err_msg=f"{group}/{var}")


def _fit_inputs():
    cfg = quick_fit_config(SIM)
    ready = setup(dataclasses.replace(cfg, inference=InferenceConfig(
        chains=2, warmup=50, draws=50, progress_bar=False)))
    _, data = window_data(ready.cfg, ready.ds, ready.lengths[-1])
    return ready.cfg, data


@pytest.mark.slow
def test_parallel_and_vectorized_chains_give_different_draws_from_rounding():
    if jax.local_device_count() < 2:
        pytest.skip("parallel chains need 2 devices (XLA_FLAGS host device count)")
    cfg, data = _fit_inputs()
    key = jax.random.key(0)
    draws = {}
    for method in ("parallel", "vectorized"):
        inference = dataclasses.replace(cfg.inference, chain_method=method)
        fit = run_nuts(data, cfg.model, inference, key)
        assert fit.chain_method == method
        draws[method] = fit.samples
    # the same keys and initial points, yet not one kept draw is the same ...
    for name in ("sigma", "media_roi", "baseline"):
        a, b = draws["parallel"][name], draws["vectorized"][name]
        assert a.shape == b.shape
        assert not np.any(np.all(a == b, axis=tuple(range(2, a.ndim)))), name
    # ... because the gradient of the log density, at one point, is not bit-identical batched
    # (vmap: vectorized) and per device (pmap: parallel); it agrees to float32 rounding
    args = (jax.tree.map(jnp.asarray, data), cfg.model)
    info = initialize_model(jax.random.key(1), model, model_args=args,
                            model_kwargs={"y": args[0].y}, init_strategy=init_to_median())
    both = jax.tree.map(lambda v: jnp.stack([v, v]), info.param_info.z)
    grad = jax.value_and_grad(info.potential_fn)
    (pe_v, g_v), (pe_p, g_p) = jax.jit(jax.vmap(grad))(both), jax.pmap(grad)(both)
    flat_v = np.concatenate([np.ravel(x[0]) for x in jax.tree.leaves(g_v)])
    flat_p = np.concatenate([np.ravel(x[0]) for x in jax.tree.leaves(g_p)])
    assert flat_v.dtype == np.float32 and not np.array_equal(flat_v, flat_p)
    np.testing.assert_allclose(flat_v, flat_p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pe_v, pe_p, rtol=1e-6)
