"""Simulated multi-geo panels with known truth, and the embedded default dataset.

The generator is written independently of the model code (plain NumPy, the unnormalised curves
and lag weights of ``mmm_geo.data.sim_forms``), so a bug in ``mmm_geo.model`` cannot hide itself
in the truth.

Per capita, for geo g, week t and channel c::

    kpi_pc[g,t] = base_g * (1 + trend_t + season_t) + sum_k gamma_k z[g,t,k]
                  + sum_c beta[g,c] * sat_c(adstock_c(x[g,.,c])) + noise

with ``x`` the exposure per capita in units of the channel's mean non-zero level, and
``beta[g,c] = beta_c * exp(sd * eta[g,c])`` log-normal around the channel mean, set so that the
channel's national ROI is its drawn target. ``family=default``: geometric adstock and the
``saturation`` curve (Hill with slope 1, or logistic) for every channel, similar channel sizes;
``family=wide``: forms, sizes and flighting from the wider family of ``mmm_geo.data.sim_wide``
(drawn from their own random stream, so the default panel is the same with or without it).
With ``treatments``, price and promotion factors multiply the whole mean
(``mmm_geo.data.sim_treatments``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import pandas as pd

from mmm_geo.config import ChannelColumns, DataConfig, SimulationConfig
from mmm_geo.data import sim_mediation, sim_rf
from mmm_geo.data import sim_treatments
from mmm_geo.data.sim_forms import (SATURATIONS, Media, channel_params, check_forms, lag_weights,
                                    media_effect, synergy_effect, time_multiplier, total_effect)
from mmm_geo.data.sim_wide import YEAR, Wide, channel_classes, draw_wide
from mmm_geo.errors import ConfigError

CHANNEL_NAMES = ["tv", "search", "social", "display", "radio", "print", "video", "audio",
                 "ooh", "affiliate", "email", "podcast"]
CONTROL_NAMES = ["price_index", "competitor", "promo", "weather", "macro"]


def channel_names(n: int, names=()) -> list:
    """``names`` (``simulation.names``) if given, else the first ``n`` channel names: the named
    ones, then ``channel13``, ``channel14``, ..."""
    if names:
        return list(names)
    return (CHANNEL_NAMES + [f"channel{i}" for i in range(len(CHANNEL_NAMES) + 1, n + 1)])[:n]


def control_names(n: int) -> list:
    """The first ``n`` control names: the named ones, then ``control6``, ``control7``, ..."""
    return (CONTROL_NAMES + [f"control{i}" for i in range(len(CONTROL_NAMES) + 1, n + 1)])[:n]


FAMILIES = ("default", "wide")
KPI_NOISE = ("normal", "student_t", "lognormal", "poisson", "negbinomial")
COUNTS = ("poisson", "negbinomial")
ADSTOCK_DRAWS = {"delayed": {"alpha": (0.3, 0.7), "peak": (1.0, 3.0)},   # default family, non-geometric
                 "weibull": {"shape": (1.5, 3.0), "scale": (2.0, 4.0)},
                 "weibull_cdf": {"shape": (0.7, 2.0), "scale": (1.5, 4.0)},
                 "gamma": {"mean_lag": (1.0, 3.0), "shape": (0.7, 3.0)},
                 "binomial": {"alpha": (0.2, 0.6)}}


def _check(cfg: SimulationConfig) -> None:
    if cfg.channels < 1 or cfg.controls < 0:
        raise ConfigError(f"simulation.channels={cfg.channels}, controls={cfg.controls}: give at "
                          "least 1 channel and 0 or more controls")
    if cfg.family not in FAMILIES:
        raise ConfigError(f"simulation.family={cfg.family!r} is unknown; use one of "
                          f"{', '.join(FAMILIES)}")
    if cfg.family == "wide":
        check_forms(cfg.adstocks, cfg.saturations)
        if not (cfg.adstocks and cfg.saturations and cfg.spend_ratio >= 1
                and 0 <= cfg.class_share <= 1):
            raise ConfigError("simulation: the wide family needs adstocks and saturations to draw "
                              "from, spend_ratio >= 1 and 0 <= class_share <= 1")
    else:
        check_forms([cfg.adstock], [cfg.saturation])
    if cfg.names and (len(cfg.names) != cfg.channels or len(set(cfg.names)) != cfg.channels
                      or not all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in cfg.names)):
        raise ConfigError(f"simulation.names={list(cfg.names)}: give {cfg.channels} distinct "
                          "lower-case names (letters, digits, _), one per channel, or none")
    names = channel_names(cfg.channels, cfg.names)
    if not set(cfg.time_varying) <= set(names) or cfg.tv_change <= 0:
        raise ConfigError(f"simulation.time_varying={list(cfg.time_varying)}: name channels of the "
                          f"panel {names}, with tv_change > 0")
    for pair in cfg.synergy:
        if len(pair) != 2 or len(set(pair)) != 2 or not set(pair) <= set(names):
            raise ConfigError(f"simulation.synergy: {list(pair)} is not a pair of two of the "
                              f"panel's channels {names}\n  fix: e.g. simulation.synergy="
                              f"[[{names[0]},{names[-1]}]]")
    sim_mediation.check(cfg, names)
    sim_rf.check(cfg, names)
    if not 0 <= cfg.organic < cfg.channels:
        raise ConfigError(f"simulation.organic={cfg.organic}: give 0 to {cfg.channels - 1} "
                          "organic channels (at least one channel must be paid)")
    if cfg.kpi_noise not in KPI_NOISE:
        raise ConfigError(f"simulation.kpi_noise={cfg.kpi_noise!r} is unknown; use one of "
                          f"{', '.join(KPI_NOISE)}")


def _shocks(cfg: SimulationConfig) -> np.ndarray:
    """The baseline's national multiplier per week, (time,): 1, except ``shocks`` weeks drawn at
    random (not in the first or last 4) whose baseline is off by +- ``shock_size`` x U(0.5, 1),
    unrecorded in the data (its own stream: the rest of the panel is unchanged)."""
    mult = np.ones(cfg.weeks)
    if cfg.shocks:
        rng = np.random.default_rng([cfg.seed, 7])
        weeks = rng.choice(np.arange(4, cfg.weeks - 4), size=cfg.shocks, replace=False)
        mult[weeks] += rng.choice([-1.0, 1.0], cfg.shocks) * cfg.shock_size * rng.uniform(0.5, 1, cfg.shocks)
    return mult


def _season(weeks: np.ndarray) -> np.ndarray:
    """The KPI's seasonal cycle (relative to its baseline)."""
    return 0.08 * np.sin(2 * np.pi * weeks / YEAR) + 0.04 * np.cos(4 * np.pi * weeks / YEAR)


