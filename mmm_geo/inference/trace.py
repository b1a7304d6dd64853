"""Posterior draws -> ArviZ InferenceData with named dims, and atomic save/load.

Posterior predictive draws and the pointwise log-likelihood are computed in batches of draws, so
memory stays bounded for many geos x weeks x draws.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Tuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import ModelConfig
from mmm_geo.data.scaling import ModelData, Scaling, kpi_units
from mmm_geo.errors import RunError
from mmm_geo.files import atomic_write
from mmm_geo.inference.mcmc import FitResult
from mmm_geo.model import media as mm
from mmm_geo.model import treatments
from mmm_geo.model import mediation
from mmm_geo.model import site_priors
from mmm_geo.model.hierarchical import model, to_scaled

STAT_NAMES = {"diverging": "diverging", "num_steps": "n_steps", "accept_prob": "acceptance_rate",
              "energy": "energy", "step_size": "step_size"}
OBSERVED = ("y", "lift", "mediator")   # the model's observed sites


def site_dims(data: ModelData, cfg: ModelConfig) -> Dict[str, Tuple[str, ...]]:
    """Dim names of every site, read off the model's plates (plate name = dim name)."""
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(
        jax.tree.map(jnp.asarray, data), cfg, data.y)
    out = {}
    for name, site in tr.items():
        if site["type"] not in ("sample", "deterministic"):
            continue
        shape = jnp.shape(site["value"])
        by_dim = {f.dim: f.name for f in site.get("cond_indep_stack", [])}
        out[name] = tuple(by_dim.get(i - len(shape), f"{name}_dim_{i}") for i in range(len(shape)))
    return out


def _flat(samples: Dict[str, np.ndarray]) -> Dict[str, jnp.ndarray]:
    return {k: jnp.asarray(v.reshape((-1,) + v.shape[2:])) for k, v in samples.items()}


def predictive_and_loglik(fit: FitResult, data: ModelData, cfg: ModelConfig, key: jax.Array,
                          batch: int) -> Tuple[np.ndarray, np.ndarray]:
    """Posterior predictive y and pointwise log-likelihood (chain, draw, geo, time), scaled units."""
    flat = _flat(fit.samples)
    n = next(iter(flat.values())).shape[0]
    args = (jax.tree.map(jnp.asarray, data), cfg)
    sites = [k for k in flat if not k.startswith("y")]
    reps, lls = [], []
    for i, start in enumerate(range(0, n, batch)):
        part = {k: flat[k][start:start + batch] for k in sites}
        pred = numpyro.infer.Predictive(model, posterior_samples=part, return_sites=["y"])
        reps.append(to_scaled(pred(jax.random.fold_in(key, i), *args)["y"], data, cfg))
        lls.append(np.asarray(numpyro.infer.log_likelihood(model, part, *args, y=args[0].y)["y"]))
    chains, draws = fit.stats["diverging"].shape
    shape = (chains, draws) + data.y.shape
    return np.concatenate(reps).reshape(shape), np.concatenate(lls).reshape(shape)


def prior_draws(data: ModelData, cfg: ModelConfig, key: jax.Array, n: int) -> Dict[str, np.ndarray]:
    """``n`` draws from the prior of every site (chain axis of 1), ``y`` in scaled units; a
    refresh's joint prior gives its marginals (the correlation factor is not a draw)."""
    args = (jax.tree.map(jnp.asarray, data), cfg)
    out = dict(numpyro.infer.Predictive(model, num_samples=n)(key, *args))
    out.pop(site_priors.JOINT, None)
    out["y"] = to_scaled(out["y"], data, cfg)
    return {k: np.asarray(v)[None] for k, v in out.items()}


def layout(ds: xr.Dataset, data: ModelData, cfg: ModelConfig) -> Tuple[dict, dict]:
    """Coords and dims of every trace variable: sites by their plates, the KPI and the data
    variables by their dims, ``train`` over time."""
    site = site_dims(data, cfg)
    coords = {d: ds.coords[d].values for d in (dims.GEO, dims.TIME, dims.CHANNEL, dims.CONTROL)}
    coords.update(mm.site_coords(mm.spec(cfg, ds.sizes[dims.CHANNEL]), ds.coords[dims.CHANNEL].values))
    coords.update(treatments.site_coords(treatments.spec(cfg)))
    med = mediation.resolve(cfg)
    if med is not None:
        coords.update(mediation.site_coords(med, ds.coords[dims.CHANNEL].values),
                      **{f"{mediation.PREFIX}_{dims.GEO}": ds.coords[dims.GEO].values})
    named = {**{k: list(v) for k, v in site.items()}, "kpi": [dims.GEO, dims.TIME],
             **{name: list(ds[name].dims) for name in ds.data_vars}, "train": [dims.TIME]}
    return coords, named


def constant_data(ds: xr.Dataset, data: ModelData) -> Dict[str, np.ndarray]:
    """The trace's ``constant_data``: every data variable but the KPI, and the training mask."""
    return {**{name: ds[name].values for name in ds.data_vars if name != "kpi"},
            "train": np.asarray(data.train)}


