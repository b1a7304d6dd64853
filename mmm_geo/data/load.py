"""Long-format table (one row per geo x period) -> validated ``xarray.Dataset``.

The Dataset has dims ``geo, time, channel, control`` and variables:

- ``kpi`` (geo, time): the outcome in the user's units;
- ``revenue_per_kpi`` (geo, time): 1 for a revenue KPI;
- ``spend`` (geo, time, channel) and ``exposure`` (geo, time, channel; spend where none is given);
  a channel with exposure and no spend column (``spend: null``: organic or impressions-only
  media) has zero spend everywhere;
- ``controls`` (geo, time, control): the control columns, then the ``holiday_<name>`` flags of
  ``data.holidays`` (``mmm_geo.data.holidays``);
- ``population`` (geo): 1 where none is given;
- ``treatments`` (geo, time, treatment) and ``treatment_kind`` (treatment), only with
  ``data.treatments`` (``mmm_geo.data.treatments``);
- ``frequency`` (geo, time, channel): the average frequency of reach & frequency channels (NaN for
  the other channels), only when a channel has ``frequency``;
- ``excluded`` (time): True for the periods of ``data.exclude`` (only when there are any).

``attrs["data_warnings"]`` lists the warnings of :mod:`mmm_geo.data.checks` (shown on stderr).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from mmm_geo import dims
from mmm_geo.config import DataConfig
from mmm_geo.data import checks, holidays, validate as v
from mmm_geo.data import treatments as tr
from mmm_geo.data.lift import with_lift_tests
from mmm_geo.errors import DataError

NATIONAL = "national"


def read_table(path: str, key: str = "data.path") -> pd.DataFrame:
    """Read CSV or Parquet; a clear error (naming config ``key``) when it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: file not found\n  fix: set {key} to an existing CSV or Parquet file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p)
    except Exception as err:  # pandas raises many parser error types
        raise DataError(f"{path}: cannot read the file ({err})\n  fix: supply a CSV or Parquet file") from None


def load_dataset(cfg: DataConfig) -> xr.Dataset:
    """Load ``cfg.path`` (or the embedded simulated panel when it is None) as a validated Dataset."""
    if cfg.path is None:
        raise DataError("data.path is not set\n  fix: give data.path=<file>, or use data=default")
    return to_dataset(read_table(cfg.path), cfg, source=str(cfg.path))


def add_lift_tests(ds: xr.Dataset, cfg: DataConfig) -> xr.Dataset:
    """``ds`` with the lift tests of ``data.lift_tests`` (see ``mmm_geo.data.lift``), if any."""
    if not cfg.lift_tests:
        return ds
    return with_lift_tests(ds, read_table(cfg.lift_tests, "data.lift_tests"), str(cfg.lift_tests),
                           cfg.date_format)


def _required(cfg: DataConfig) -> list[tuple[str, str]]:
    req = [("data.time", cfg.time), ("data.kpi", cfg.kpi)]
    if cfg.geo:
        req.append(("data.geo", cfg.geo))
    for name, ch in cfg.channels.items():
        if not (ch.spend or ch.exposure):
            raise DataError(f"data.channels.{name}: neither a spend nor an exposure column\n  fix: "
                            "give spend (paid media) or exposure (organic or impressions-only media)")
        if ch.spend:
            req.append((f"data.channels.{name}.spend", ch.spend))
        if ch.exposure:
            req.append((f"data.channels.{name}.exposure", ch.exposure))
        if ch.frequency and not (ch.exposure and ch.spend):
            raise DataError(f"data.channels.{name}: a frequency column needs the channel's spend and "
                            "its impressions as exposure\n  fix: give spend and exposure (impressions "
                            "= reach x frequency), or drop frequency")
        if ch.frequency:
            req.append((f"data.channels.{name}.frequency", ch.frequency))
    req += [("data.controls", c) for c in cfg.controls] + tr.required(cfg.treatments)
    for key, col in [("data.revenue_per_kpi", cfg.revenue_per_kpi), ("data.population", cfg.population)]:
        if col:
            req.append((key, col))
    return req