def _spend(rng: np.random.Generator, cfg: SimulationConfig, pop: np.ndarray,
           wide: Optional[Wide]) -> np.ndarray:
    """Spend per geo x week x channel with flighting, geo differences and dark weeks."""
    g, t, c = cfg.geos, cfg.weeks, cfg.channels
    weeks = np.arange(t)
    level = rng.uniform(0.2, 0.8, size=c)                        # $ per capita per week
    phase = rng.uniform(0, 2 * np.pi, size=c)
    national = 1 + 0.4 * np.sin(2 * np.pi * weeks[:, None] / 52.18 + phase)
    national = national * rng.lognormal(0, 0.35, size=(t, c))
    dark = rng.uniform(size=(t, c)) < np.linspace(cfg.dark_min, cfg.dark_max, c)  # paused weeks
    if wide is not None:       # drawn from its own stream; the draws above keep this one in step
        level, national, dark = wide.level, wide.national, wide.dark
    national = np.where(dark, 0.0, national)
    geo_factor = rng.lognormal(0, 0.4, size=(g, 1, c))
    noise = rng.lognormal(0, 0.3, size=(g, t, c))
    spend = level * national[None] * geo_factor * noise * pop[:, None, None]
    if wide is not None:       # channel sizes in exactly the drawn ratios
        spend = spend * (level * pop.sum() * t / spend.sum(axis=(0, 1)))
    return spend


