"""Fuzz the loader: seeded random mutations of a valid panel file, read through the real entry
point (``mmm_geo.data.load.load_dataset`` with a real data config). Every case must end in a
Dataset or a user error (:class:`~mmm_geo.errors.MmmGeoError`), never in another exception; a
Dataset, and the model's inputs scaled from it, must hold finite numbers only. A few kinds also go through ``mmm-geo fit`` in a
subprocess: exit 2, no traceback, and no complete-looking run folder (no ``metrics.json``).

``MMM_GEO_FUZZ_CASES`` sets the number of cases (default 300); ``MMM_GEO_FUZZ_SEED`` the seed.
"""

from __future__ import annotations

import io
import json
import os
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np
import pandas as pd
import pytest
from pyarrow.lib import ArrowException

from mmm_geo.config import DataConfig
from mmm_geo.data.load import load_dataset
from mmm_geo.data.scaling import fit_scaling, model_data
from mmm_geo.data.simulate import data_config
from mmm_geo.errors import MmmGeoError

from conftest import TINY_SIM
from test_validation import run_fit

CFG = data_config(TINY_SIM)
CASES = int(os.environ.get("MMM_GEO_FUZZ_CASES", "300"))
SEED = int(os.environ.get("MMM_GEO_FUZZ_SEED", "0"))
WORDS = ["", " ", "NA", "null", "-", "n/a", "1,234.5", "$100", "1e309", "-1e309", "1e308", "abc",
         "12%", "TRUE", "0x1F", "∞", "é", "NaN", "--1", "1.2.3", "9" * 400, "'5'", '"7"', "\t"]


# --- mutations of the table (before it is written) ----------------------------------------------

def drop_column(df, rng):
    return df.drop(columns=[rng.choice(df.columns)])


def duplicate_column(df, rng):
    col = rng.choice(df.columns)
    out = df.copy()
    out.insert(int(rng.integers(0, df.shape[1] + 1)), f"{col}__dup", df[col])
    return out.rename(columns={f"{col}__dup": col})          # two columns of one name


def rename_column(df, rng):
    col = rng.choice(df.columns)
    return df.rename(columns={col: str(rng.choice([col.upper(), f" {col}", f"{col} ", "", "ünï"]))})


def swap_types(df, rng):
    out = df.astype(object)
    col = rng.choice(df.columns)
    kind = rng.integers(4)
    if kind == 0:
        out[col] = [str(rng.choice(WORDS)) for _ in range(len(df))]
    elif kind == 1:
        out[col] = rng.integers(-5, 5, len(df))
    elif kind == 2:
        out[col] = rng.random(len(df)) < 0.5
    else:
        out[col] = pd.Timestamp("2024-01-01")
    return out


def bad_cells(df, rng):
    out = df.astype(object)
    for _ in range(int(rng.integers(1, 6))):
        out.iat[int(rng.integers(len(df))), int(rng.integers(df.shape[1]))] = str(rng.choice(WORDS))
    return out


def huge_values(df, rng):
    out = df.copy()
    col = rng.choice([c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])])
    rows = rng.integers(0, len(df), int(rng.integers(1, 4)))
    out.loc[rows, col] = rng.choice([1e308, -1e308, 1e300, 1e30, 3e38, -1e30, 1e-300])
    return out


def shuffle_rows(df, rng):
    return df.sample(frac=1.0, random_state=int(rng.integers(2 ** 31)))


def drop_rows(df, rng):
    return df.drop(index=rng.choice(df.index, int(rng.integers(1, len(df))), replace=False))


def duplicate_rows(df, rng):
    return pd.concat([df, df.sample(int(rng.integers(1, 5)), random_state=int(rng.integers(99)))])


def odd_dates(df, rng):
    out = df.astype(object)
    fmt = str(rng.choice(["%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%y", "%Y-%m-%dT%H:%M:%S%z",
                          "%b %d %Y"]))
    out["week"] = pd.to_datetime(df["week"]).dt.tz_localize("UTC").dt.strftime(fmt)
    if rng.random() < 0.3:
        out.loc[rng.integers(0, len(df), 2), "week"] = "2023-02-30"
    return out