def latent(draws: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The parameter draws among a model's sites (not the observed ``y`` and ``lift``)."""
    return {k: v for k, v in draws.items() if k not in OBSERVED}


def prior_trace(data: ModelData, ds: xr.Dataset, scaling: Scaling, cfg: ModelConfig,
                key: jax.Array, n: int) -> az.InferenceData:
    """``n`` prior draws laid out as a fitted trace (one chain): the parameters as ``posterior``,
    the prior predictive KPI (KPI units) as ``posterior_predictive``, with ``observed_data`` and
    ``constant_data``; so the posterior's analysis functions describe the prior unchanged."""
    coords, named = layout(ds, data, cfg)
    prior = prior_draws(data, cfg, key, n)
    return az.from_dict(posterior=latent(prior),
                        posterior_predictive={"kpi": kpi_units(prior["y"], ds, scaling)},
                        observed_data={"kpi": ds["kpi"].values},
                        constant_data=constant_data(ds, data), coords=coords, dims=named)


def build_trace(fit: FitResult, ds: xr.Dataset, scaling: Scaling, data: ModelData, cfg: ModelConfig,
                key: jax.Array, batch: int, attrs: Dict[str, str]) -> az.InferenceData:
    """Assemble the InferenceData: posterior, sample_stats, observed_data, constant_data,
    log_likelihood, posterior_predictive, prior and prior_predictive, with coords geo, time,
    channel, control.

    ``constant_data["train"]`` marks the periods the likelihood saw; ``posterior_predictive``
    covers every period (held-out ones are forecasts) and ``log_likelihood`` the training periods
    only, so ``az.loo`` scores the fit on what it was fitted to.
    """
    coords, named = layout(ds, data, cfg)
    posterior = {k: v for k, v in fit.samples.items() if k != "y"}
    key_pred, key_prior = jax.random.split(key)
    yrep, loglik = predictive_and_loglik(fit, data, cfg, key_pred, batch)
    prior = prior_draws(data, cfg, key_prior, min(batch, yrep.shape[0] * yrep.shape[1]))
    stats = {STAT_NAMES[k]: v for k, v in fit.stats.items() if k in STAT_NAMES}
    stats["lp"] = -fit.stats["potential_energy"]
    stats["tree_depth"] = np.floor(np.log2(fit.stats["num_steps"] + 1)).astype(int)
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        posterior_predictive={"kpi": kpi_units(yrep, ds, scaling)},
        log_likelihood={"kpi": loglik},
        prior=latent(prior),
        prior_predictive={"kpi": kpi_units(prior["y"], ds, scaling)},
        observed_data={"kpi": ds["kpi"].values},
        constant_data=constant_data(ds, data),
        coords=coords,
        dims=named,
    )
    idata.log_likelihood = idata.log_likelihood.isel({dims.TIME: np.asarray(data.train)})
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for group in idata.groups():
        idata[group].attrs.update({"inference_library": "numpyro",
                                   "inference_library_version": numpyro.__version__,
                                   "created_at": stamp, **attrs})
    return idata


DRAW_GROUPS = ("posterior", "posterior_predictive", "log_likelihood", "prior", "prior_predictive",
               "sample_stats")


def _compact(group: str, ds: xr.Dataset) -> Tuple[xr.Dataset, dict]:
    """A group as saved: draws in float32 (the sampler's own precision unless x64; the data
    groups keep theirs), each variable compressed (zlib level 1 after byte shuffling: nearly the
    size of level 9 on noisy draws, at a fraction of its time)."""
    if group in DRAW_GROUPS:
        ds = ds.map(lambda a: a.astype(np.float32) if a.dtype == np.float64 else a, keep_attrs=True)
    encoding = {name: {"zlib": True, "complevel": 1, "shuffle": True}
                for name in ds.data_vars if ds[name].dtype.kind in "fiub"}
    return ds, encoding


def write_netcdf(idata: az.InferenceData, path: Path) -> None:
    """Write every group of ``idata`` to ``path`` (one netCDF group each, as ArviZ reads them)."""
    mode = "w"
    for group in idata.groups():
        ds, encoding = _compact(group, idata[group])
        ds.to_netcdf(str(path), mode=mode, group=group, engine="h5netcdf", encoding=encoding)
        mode = "a"


def save_trace(idata: az.InferenceData, path: Path) -> None:
    """Write ``trace.nc`` atomically, compact (see :func:`_compact`)."""
    atomic_write(path, lambda tmp: write_netcdf(idata, tmp))


def load_trace(path: Path) -> az.InferenceData:
    """Read a saved trace fully into memory; a clear error if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no trace found\n  fix: point run= at a completed run folder")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        for group in idata.groups():
            idata[group].load()
        return idata
    except Exception as err:  # netCDF/HDF5 raise many error types on corrupt files
        raise RunError(f"{path}: cannot read the trace ({err})\n  fix: re-run the fit") from None