def simulate(cfg: SimulationConfig = SimulationConfig(),
             spend_scale: Optional[np.ndarray] = None) -> Tuple[pd.DataFrame, dict]:
    """Generate a long table (one row per geo x week) and its truth (see module docstring).

    Args:
        cfg: the panel.
        spend_scale: a counterfactual: multiplies the spend behind the revenue (broadcast to
            geo x week x channel; e.g. a channel's column at 0 switches it off), with every draw
            and parameter of the factual panel kept; the table's spend and the truth stay factual.

    Returns:
        The table, with columns geo, week, revenue, population, ``<channel>_spend``,
        ``<channel>_impressions`` and the controls; and a dict with the true ROI, marginal ROI and
        contribution per channel, nationally and per geo (``national``, ``geo``), the parameters
        (``params``, arrays over channels), each channel's forms, own parameters and descriptors
        (``channels``) and class labels (``classes``, see ``mmm_geo.data.sim_wide.CLASSES``).
    """
    _check(cfg)
    sim_treatments.check(cfg)
    rng = np.random.default_rng(cfg.seed)
    g, t, c, k = cfg.geos, cfg.weeks, cfg.channels, cfg.controls
    geos = [f"geo_{i:02d}" for i in range(g)]
    channels, controls = channel_names(c, cfg.names), control_names(k)
    weeks = np.arange(t)
    season = _season(weeks)
    wide = draw_wide(cfg, season) if cfg.family == "wide" else None
    pop = np.round(np.exp(rng.uniform(np.log(2e5), np.log(5e6), size=g)))
    spend = _spend(rng, cfg, pop, wide)
    cost_per_imp = rng.uniform(0.004, 0.02, size=c)
    impressions = np.round(spend / cost_per_imp)
    x_pc = impressions / pop[:, None, None]
    media_unit = np.array([x_pc[..., j][x_pc[..., j] > 0].mean() for j in range(c)])
    x = x_pc / media_unit

    params = {
        "alpha": rng.uniform(0.2, 0.7, size=c),
        "half_saturation": rng.uniform(0.6, 1.8, size=c),
        "slope": np.ones(c),
        "lam": rng.uniform(0.8, 2.5, size=c),
        "roi_target": rng.uniform(0.6, 3.5, size=c),
    }
    adstocks, saturations = (wide.adstock, wide.saturation) if wide else ([cfg.adstock] * c,
                                                                          [cfg.saturation] * c)
    saturations = ["linear" if ch in cfg.rf else s for ch, s in zip(channels, saturations)]
    if not wide and cfg.adstock != "geometric":     # its own stream: the other draws are unchanged
        own = np.random.default_rng([cfg.seed, 3])
        params.update({n: own.uniform(lo, hi, size=c) for n, (lo, hi) in ADSTOCK_DRAWS[cfg.adstock].items()})
    missing = {n for s in saturations for n in SATURATIONS[s]} - set(params)
    if wide or missing:        # the wide family's parameters (default: of curves beyond logistic)
        extra = (wide or draw_wide(cfg, season)).params
        params.update({n: v for n, v in extra.items() if wide or n in missing})
    base = 10.0 * rng.lognormal(0, 0.25, size=g)                 # $ per capita per week
    trend = 0.1 * weeks / 52.18
    z = rng.normal(size=(g, t, k)) + 0.5 * rng.normal(size=(1, t, k))
    gamma = rng.normal(0, 0.4, size=k)

    # Choose beta_c so that the national ROI of channel c equals roi_target_c.
    media = Media(adstocks, saturations, params, lag_weights(adstocks, params, cfg.max_lag),
                  np.ones((g, c)), time_mult=time_multiplier(cfg, channels))
    x, mediator = sim_mediation.mediate(cfg, x, media, channels)   # None without a mediator
    if mediator is not None:
        j = mediator.mediator
        impressions[..., j] = np.round(x[..., j] * media_unit[j] * pop[:, None])
    x, frequency, rf_truth = sim_rf.draw(cfg, x, channels)     # R&F channels act through reach
    eta = rng.normal(size=(g, c))
    geo_mult = np.exp(cfg.media_geo_sd * eta)
    sat_pop = media_effect(x, media) * geo_mult[:, None, :] * pop[:, None, None]
    params["beta"] = params["roi_target"] * spend.sum(axis=(0, 1)) / sat_pop.sum(axis=(0, 1))
    params["beta_geo"] = params["beta"] * geo_mult
    params["synergy"] = [[channels.index(a), channels.index(b), cfg.synergy_kappa] for a, b in cfg.synergy]
    media = media._replace(beta_geo=params["beta_geo"],
                           synergy=tuple((i, j, k) for i, j, k in params["synergy"]))

    media_pc = total_effect(x if spend_scale is None
                            else sim_mediation.respond(x, x * spend_scale, media, mediator), media)
    shock = _shocks(cfg)
    base_pc = base[:, None] * ((1 + trend + season) * shock)[None, :] + z @ gamma
    noise = rng.normal(0, cfg.noise * base.mean(), size=(g, t))
    mult, treat_columns, treat_truth = sim_treatments.draw(cfg, geos, base_pc + media_pc, pop)
    mean_pc = (base_pc + media_pc) * mult     # treatments multiply the mean KPI
    frame = {"geo": np.repeat(geos, t), "week": np.tile(pd.date_range(cfg.start, periods=t, freq="7D"), g),
             **_kpi(mean_pc, noise, pop, cfg), "population": np.repeat(pop, t)}
    for j, name in enumerate(channels):
        if j < c - cfg.organic and name != cfg.mediation.mediator:
            frame[f"{name}_spend"] = spend[..., j].ravel()
        frame[f"{name}_impressions"] = impressions[..., j].ravel()
        if name in rf_truth:
            frame[f"{name}_frequency"] = frequency[..., j].ravel()
    for j, name in enumerate(controls):
        frame[name] = z[..., j].ravel()
    frame.update(treat_columns)
    truth = _truth(x, spend, pop, media, geos, channels)
    if cfg.lift_tests:
        truth["lift_tests"] = _lift_tests(x, pop, media, cfg, geos, channels, frame["week"][:t])
    for j, ch in enumerate(channels):      # counterfactual (synergy included), as the model's
        nat = truth["national"][ch]
        nat["contribution_per_1000"] = 1000.0 * nat.get("contribution_total", nat["contribution"]) \
            / float(impressions[..., j].sum())
    truth["organic"] = channels[c - cfg.organic:] if cfg.organic else []
    sim_rf.add_truth(truth, rf_truth)
    truth["shocks"] = {str(frame["week"][w])[:10]: float(shock[w]) for w in np.flatnonzero(shock != 1)}
    if treat_truth:
        truth["treatments"] = treat_truth
    if mediator is not None:
        truth["mediation"] = sim_mediation.truth(x, spend, pop, media, mediator, channels)
        truth["organic"] = [ch for ch in channels if ch in truth["organic"] or ch == cfg.mediation.mediator]
    if media.time_mult is not None:
        params["time_mult"] = media.time_mult
        truth["time_varying"] = {ch: media.time_mult[:, channels.index(ch)].tolist() for ch in cfg.time_varying}
    truth["params"] = {key: np.asarray(val).tolist() for key, val in params.items()}
    truth["params"].update(base=base.tolist(), gamma=gamma.tolist(), noise_sd=cfg.noise * float(base.mean()),
                           lag_weights=media.weights.tolist(), cost_per_impression=cost_per_imp.tolist(),
                           media_unit=media_unit.tolist(), population=pop.tolist())
    roi = np.array([truth["national"][ch]["roi"] for ch in channels])
    described = channel_classes(spend, season, media, roi, channels)
    truth["family"], truth["max_lag"] = cfg.family, cfg.max_lag
    truth["channels"] = {ch: {**channel_params(media, j),
                              **{key: v for key, v in described[ch].items() if key != "classes"}}
                         for j, ch in enumerate(channels)}
    truth["classes"] = {ch: described[ch]["classes"] for ch in channels}
    return pd.DataFrame(frame), truth