def to_dataset(df: pd.DataFrame, cfg: DataConfig, source: str = "<table>") -> xr.Dataset:
    """Validate a long table and pivot it into the standard Dataset (see module docstring)."""
    if not cfg.channels:
        raise DataError(f"{source}: no paid channels configured\n  fix: list them under data.channels")
    v.check_columns(df, _required(cfg), source)
    df = df.reset_index(drop=True)
    geo_col = cfg.geo or "__geo__"
    if not cfg.geo:
        df = df.assign(__geo__=NATIONAL)
    spend_cols = [ch.spend for ch in cfg.channels.values() if ch.spend]
    exp_cols = [ch.exposure for ch in cfg.channels.values() if ch.exposure]
    freq_cols = [ch.frequency for ch in cfg.channels.values() if ch.frequency]
    extra = [c for c in (cfg.revenue_per_kpi, cfg.population, *freq_cols) if c]
    df = v.check_numeric(df, list(dict.fromkeys([cfg.kpi, *spend_cols, *exp_cols, *cfg.controls, *extra])),
                         source)
    df = tr.check(df, cfg.treatments, source)
    v.check_nonnegative(df, spend_cols, source, "spend")
    v.check_nonnegative(df, exp_cols, source, "exposure")
    low_frequency = [w for ch in cfg.channels.values() if ch.frequency
                     for w in v.check_frequency(df, ch.frequency, ch.exposure, source)]
    if cfg.population:
        v.check_positive(df, [cfg.population], source, "population")
    if cfg.revenue_per_kpi:
        v.check_positive(df, [cfg.revenue_per_kpi], source, "revenue per KPI")
    df[cfg.time] = v.parse_times(df, cfg.time, source, cfg.date_format)
    v.check_present(df, geo_col, source)
    df[geo_col] = df[geo_col].astype(str)
    df = v.drop_geos(df, geo_col, cfg.exclude_geos, source)
    periods = v.check_panel(df, geo_col, cfg.time, source)
    df = df.sort_values([geo_col, cfg.time])
    geos = list(pd.unique(df[geo_col]))
    shape = (len(geos), len(periods))

    def grid(col: str) -> np.ndarray:
        return df[col].to_numpy(dtype=float).reshape(shape)

    rows = df.index.to_numpy().reshape(shape)  # 0-based data row of each (geo, time) cell

    channels = list(cfg.channels)
    spend = np.stack([grid(ch.spend) if ch.spend else np.zeros(shape) for ch in cfg.channels.values()],
                     axis=-1)
    exposure = np.stack([grid(ch.exposure or ch.spend) for ch in cfg.channels.values()], axis=-1)
    flags = holidays.indicators(cfg.holidays, periods, source)
    control_names = list(cfg.controls) + list(flags)
    columns = [grid(c) for c in cfg.controls] + [np.broadcast_to(f, shape) for f in flags.values()]
    controls = np.stack(columns, axis=-1) if columns else np.zeros(shape + (0,))
    kpi = grid(cfg.kpi)
    excluded = checks.excluded_periods(cfg.exclude, periods, source)
    checks.check_kpi_sign(kpi, rows, excluded, cfg.kpi, source, cfg.allow_negative_kpi)
    v.check_kpi_varies(kpi, geos, cfg.kpi, source, rows)
    paid = [c for c, ch in enumerate(cfg.channels.values()) if ch.spend]
    v.check_spend(spend[..., paid], [channels[c] for c in paid], spend_cols, source)
    with_exposure = [(name, ch.exposure) for name, ch in cfg.channels.items() if ch.exposure]
    if with_exposure:
        v.check_spend(np.stack([grid(col) for _, col in with_exposure], axis=-1),
                      [name for name, _ in with_exposure], [col for _, col in with_exposure], source, "exposure")
    v.check_controls(controls, control_names, source)
    if cfg.population:
        population = v.check_constant_per_geo(grid(cfg.population), geos, cfg.population, source, rows)
    else:
        population = np.ones(len(geos))
    rpk = grid(cfg.revenue_per_kpi) if cfg.revenue_per_kpi else np.ones(shape)
    warnings = (low_frequency + checks.outlier_weeks(kpi, geos, periods, excluded, cfg.kpi, source)
                + checks.collinear_channels(exposure, channels, excluded, source))
    checks.show(warnings)
    gt, gtc, gtk = (dims.GEO, dims.TIME), (dims.GEO, dims.TIME, dims.CHANNEL), (dims.GEO, dims.TIME, dims.CONTROL)
    ds = xr.Dataset(
        {
            "kpi": (gt, kpi),
            "revenue_per_kpi": (gt, rpk),
            "spend": (gtc, spend),
            "exposure": (gtc, exposure),
            "controls": (gtk, controls),
            "population": ((dims.GEO,), population),
            **tr.variables(grid, cfg.treatments, source),
            **({"frequency": (gtc, np.stack([grid(ch.frequency) if ch.frequency else np.full(shape, np.nan)
                                             for ch in cfg.channels.values()], axis=-1))}
               if freq_cols else {}),
        },
        coords={dims.GEO: geos, dims.TIME: periods, dims.CHANNEL: channels,
                dims.CONTROL: control_names, **({dims.TREATMENT: list(cfg.treatments)}
                                                     if cfg.treatments else {})},
        attrs={"source": source, "kpi_is_revenue": int(cfg.revenue_per_kpi is None),
               "data_warnings": warnings},
    )
    return ds.assign(excluded=((dims.TIME,), excluded)) if excluded.any() else ds
