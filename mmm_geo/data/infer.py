"""Propose a data config from a long table: which column plays which role, and why.

:func:`propose` (columns and values in, no file I/O) returns the data config mapping (the keys of
:class:`mmm_geo.config.DataConfig` but ``path``), one :class:`Decision` per role with its reason,
and an :class:`Ambiguity` per role with several candidates: nothing ambiguous is chosen. Overrides
(``time=``, ``kpi=``, ... ``none`` leaves an optional role out) fix a role outright. By name: spend
(``*_spend``, ``*_cost``, ``*_S``, ``mdsp_*``) with the exposure of the same channel
(``*_impression(s)``, ``*_imp``, ``*_clicks``, ``*_views``, ``*_I``, ``mdip_*``), the KPI, ``revenue_per_*``
and ``population``. By values: the date column (all values parse as dates) and the geo (it tells
apart the rows of a date). Other numeric columns are candidate controls, except row indices,
calendar and trend columns, reach/frequency and constants.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import pandas as pd

from mmm_geo.data.validate import parse_times
from mmm_geo.errors import ConfigError, DataError

NONE = ("none", "null", "")
SPEND = {"spend", "spends", "spent", "spending", "cost", "costs", "mdsp"}
EXPOSURE = {"impression", "impressions", "imp", "imps", "impr", "imprs", "click", "clicks", "view",
            "views", "grp", "grps", "trp", "trps", "mdip", "exposure", "exposures"}
KPI = {"kpi", "y", "sales", "revenue", "revenues", "conversions", "conversion", "orders", "purchases",
       "units", "leads", "signups", "installs", "bookings", "transactions", "target", "outcome",
       "response", "gmv", "turnover", "demand", "volume"}
KPI_QUALIFIERS = {"total", "net", "gross", "all", "first", "new", "weekly", "daily", "monthly"}
POPULATION = {"population", "pop", "populations"}
GEO = {"geo", "geography", "region", "dma", "market", "state", "country", "territory", "division",
       "area", "city", "province", "zip", "location", "store"}
CALENDAR = {"year", "yr", "month", "mon", "week", "wk", "weekofyear", "weeknum", "day", "dayofyear",
            "doy", "dayofweek", "dow", "quarter", "qtr", "nbr", "num", "number", "of", "in", "index",
            "t", "trend", "prd", "period", "time"}
REACH = {"reach", "frequency", "freq"}
KEYS = ("time", "geo", "kpi", "revenue_per_kpi", "population", "controls", "spend", "date_format")
FREQUENCIES = {1: ("daily", 365.25), 7: ("weekly", 52.1775)}


@dataclass(frozen=True)
class Decision:
    """One line of the wizard's account: ``role: value (why)``."""

    role: str
    value: str
    why: str

    def line(self) -> str:
        return f"{self.role}: {self.value}  ({self.why})"


@dataclass(frozen=True)
class Ambiguity:
    """A role with several candidate columns; ``key`` is the override that resolves it."""

    role: str
    key: str
    choices: Tuple[str, ...]
    why: str

    def line(self) -> str:
        return (f"{self.role}: {len(self.choices)} candidates ({', '.join(self.choices)}; {self.why})"
                f"\n  fix: pass {self.key}=<column>, one of: {', '.join(self.choices)}")


@dataclass(frozen=True)
class Proposal:
    """The proposed data config (``config``), the decisions behind it and what is left open."""

    config: Dict
    decisions: Tuple[Decision, ...]
    ambiguities: Tuple[Ambiguity, ...]
    period: Optional[float] = None  # periods per year for model.period


def tokens(name) -> List[str]:
    """``'facebookSpend_S'`` -> ``['facebook', 'Spend', 'S']``: split on separators and camelCase."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def media_role(name) -> Optional[Tuple[str, str]]:
    """(``'spend'`` or ``'exposure'``, channel name) of a column named like media, else None.

    The channel name is the column's name without its role words: ``Channel0_spend`` and
    ``Channel0_impression`` -> ``Channel0``; Robyn's ``tv_S``, ``facebook_I``, ``search_clicks_P``
    -> ``tv``, ``facebook``, ``search``.
    """
    toks = tokens(name)
    low = [t.lower() for t in toks]
    if "per" in low or REACH & set(low):
        return None
    suffix = low[-1] if len(toks) > 1 else ""
    if SPEND & set(low) or suffix == "s":
        role = "spend"
    elif EXPOSURE & set(low) or suffix == "i":
        role = "exposure"
    else:
        return None
    keep = [t for t, lo in zip(toks, low) if lo not in SPEND | EXPOSURE]
    if len(keep) > 1 and keep[-1].lower() in ("s", "i", "p"):
        keep = keep[:-1]
    return role, "_".join(keep) or str(name)


def _is_kpi(name) -> bool:
    low = {t.lower() for t in tokens(name)}
    return bool(low & KPI) and low <= KPI | KPI_QUALIFIERS


def _is_revenue_per_kpi(name) -> bool:
    low = [t.lower() for t in tokens(name)]
    return (len(low) >= 3 and low[0] in ("revenue", "rev", "value") and low[1] == "per") or "_".join(low) == "revenue_per_kpi"


def _named(name, words: set) -> bool:
    return bool({t.lower() for t in tokens(name)} & words)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s)


def _row_index(s: pd.Series) -> bool:
    """0..n-1 or 1..n: the file's row numbers, not data."""
    values = s.to_numpy()
    return bool(s.notna().all()) and any(np.array_equal(values, np.arange(k, k + len(s))) for k in (0, 1))