def _kpi(mean_pc: np.ndarray, noise: np.ndarray, pop: np.ndarray, cfg: SimulationConfig) -> dict:
    """The KPI columns around the per-capita mean revenue (geo, time), by ``cfg.kpi_noise``:
    ``revenue``, or ``conversions`` and ``revenue_per_conversion`` for the count KPIs."""
    if cfg.kpi_noise == "normal":
        return {"revenue": ((mean_pc + noise) * pop[:, None]).ravel()}
    rng = np.random.default_rng([cfg.seed, 4])
    mean = mean_pc * pop[:, None]
    if cfg.kpi_noise == "student_t":
        return {"revenue": (mean + rng.standard_t(4, mean.shape) * noise.std() * pop[:, None]).ravel()}
    if cfg.kpi_noise == "lognormal":
        return {"revenue": (mean * np.exp(rng.normal(-0.5 * cfg.noise ** 2, cfg.noise, mean.shape))).ravel()}
    price = float(mean.mean()) / cfg.count_mean
    rate = mean / price
    counts = (rng.poisson(rate) if cfg.kpi_noise == "poisson"
              else rng.negative_binomial(50.0, 50.0 / (50.0 + rate)))
    return {"conversions": counts.astype(float).ravel(), "revenue_per_conversion": np.full(counts.size, price)}


