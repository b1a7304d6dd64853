"""One model over several devices: the geo dimension of the data sharded across them
(``inference.shard=geo``).

The arrays with a geo axis (KPI, media, controls, revenue weights, KPI units, treatments) are
split along it over a one-axis device mesh, the rest replicated; the potential, its gradient and
NUTS stay one jitted program (the model's arguments are traced, ``jit_model_args``), which XLA
partitions by the input shardings: each device computes its geos' likelihood and media, and the
sums over geos become cross-device reductions. The chains are then vectorised on the mesh.
One host's devices only: ``jax.distributed`` (several hosts) is not started (README).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mmm_geo import dims
from mmm_geo.data.scaling import ModelData
from mmm_geo.errors import ConfigError

SHARDS = ("none", "geo")
GEO_FIELDS = ("y", "media", "controls", "revenue_weight", "kpi_unit", "treatments")


def check(shard: str) -> None:
    if shard not in SHARDS:
        raise ConfigError(f"inference.shard={shard!r} is unknown; use one of {list(SHARDS)}")


def shard_geos(data: ModelData, devices=None) -> ModelData:
    """``data`` with its geo axis split over ``devices`` (default: all), everything else
    replicated; ConfigError unless the geos divide evenly."""
    devices = list(jax.devices() if devices is None else devices)
    n_geo = data.y.shape[0]
    if n_geo % len(devices):
        raise ConfigError(f"inference.shard=geo: {n_geo} geos do not split evenly over "
                          f"{len(devices)} devices\n  fix: use a number of devices that divides "
                          f"the geos (CUDA_VISIBLE_DEVICES, or XLA_FLAGS=--xla_force_host_"
                          f"platform_device_count on CPU), or inference.shard=none")
    mesh = Mesh(np.array(devices), (dims.GEO,))

    def put(name, array):
        if array is None:
            return None
        spec = PartitionSpec(dims.GEO) if name in GEO_FIELDS else PartitionSpec()
        return jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, spec)), array)

    return ModelData(**{name: put(name, getattr(data, name)) for name in ModelData._fields})