def _date_like(s: pd.Series, fmt: Optional[str]) -> bool:
    """All values of a text (or datetime) column parse as dates."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if _numeric(s):
        return False
    values = pd.Series(s.dropna().unique())
    if values.empty:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(values.astype(str), errors="coerce", format=fmt)
    return bool(parsed.notna().all())


def frequency(times: pd.Series) -> Tuple[str, float, str]:
    """(label, periods per year, why) from the usual step between the sorted distinct dates."""
    periods = pd.DatetimeIndex(np.sort(times.unique()))
    if len(periods) < 2:
        return "unknown", FREQUENCIES[7][1], f"only {len(periods)} distinct date"
    days = np.diff(periods.values).astype("timedelta64[s]").astype(np.int64) / 86400
    step = float(pd.Series(days).mode().iloc[0])
    span = f"{len(periods)} dates {periods[0].date()}..{periods[-1].date()}"
    if step in FREQUENCIES:
        label, per_year = FREQUENCIES[int(step)]
        on = f", {periods.day_name()[0]}s" if step == 7 and periods.day_of_week.nunique() == 1 else ""
        return label, per_year, f"the dates are {step:g} day{'s' * (step != 1)} apart{on}; {span}"
    if 28 <= step <= 31:
        return "monthly", 12.0, f"the dates are a month apart; {span}"
    return f"every {step:g} days", 365.25 / step, f"the usual step is {step:g} days; {span}"


@dataclass
class _State:
    """What :func:`propose` has settled so far (internal)."""

    df: pd.DataFrame
    source: str
    taken: set = field(default_factory=set)
    decisions: List[Decision] = field(default_factory=list)
    open: List[Ambiguity] = field(default_factory=list)

    def decide(self, role: str, value, why: str) -> None:
        self.decisions.append(Decision(role, "none" if value is None else str(value), why))

    def column(self, key: str, value: str) -> Optional[str]:
        """The column an override names (None for ``none``); a clear error if it is not there."""
        if value.strip().lower() in NONE:
            return None
        if value not in self.df.columns:
            available = ", ".join(map(str, self.df.columns[:40]))
            raise DataError(f"{self.source}: no column '{value}' (given as {key}={value})\n  fix: "
                            f"pass {key}=<column>, one of: {available}")
        return value


def _pick(st: _State, role: str, key: str, candidates: List[str], why: str, missing: str):
    """The one candidate, or None with an ambiguity (several) or ``missing`` noted (none)."""
    if len(candidates) == 1:
        st.decide(role, candidates[0], why)
        return candidates[0]
    if candidates:  # kept from every other role until the user picks one
        st.taken.update(candidates)
        st.open.append(Ambiguity(role, key, tuple(map(str, candidates)), why))
    elif missing:
        st.decide(role, None, missing)
    return None


def _time(st: _State, over: Mapping[str, str], fmt: Optional[str]) -> Optional[str]:
    if "time" in over:
        col = st.column("time", over["time"])
        if col is None:
            raise ConfigError("time=none: the data needs a date column\n  fix: pass time=<column>")
        st.decide("time", col, "given as time=")
        return col
    cands = [c for c in st.df.columns if c not in st.taken and _date_like(st.df[c], fmt)]
    if not cands:
        text = [str(c) for c in st.df.columns if not _numeric(st.df[c])]
        raise DataError(f"{st.source}: no column whose values all parse as dates (text columns: "
                        f"{', '.join(text) or 'none'})\n  fix: pass time=<column> and, for an unusual "
                        "format, date_format=<strftime format, e.g. %d.%m.%Y>")
    return _pick(st, "time", "time", cands, "every value parses as a date", "")


def _geo(st: _State, over: Mapping[str, str], time: str) -> Optional[str]:
    if "geo" in over:
        col = st.column("geo", over["geo"])
        st.decide("geo", col, "given as geo=" + ("none: national data" if col is None else ""))
        return col
    per_date = int(st.df.groupby(time).size().max())
    if per_date == 1:
        st.decide("geo", None, "each date has one row: national data")
        return None
    cands = [c for c in st.df.columns if c not in st.taken and c != time
             and (not _numeric(st.df[c]) or _named(c, GEO)) and st.df[c].nunique() > 1]
    clean = [c for c in cands if not st.df.duplicated([c, time]).any()]
    named = [c for c in clean if _named(c, GEO)]
    if len(clean) > 1 and len(named) == 1:
        others = ", ".join(str(c) for c in clean if c != named[0])
        st.decide("geo", named[0], f"named like a geo; {others} also tell apart the rows of a date")
        return named[0]
    if clean:
        why = f"it tells apart the rows of each date: {st.df[clean[0]].nunique()} geos"
        return _pick(st, "geo", "geo", clean, why if len(clean) == 1 else
                     "each tells apart the rows of one date", "")
    if len(cands) == 1:  # duplicates: the loader names the rows
        st.decide("geo", cands[0], "the only label column (some geo x date rows repeat)")
        return cands[0]
    if not cands:
        raise DataError(f"{st.source}, column '{time}': up to {per_date} rows per date but no column "
                        "tells them apart\n  fix: pass geo=<column>, or keep one row per date")
    return _pick(st, "geo", "geo", cands, "label columns with repeated rows per date", "")


def _channels(st: _State, over: Mapping[str, str]) -> Dict[str, Dict[str, Optional[str]]]:
    """Spend columns and the exposure of the same channel, paired by name."""
    roles = {c: media_role(c) for c in st.df.columns if c not in st.taken}
    if "spend" in over:
        spend = [st.column("spend", s.strip()) for s in over["spend"].split(",") if s.strip()]
        given = "given as spend="
    else:
        spend = [c for c, r in roles.items() if r and r[0] == "spend"]
        given = "named like spend"
    if not spend:
        numeric = [str(c) for c in st.df.columns if c not in st.taken and _numeric(st.df[c])]
        raise DataError(f"{st.source}: no spend column found by name (*_spend, *_cost, *_S, mdsp_*)\n"
                        f"  fix: pass spend=<column>,<column>,... from: {', '.join(numeric)}")
    derived = [(media_role(c) or ("", str(c)))[1] for c in spend]
    names = [n if derived.count(n) == 1 else str(c) for n, c in zip(derived, spend)]
    st.taken.update(spend)
    exposures: Dict[str, List[str]] = {}
    for c, r in roles.items():
        if r and r[0] == "exposure" and c not in st.taken:
            exposures.setdefault(r[1].lower(), []).append(c)
    freqs = {"_".join(tokens(c)[:-1]).lower(): c for c in st.df.columns if c not in st.taken
             and len(tokens(c)) > 1 and tokens(c)[-1].lower() in ("frequency", "freq")}
    channels = {}
    for name, col, key in zip(names, spend, [d.lower() for d in derived]):
        override, found = f"exposure.{name}", exposures.get(key, [])
        if override in over:
            exp = st.column(override, over[override])
            why = f"{given}; exposure given as {override}="
            for other in [c for c in found if c != exp and c not in st.taken]:
                st.decide("left out", other, f"another exposure of channel {name}; {override}= picks one")
        else:
            exp = found[0] if len(found) == 1 else None
            if len(found) > 1:
                st.open.append(Ambiguity(f"exposure of channel {name}", override, tuple(found),
                                         "each is named like its exposure (pass none for spend only)"))
            why = f"{given}; {'exposure of the same name' if exp else 'no exposure column of that name'}"
        freq = freqs.get(key) if exp else None
        st.taken.update(found + ([exp] if exp else []) + ([freq] if freq else []))
        channels[name] = {"spend": col, **({"exposure": exp} if exp else {}),
                          **({"frequency": freq} if freq else {})}
        st.decide(f"channel {name}", f"spend {col}" + (f", exposure {exp}" if exp else "")
                  + (f", frequency {freq} (reach & frequency)" if freq else ""), why)
    unknown = [k.split(".", 1)[1] for k in over if k.startswith("exposure.")
               and k.split(".", 1)[1] not in channels]
    if unknown:
        raise ConfigError(f"exposure.{unknown[0]}=: no channel '{unknown[0]}'\n  fix: use a channel "
                          f"name: {', '.join(channels)}")
    return channels


def _optional(st: _State, over: Mapping[str, str], key: str, test, why: str, missing: str):
    if key in over:
        col = st.column(key, over[key])
        st.decide(key, col, f"given as {key}=")
        return col
    cands = [c for c in st.df.columns if c not in st.taken and test(c)]
    return _pick(st, key, key, cands, why, missing)


def _population(st: _State, over: Mapping[str, str], geo) -> Optional[str]:
    if "population" in over:
        return _optional(st, over, "population", None, "", "")
    cands = []
    for c in [c for c in st.df.columns if c not in st.taken and _named(c, POPULATION)]:
        if bool((st.df.groupby(geo)[c].nunique() > 1).any()) if geo else st.df[c].nunique() > 1:
            st.taken.add(c)
            st.decide("left out", c, "named like population but it changes over time within a geo; "
                      "pass controls=... to use it as a control")
        else:
            cands.append(c)
    return _pick(st, "population", "population", cands, "named like population, one value per geo",
                 "no population column: the model works in totals, not per capita")


def _controls(st: _State, over: Mapping[str, str]) -> List[str]:
    """Every numeric column with no other role, except indices, calendar and reach columns."""
    if "controls" in over:
        value = over["controls"]
        cols = [] if value.strip().lower() in NONE else [
            st.column("controls", c.strip()) for c in value.split(",") if c.strip()]
        if st.taken & set(cols):
            raise ConfigError(f"controls=: {', '.join(map(str, st.taken & set(cols)))} already "
                              "has another role\n  fix: list only columns that are not the date, geo, "
                              "KPI, media, revenue per KPI or population")
        st.decide("controls", ", ".join(map(str, cols)) or "none", "given as controls=")
        return cols
    out = []
    for c in [c for c in st.df.columns if c not in st.taken]:
        s, low = st.df[c], [t.lower() for t in tokens(c)]
        if not _numeric(s):
            values = ", ".join(map(str, pd.unique(s.dropna())[:3]))
            why = f"text (e.g. {values}); encode it as 0/1 columns to use it as a control"
        elif str(c).lower().startswith("unnamed") or not low or _row_index(s):
            why = "a row index"
        elif set(low) <= CALENDAR:
            why = "a calendar or trend column: the model has its own trend and seasonality"
        elif REACH & set(low):
            why = ("reach/frequency: a channel's frequency column (named <channel>_frequency) makes it "
                   "reach & frequency media; reach = impressions / frequency")
        elif s.nunique(dropna=False) == 1:
            why = "constant: a control must vary"
        elif _is_kpi(c):
            why = "named like a KPI: an outcome, not a control (kpi= picks the KPI)"
        elif (media_role(c) or ("",))[0] == "spend":
            why = "named like spend but not in spend=; add it there to model it as a channel"
        else:
            r = media_role(c)
            out.append(c)
            st.decide("control", c, "exposure with no spend column (organic or unpaid media)"
                      if r and r[0] == "exposure" else "numeric, no other role")
            continue
        st.decide("left out", c, why)
    return out


def propose(df: pd.DataFrame, source: str, overrides: Mapping[str, str]) -> Proposal:
    """The data config for ``df`` (read from ``source``), its decisions and its open choices."""
    bad = [k for k in overrides if k not in KEYS and not k.startswith("exposure.")]
    if bad:
        raise ConfigError(f"unknown key '{bad[0]}'\n  fix: use one of {', '.join(KEYS)}, "
                          "exposure.<channel>, name, out, force")
    st = _State(df, source)
    over = dict(overrides)
    for key in ("time", "geo", "kpi", "revenue_per_kpi", "population"):
        if key in over:
            st.taken.add(st.column(key, over[key]))
    fmt = over.get("date_format") or None
    time = _time(st, over, fmt)
    if time is None:  # the geo (rows per date) and the frequency depend on it
        return Proposal({}, tuple(st.decisions), tuple(st.open))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = parse_times(df, time, source, fmt)
    label, period, why = frequency(times)
    st.decide("frequency", label, why)
    st.taken.add(time)
    st.taken.add(geo := _geo(st, over, time))
    channels = _channels(st, over)
    kpi = _optional(st, over, "kpi", _is_kpi, "named like a KPI", "")
    if kpi is None and not any(a.key == "kpi" for a in st.open):
        numeric = [str(c) for c in df.columns if c not in st.taken and _numeric(df[c])]
        raise DataError(f"{source}: no KPI column found by name (sales, revenue, conversions, y, ...)"
                        f"\n  fix: pass kpi=<column>, one of: {', '.join(numeric)}")
    st.taken.add(kpi)
    st.taken.add(rpk := _optional(st, over, "revenue_per_kpi", _is_revenue_per_kpi,
                                  "named revenue per KPI: ROI is then in revenue",
                                  "no revenue_per_* column: the KPI is taken to be revenue"))
    st.taken.add(population := _population(st, over, geo))
    controls = _controls(st, over)
    config = {"time": time, "geo": geo, "kpi": kpi, "revenue_per_kpi": rpk,
              "population": population, "channels": channels, "controls": controls}
    if fmt:
        config["date_format"] = fmt
    return Proposal(config, tuple(st.decisions), tuple(st.open), period)