def _revenue(x: np.ndarray, media: Media, pop: np.ndarray) -> np.ndarray:
    """True incremental revenue (geo, time, channel) of scaled exposure ``x``."""
    return media_effect(x, media) * pop[:, None, None]


def true_revenue(spend: np.ndarray, truth: dict, frequency: Optional[dict] = None) -> np.ndarray:
    """The TRUE incremental revenue (geo, time) of any spend (geo, time, channel) of a simulated
    panel's geos and channels, every channel's own and every synergy, from its truth dict
    (``simulate``'s, or ``truth.json``).

    The same response as the truth's contributions (``_truth``), on the exposure the spend buys at
    the panel's cost per impression (the table's impressions are rounded to whole numbers, a
    relative difference below 1e-6). The panel starts from zero: spend before its first week
    does not carry over. A panel with reach & frequency channels needs each one's planned average
    frequency, ``frequency[name]``: a number, or (geo, time) (the panel's own: its
    ``<name>_frequency`` column); its impressions then reach ``impressions / frequency`` people
    (``mmm_geo.data.sim_rf``).
    """
    p = {key: np.asarray(v, float) for key, v in truth["params"].items() if key != "synergy"}
    names, chans = list(truth["channels"]), truth["channels"].values()
    media = Media([ch["adstock"] for ch in chans], [ch["saturation"] for ch in chans], p,
                  p["lag_weights"], p["beta_geo"],
                  tuple((int(i), int(j), k) for i, j, k in truth["params"].get("synergy", [])),
                  p.get("time_mult"))
    pop = p["population"]
    x = spend / p["cost_per_impression"] / pop[:, None, None] / p["media_unit"]
    rf, frequency = truth.get("rf") or {}, frequency or {}
    missing = sorted(set(rf) - set(frequency))
    if missing:
        raise ValueError(f"true_revenue: the reach & frequency channels {missing} need their "
                         "planned frequency: pass frequency={name: f}")
    for name, own in rf.items():
        j = names.index(name)
        f = np.broadcast_to(np.asarray(frequency[name], float), x.shape[:2])
        x[..., j] = np.where(x[..., j] > 0, x[..., j] * sim_rf.per_impression(
            np.maximum(f, 1.0), own["half_saturation"], own["slope"]), 0.0)
    return total_effect(x, media) * pop[:, None]


def _truth(x, spend, pop, media: Media, geos, channels) -> dict:
    """True contribution, ROI and marginal ROI (1 % more spend everywhere), nationally and per geo."""
    resp = _revenue(x, media, pop)
    up = _revenue(x * 1.01, media, pop)
    contrib, marginal, cost = resp.sum(axis=1), (up - resp).sum(axis=1), spend.sum(axis=1)

    def block(cg, mg, sg):
        return {ch: {"contribution": float(cg[j]), "spend": float(sg[j]), "roi": float(cg[j] / sg[j]),
                     "mroi": float(mg[j] / (0.01 * sg[j]))} for j, ch in enumerate(channels)}

    out = {
        "national": block(contrib.sum(0), marginal.sum(0), cost.sum(0)),
        "geo": {geo: block(contrib[i], marginal[i], cost[i]) for i, geo in enumerate(geos)},
        "media_total": float(resp.sum()),
    }
    if media.synergy:      # counterfactuals of the whole response: synergy included
        tot = lambda xx: float((total_effect(xx, media).sum(1) * pop).sum())  # noqa: E731
        for j, ch in enumerate(channels):
            scaled = lambda f: x * np.where(np.arange(len(channels)) == j, f, 1.0)  # noqa: E731
            lost, gain = tot(x) - tot(scaled(0.0)), tot(scaled(1.01)) - tot(x)
            out["national"][ch].update(contribution_total=lost, roi_total=lost / spend[..., j].sum(),
                                       mroi_total=gain / (0.01 * spend[..., j].sum()))
        syn = synergy_effect(x, media).sum(axis=1) * pop[:, None]          # (geo, pair)
        out["synergy"] = {f"{channels[i]}:{channels[j]}": {"kappa": k, "contribution": float(syn[:, n].sum())}
                          for n, (i, j, k) in enumerate(media.synergy)}
        out["media_total"] += float(syn.sum())
    return out


