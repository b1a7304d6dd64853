"""Trace size and write/read time of one saved trace under several netCDF encodings.

    python scripts/trace_size.py <trace.nc>

Each encoding is written to a temporary folder, then read back with every group loaded.
Results in scripts/RESULTS.md (session 6, compact traces).
"""

import sys
import tempfile
import time
from pathlib import Path

import arviz as az
import numpy as np

DRAWS = ("posterior", "posterior_predictive", "log_likelihood", "prior", "prior_predictive",
         "sample_stats")
ENCODINGS = [(False, False, 0), (True, False, 0), (True, False, 4), (True, True, 4), (True, True, 1)]


def save(idata, path, f32, shuffle, level):
    mode = "w"
    for group in idata.groups():
        ds = idata[group]
        if f32 and group in DRAWS:
            ds = ds.map(lambda a: a.astype(np.float32) if a.dtype == np.float64 else a, keep_attrs=True)
        enc = {v: {"zlib": True, "complevel": level, "shuffle": shuffle}
               for v in ds.data_vars if ds[v].dtype.kind in "fiub"}
        ds.to_netcdf(path, mode=mode, group=group, engine="h5netcdf", encoding=enc)
        mode = "a"


def main(trace: str) -> None:
    idata = az.from_netcdf(trace)
    for group in idata.groups():
        idata[group].load()
    with tempfile.TemporaryDirectory() as tmp:
        for f32, shuffle, level in ENCODINGS:
            path = str(Path(tmp) / f"t_{f32}_{shuffle}_{level}.nc")
            t0 = time.perf_counter()
            save(idata, path, f32, shuffle, level)
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            back = az.from_netcdf(path)
            for group in back.groups():
                back[group].load()
            read_s = time.perf_counter() - t0
            print(f"float32={f32} shuffle={shuffle} level={level}: "
                  f"{Path(path).stat().st_size / 1e6:.2f} MB, write {write_s:.1f} s, read {read_s:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
