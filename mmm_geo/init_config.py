"""``mmm-geo init <csv|parquet> [name=<name>] [out=<path>] [force=true] [<role>=<column> ...]``.

Inspects a long table, prints each role it inferred and why (``mmm_geo.data.infer``), checks the
proposal with the project's own loader and writes it as a data config, ``conf/data/<name>.yaml``
(or ``out``), for the user to check. An ambiguous role is listed with its choices and stops the
command (exit code 2) with the key that resolves it; an existing file is kept unless
``force=true``. Role keys: ``time``, ``geo``, ``kpi``, ``revenue_per_kpi``, ``population``,
``controls`` (comma-separated), ``spend`` (the spend columns, comma-separated),
``exposure.<channel>``, ``date_format``; ``none`` leaves an optional role out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Sequence, Tuple

import yaml

from mmm_geo import dims
from mmm_geo.errors import ConfigError, DataError

USAGE = ("usage: mmm-geo init <csv|parquet> [name=<name>] [out=<path>] [force=true] "
         "[time=|geo=|kpi=|revenue_per_kpi=|population=|controls=|spend=|exposure.<channel>=|"
         "date_format=<value>]")
WEEKLY = 52.1775  # the model's default model.period


def parse_args(argv: Sequence[str]) -> Tuple[str, Dict[str, str]]:
    """The file and the ``key=value`` options; a usage error for anything else."""
    files, options = [], {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            files.append(arg)
        elif key in options:
            raise ConfigError(f"{key}= given twice ({options[key]!r} and {value!r})\n  fix: give it once")
        else:
            options[key] = value
    if len(files) != 1:
        raise ConfigError(f"expected one data file, got {len(files)} ({', '.join(files) or 'none'})"
                          f"\n  fix: {USAGE}")
    return files[0], options


def _flag(options: Dict[str, str], key: str) -> bool:
    value = options.pop(key, "false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{key}={value}: not a boolean\n  fix: pass {key}=true or {key}=false")
    return value in ("true", "1", "yes")


def target(path: str, options: Dict[str, str], conf_dir: Path) -> Path:
    """Where the config goes: ``out=``, else ``<conf_dir>/data/<name>.yaml`` (name: the file's stem)."""
    name = options.pop("name", None) or re.sub(r"[^a-z0-9_]+", "_", Path(path).stem.lower()).strip("_")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name or ""):
        raise ConfigError(f"name={name}: not a usable config name\n  fix: pass name=<letters, digits, "
                          "_ . ->, e.g. name=mine")
    out = Path(options.pop("out")) if options.get("out") else conf_dir / "data" / f"{name}.yaml"
    force = _flag(options, "force")
    if out.is_dir():
        raise ConfigError(f"{out} is a folder\n  fix: pass out=<file>.yaml")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; it was left as it is\n  fix: pass force=true to "
                          "overwrite it, or name=<another name> (or out=<another file>)")
    return out


def config_text(path: str, overrides: Dict[str, str], proposal) -> str:
    """The data config as YAML, headed by the command (its role keys) and the decisions as comments."""
    command = " ".join([path, *(f"{k}={v}" for k, v in overrides.items())])
    head = [f"# Proposed by `mmm-geo init {command}`: check each role before fitting.",
            *(f"# {d.line()}" for d in proposal.decisions)]
    body = yaml.safe_dump({"path": path, **proposal.config}, sort_keys=False, default_flow_style=None,
                          allow_unicode=True, width=10**6)
    return "\n".join(head) + "\n" + body


def check_loads(text: str, df, source: str):
    """Load ``df`` with the config ``text`` through the project's own schema and loader."""
    from omegaconf import OmegaConf

    from mmm_geo.config import DataConfig, to_config
    from mmm_geo.data.load import to_dataset

    cfg = to_config(OmegaConf.create(text), DataConfig)
    try:
        return to_dataset(df, cfg, source)
    except DataError as err:
        raise DataError(f"{err}\n  the proposed config fails this check and was not written: fix the "
                        "data, or set the role with its key (see the lines above)") from None


def fit_hint(out: Path, conf_dir: Path, period: float) -> str:
    """The ``mmm-geo fit`` command that reads ``out``."""
    extra = f" model.period={period:g}" if period and abs(period - WEEKLY) > 1e-9 else ""
    if out.resolve().parent == (conf_dir / "data").resolve():
        return f"mmm-geo fit data={out.stem}{extra}"
    if out.parent.name == "data":
        return f"mmm-geo fit --config-dir {out.parent.parent.resolve()} data={out.stem}{extra}"
    return (f"move it to <dir>/data/{out.stem}.yaml, then: mmm-geo fit --config-dir <dir> "
            f"data={out.stem}{extra}")


def main(argv: Sequence[str], conf_dir: Path) -> Path:
    """Entry point of ``mmm-geo init``; returns the path of the written config."""
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return None
    from mmm_geo.data.infer import propose
    from mmm_geo.data.load import read_table
    from mmm_geo.experiments.store import write_text

    path, options = parse_args(argv)
    out = target(path, options, conf_dir)
    df = read_table(path, "the file argument of mmm-geo init")
    proposal = propose(df, path, options)
    for decision in proposal.decisions:
        print(decision.line())
    if proposal.ambiguities:
        raise DataError(f"{path}: {len(proposal.ambiguities)} role(s) are ambiguous; nothing was "
                        "written (mmm-geo init never guesses)\n"
                        + "\n".join(a.line() for a in proposal.ambiguities))
    text = config_text(path, options, proposal)
    ds = check_loads(text, df, path)
    n = {d: ds.sizes[d] for d in (dims.GEO, dims.TIME, dims.CHANNEL, dims.CONTROL)}
    print(f"check: the project's loader reads it: {n[dims.GEO]} geo(s) x {n[dims.TIME]} periods x "
          f"{n[dims.CHANNEL]} channel(s), {n[dims.CONTROL]} control(s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    print(f"wrote {out} (data.path is {path} as given: fit from this folder)\n"
          f"check it, then fit: {fit_hint(out, conf_dir, proposal.period)}")
    return out