def odd_geos(df, rng):
    out = df.astype(object)
    out["geo"] = df["geo"].map({g: v for g, v in zip(df["geo"].unique(), rng.choice(
        ["Zürich", "1", "1.0", "", " geo", "nan", "None", "東京", "geo,a", 'geo"q'], 3))})
    return out


TABLE: List[Callable] = [drop_column, duplicate_column, rename_column, swap_types, bad_cells,
                         huge_values, shuffle_rows, drop_rows, duplicate_rows, odd_dates, odd_geos]


# --- mutations of the file's bytes --------------------------------------------------------------

def random_bytes(data, rng):
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 20))):
        buf[int(rng.integers(len(buf)))] = int(rng.integers(256))
    return bytes(buf)


def insert_bytes(data, rng):
    at = int(rng.integers(len(data)))
    return data[:at] + rng.bytes(int(rng.integers(1, 64))) + data[at:]


def truncate(data, rng):
    return data[:int(rng.integers(0, len(data)))]


def bom(data, rng):
    return b"\xef\xbb\xbf" + data


def crlf(data, rng):
    return data.replace(b"\n", b"\r\n")


def lone_cr(data, rng):
    return data.replace(b"\n", b"\r")


def reencode(data, rng):
    text = data.decode("utf-8", errors="replace").replace("geo_0", str(rng.choice(["géo_0", "ģeo_0"])))
    return text.encode(str(rng.choice(["latin-1", "utf-16", "utf-16-le", "cp1252", "utf-32"])),
                       errors="replace")


def quote_numbers(data, rng):
    lines = data.decode("utf-8", errors="replace").split("\n")
    q = str(rng.choice(['"', "'"]))
    return "\n".join([lines[0]] + [",".join(f"{q}{c}{q}" for c in ln.split(",")) if ln else ln
                                   for ln in lines[1:]]).encode()


def other_separator(data, rng):
    return data.replace(b",", rng.choice([b";", b"\t", b"|", b", "]))


def empty_lines(data, rng):
    lines = data.split(b"\n")
    for _ in range(int(rng.integers(1, 5))):
        lines.insert(int(rng.integers(len(lines) + 1)), rng.choice([b"", b",,,,", b" "]))
    return b"\n".join(lines)


BYTES: List[Callable] = [random_bytes, insert_bytes, truncate, bom, crlf, lone_cr, reencode,
                         quote_numbers, other_separator, empty_lines]


def make_case(frame: pd.DataFrame, rng: np.random.Generator) -> Tuple[bytes, str, List[str]]:
    """A mutated file (its bytes, its suffix, and the names of the mutations applied)."""
    df, names = frame, []
    for fn in rng.choice(TABLE, int(rng.integers(0, 3)), replace=False):
        try:
            df, names = fn(df, rng), names + [fn.__name__]
        except (KeyError, ValueError, TypeError, AttributeError):  # an earlier mutation took or
            pass                                                   # doubled its column
    data, suffix = df.to_csv(index=False).encode(), ".csv"
    if rng.random() < 0.15:
        for table in (df, df.astype(str)):                 # the writer refuses mixed object types
            try:
                buf = io.BytesIO()
                table.to_parquet(buf)
            except (ValueError, TypeError, ArrowException):  # or duplicate column names
                continue
            data, suffix = buf.getvalue(), ".parquet"
            names.append("parquet")
            break
    for fn in rng.choice(BYTES, int(rng.integers(0 if names else 1, 3)), replace=False):
        data, names = fn(data, rng), names + [fn.__name__]
    return data, suffix, names


def make_config(frame: pd.DataFrame, rng: np.random.Generator, path: Path) -> DataConfig:
    """The panel's data config, in some cases with excluded dates (good or bad) or negative KPI
    allowed."""
    cfg = replace(CFG, path=str(path))
    if rng.random() < 0.2:
        days = [str(pd.Timestamp(d).date()) for d in rng.choice(frame["week"].unique(), 2)]
        cfg = replace(cfg, exclude=days + ([str(rng.choice(WORDS))] if rng.random() < 0.3 else []))
    if rng.random() < 0.1:
        cfg = replace(cfg, allow_negative_kpi=True)
    return cfg


