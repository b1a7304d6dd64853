"""Shared fixtures: tiny simulated panels and one quick saved run (fit once per session)."""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from mmm_geo.config import (AdstockConfig, FitConfig, InferenceConfig, ModelConfig, PriorEntry,  # noqa: E402
                            SaturationConfig, SimulationConfig)
from mmm_geo.data.load import to_dataset  # noqa: E402
from mmm_geo.data.simulate import data_config, simulate  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# A Hill curve with its slope fixed at 1 (the default before session 14), for tests whose panels
# or true parameters have that slope.
SLOPE_1 = SaturationConfig(priors={"slope": PriorEntry("fixed", 1.0, 0.0)})
TINY_SIM = SimulationConfig(geos=3, weeks=40, channels=2, controls=1, seed=3, max_lag=4)


MAX_MAPS = 30000   # memory maps of this process; the kernel's default limit is 65,530


def _maps() -> int:
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:      # no /proc (not Linux): nothing to count
        return 0


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Free JAX's compiled programs once this worker holds many. Each XLA CPU executable keeps
    memory maps (measured: one tiny fit adds about 2,550), so a worker that runs ~25 fits reaches
    the kernel's vm.max_map_count (65,530), LLVM fails with "Cannot allocate memory" and the
    worker crashes (CI, session 8: test_warm.py). ``jax.clear_caches`` gave them back (10,064 maps
    to 1,712 after three fits); the next call compiles again."""
    yield
    if _maps() > MAX_MAPS:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()


@pytest.fixture(scope="session")
def tiny_frame():
    """A 3-geo x 40-week x 2-channel simulated table and its truth."""
    return simulate(TINY_SIM)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_frame):
    return to_dataset(tiny_frame[0], data_config(TINY_SIM), "tiny")


def quick_fit_config(sim: SimulationConfig = TINY_SIM, **infer) -> FitConfig:
    """A FitConfig that fits ``sim`` quickly (short chains; not for conclusions)."""
    inference = InferenceConfig(chains=2, warmup=150, draws=150, progress_bar=False, ess_min=50, **infer)
    model = ModelConfig(adstock=AdstockConfig(max_lag=sim.max_lag))
    return FitConfig(simulation=sim, inference=inference, model=model, name="test")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """Path of a completed quick run on the tiny panel (fit once per test session)."""
    from mmm_geo.run import fit

    out = tmp_path_factory.mktemp("runs") / "quick"
    fit(quick_fit_config(), out)
    return out


@pytest.fixture(scope="session")
def env(tmp_path_factory):
    """The environment for fits in subprocesses (sweeps, fault injection, the CLI): one JAX
    compilation cache shared by every test's fits (xdist workers included), so each tiny program
    compiles once per test session. Every compilation is kept, not only those over JAX's default
    1 s: a fit of the tiny panel compiles about 670 programs, most of them small eager operations
    (prior draws, reductions) that other fits of the same shapes compile again (measured: a second
    fit of the CLI's per-channel experiment 37 s instead of 118 s)."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-cache"
    return {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path