def _lift_tests(x, pop, media: Media, cfg: SimulationConfig, geos, channels, weeks) -> list:
    """Geo experiments: channel ``i % channels`` on in ``lift_geos`` random geos for ``lift_weeks``
    weeks against off, measured until its carryover has ended (``max_lag - 1`` more weeks); the
    true lift over those cells, measured with noise ``lift_se`` x truth."""
    rng = np.random.default_rng([cfg.seed, 1])        # its own stream: the panel is unchanged
    resp = media_effect(x, media)
    cool, rows = cfg.max_lag - 1, []
    while len(rows) < cfg.lift_tests:
        j = len(rows) % len(channels)
        geo = rng.choice(len(geos), cfg.lift_geos, replace=False)[:, None]
        spent = rng.integers(0, x.shape[1] - cfg.lift_weeks - cool + 1) + np.arange(cfg.lift_weeks)
        if not x[geo, spent[None, :], j].any():
            continue
        off = x.copy()
        off[geo, spent[None, :], j] = 0.0
        diff = (resp - media_effect(off, media))[..., j] * pop[:, None]
        true = float(diff[geo, np.arange(spent[0], spent[-1] + cool + 1)[None, :]].sum())
        se = cfg.lift_se * abs(true)
        rows.append({"channel": channels[j], "geo": "|".join(geos[g] for g in sorted(geo[:, 0])),
                     "start": str(pd.Timestamp(weeks[spent[0]]).date()),
                     "end": str(pd.Timestamp(weeks[spent[-1]]).date()), "cooldown": cool,
                     "lift": true + rng.normal(0, se), "lift_se": se, "spend": "all", "true_lift": true})
    return rows


def lift_table(truth: dict) -> pd.DataFrame:
    """The simulated lift tests as the table a user would supply (without the truth)."""
    return pd.DataFrame(truth["lift_tests"]).drop(columns="true_lift")


def data_config(cfg: SimulationConfig, path: str | None = None) -> DataConfig:
    """The DataConfig that reads a simulated table (from ``path``, or in memory when None)."""
    chans = {name: ChannelColumns(spend=f"{name}_spend" if j < cfg.channels - cfg.organic
                                  and name != cfg.mediation.mediator else None,
                                  exposure=f"{name}_impressions",
                                  frequency=f"{name}_frequency" if name in cfg.rf else None)
             for j, name in enumerate(channel_names(cfg.channels, cfg.names))}
    lift = str(Path(path).with_name("lift_tests.csv")) if path and cfg.lift_tests else None
    counts = cfg.kpi_noise in COUNTS
    return DataConfig(path=path, time="week", geo="geo", kpi="conversions" if counts else "revenue",
                      revenue_per_kpi="revenue_per_conversion" if counts else None,
                      population="population", channels=chans, controls=control_names(cfg.controls),
                      lift_tests=lift, treatments=sim_treatments.data_columns(cfg))


def write_simulation(cfg: SimulationConfig, out: Path) -> list:
    """Write ``data.csv``, ``truth.json`` and ``data/simulated.yaml`` (a data config) into ``out``.

    Fit it with ``mmm-geo fit --config-dir <out> data=simulated``.
    """
    (out / "data").mkdir(parents=True, exist_ok=True)
    frame, truth = simulate(cfg)
    data_path = out / "data.csv"
    frame.to_csv(data_path, index=False)
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    written = [data_path, out / "truth.json", out / "data" / "simulated.yaml"]
    if cfg.lift_tests:
        lift_table(truth).to_csv(out / "lift_tests.csv", index=False)
        written.append(out / "lift_tests.csv")
    dcfg = asdict(data_config(cfg, str(data_path.resolve())))
    lines = [f"# simulated panel: {json.dumps(asdict(cfg))}", json.dumps(dcfg, indent=2)]
    (out / "data" / "simulated.yaml").write_text("\n".join(lines) + "\n")
    return written