def outcome(cfg: DataConfig) -> str:
    """'dataset', 'user error', or what else happened (a traceback, or a Dataset whose model
    inputs are not finite: the fit would fail on it later)."""
    try:
        ds = load_dataset(cfg)
        data = model_data(ds, fit_scaling(ds))
    except MmmGeoError:
        return "user error"
    except Exception:
        return traceback.format_exc()
    for name in ("kpi", "spend", "exposure", "controls", "population", "revenue_per_kpi"):
        if not np.isfinite(ds[name].values).all():
            return f"loaded with non-finite {name}"
    for name in ("y", "media", "controls", "revenue_weight", "spend_share", "kpi_unit"):
        if not np.isfinite(getattr(data, name)).all():
            return f"loaded, but the model's {name} is not finite"
    return "dataset"


def test_fuzz_loader(tiny_frame, tmp_path, capsys):
    frame, rng = tiny_frame[0], np.random.default_rng(SEED)
    counts, failures = {"dataset": 0, "user error": 0}, []
    for case in range(CASES):
        data, suffix, names = make_case(frame, rng)
        path = tmp_path / f"case{suffix}"
        path.write_bytes(data)
        result = outcome(make_config(frame, rng, path))
        if result in counts:
            counts[result] += 1
        else:
            failures.append(f"case {case} ({'+'.join(names)}): {result}")
    capsys.readouterr()                                   # the loader's data warnings
    with capsys.disabled():
        print(f"\nloader fuzz: {CASES} cases (seed {SEED}): {counts['dataset']} datasets, "
              f"{counts['user error']} user errors, {len(failures)} other outcomes")
    assert not failures, "\n".join(failures[:5])
    assert counts["dataset"] and counts["user error"]      # both outcomes are exercised


def test_fuzz_cases_are_seeded(tiny_frame):
    first = [make_case(tiny_frame[0], np.random.default_rng(7)) for _ in range(3)]
    again = [make_case(tiny_frame[0], np.random.default_rng(7)) for _ in range(3)]
    assert first == again


@pytest.mark.parametrize("kind", [truncate, reencode, huge_values])
def test_cli_bad_file_leaves_no_complete_run(tiny_frame, tmp_path, kind):
    """A bad file through ``mmm-geo fit``: exit 2, a message, no traceback, no metrics.json."""
    frame = tiny_frame[0]
    if kind is huge_values:                               # a sum over spend of 1e308 overflows
        data = frame.assign(tv_spend=frame["tv_spend"].where(frame.index != 3, 1e308))
        data = data.to_csv(index=False).encode()
    elif kind is reencode:
        data = frame.to_csv(index=False).encode("utf-16")
    else:
        data = frame.to_csv(index=False).encode()[:5000]
    (tmp_path / "bad.csv").write_bytes(data)
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "bad.yaml").write_text(json.dumps(asdict(replace(CFG, path="bad.csv"))))
    proc = run_fit(tmp_path, "--config-dir", str(tmp_path / "conf"), "data=bad")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "mmm-geo: error: " in proc.stderr and "fix: " in proc.stderr
    assert not list(tmp_path.rglob("metrics.json"))


def test_dates_with_a_time_zone_keep_their_local_dates(tiny_frame):
    """Found by the fuzz: ISO dates with an offset loaded as zoned times, and data.exclude then
    failed comparing them with a plain date."""
    from mmm_geo.data.load import to_dataset

    df = tiny_frame[0].copy()
    df["week"] = pd.to_datetime(df["week"]).dt.tz_localize("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    ds = to_dataset(df, replace(CFG, exclude=["2023-01-09"]), "panel.csv")
    assert ds["time"].dtype.kind == "M"                 # datetime64, not objects with a zone
    assert str(pd.Timestamp(ds["time"].values[1]).date()) == "2023-01-09"
    assert ds["excluded"].values.tolist() == [t == 1 for t in range(TINY_SIM.weeks)]
