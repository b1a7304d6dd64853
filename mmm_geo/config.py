"""Frozen configuration dataclasses, one per Hydra config group.

Hydra composes YAML against these schemas (registered in its ConfigStore), so a typo in a key or an
override fails before any compute. :func:`to_config` turns a composed ``DictConfig`` into the frozen
dataclasses; library code never sees a ``DictConfig``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from mmm_geo.errors import ConfigError
from mmm_geo.plan_config import ForecastConfig, HorizonSpec
from mmm_geo.model_config import (  # noqa: F401  (re-exported: the model's config groups)
    AdstockConfig, ChannelModel, MediaPriorConfig, ModelConfig, Prior, PriorEntry, PriorsConfig,
    SaturationConfig, SynergyConfig, TimeVaryingConfig, TreatmentModel)


@dataclass
class ChannelColumns:
    """Columns of one channel: spend (user currency) and optional exposure (impressions, clicks);
    a channel with exposure and no spend is organic (or impressions-only) media. A reach &
    frequency channel has ``frequency`` too: its exposure is its impressions (reach x frequency).

    Not frozen: OmegaConf marks frozen dataclasses read-only, and values of a ``Dict[str, ...]``
    field are created during the merge, where thawing cannot reach them.
    """

    spend: Optional[str] = None     # null: organic or impressions-only media (exposure, no cost)
    exposure: Optional[str] = None
    frequency: Optional[str] = None  # a reach & frequency channel's average frequency per period


@dataclass
class TreatmentColumn:
    """A non-media treatment's column (``data.treatments.<name>``) and ``kind``: price (> 0; enters
    log-log, as an elasticity) or promotion (0/1 or an intensity, e.g. the share of the week on
    promotion; events too), see ``mmm_geo.model.treatments``. Not frozen, as :class:`ChannelColumns`."""

    column: Optional[str] = None
    kind: str = "promotion"


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and which column plays which role.

    ``path`` None means the embedded default dataset (a deterministic simulated panel).
    ``lift_tests``: an optional table of lift-test results that calibrates the media effects
    (columns and meaning in ``mmm_geo.data.lift``).
    ``treatments``: non-media treatments (price, promotions), name: :class:`TreatmentColumn`.
    ``exclude``: dates of periods the likelihood does not see (masked like held-out periods, never
    filled in); each must be a period of the data. ``exclude_geos``: geos whose rows are left out
    of the dataset (e.g. a geo with two series per period); each must be a geo of the data.
    ``holidays``: calendar holidays added as indicator controls (``mmm_geo.data.holidays``).
    ``allow_negative_kpi``: accept a KPI below zero
    (profit, net sales), only with likelihood normal or student_t (``mmm_geo.data.checks``).
    """

    path: Optional[str] = None
    time: str = "time"
    geo: Optional[str] = "geo"
    kpi: str = "kpi"
    revenue_per_kpi: Optional[str] = None
    population: Optional[str] = None
    channels: Dict[str, ChannelColumns] = field(default_factory=dict)
    controls: List[str] = field(default_factory=list)
    date_format: Optional[str] = None
    lift_tests: Optional[str] = None
    treatments: Dict[str, TreatmentColumn] = field(default_factory=dict)
    exclude: List[str] = field(default_factory=list)
    exclude_geos: List[str] = field(default_factory=list)
    holidays: List[str] = field(default_factory=list)
    allow_negative_kpi: bool = False


@dataclass(frozen=True)
class InferenceConfig:
    """NUTS settings. ``chain_method`` auto: parallel when there is a device per chain.

    ``init``: where the chains start: ``median`` (the prior median, jittered) or ``svi`` (each
    chain from its own draw of a mean-field variational fit of ``svi_steps`` Adam steps at rate
    ``svi_lr``, whose variances also start the mass matrix; ``mmm_geo.inference.warm``).
    ``shard``: ``geo`` splits the geos over all devices, one program (``mmm_geo.inference.shard``).
    """

    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    target_accept: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool = False
    chain_method: str = "auto"
    shard: str = "none"
    init: str = "median"
    svi_steps: int = 1000
    svi_lr: float = 0.01
    x64: bool = False
    progress_bar: bool = True
    ppc_batch: int = 500
    rhat_max: float = 1.01
    ess_min: float = 400.0
    strict: bool = False


@dataclass(frozen=True)
class SimMediation:
    """A simulated mediator (``simulation.mediation``): channel ``mediator`` becomes an exposure
    series without spend (e.g. branded search clicks), a geo baseline plus ``lift`` x each
    ``upstream`` channel's saturated carryover (geo effects as the KPI's) plus noise of sd
    ``noise`` x the mean baseline; the KPI responds to it as to any channel
    (``mmm_geo.data.sim_mediation``)."""

    mediator: Optional[str] = None
    upstream: List[str] = field(default_factory=list)
    lift: float = 0.8
    noise: float = 0.3


@dataclass(frozen=True)
class SimulationConfig:
    """A synthetic multi-geo panel with known parameters (see ``mmm_geo.data.simulate``).

    ``dark_min`` .. ``dark_max``: the share of weeks each channel is paused nationally, rising
    from the first channel to the last. With ``dark_min=0`` the first channel (tv) is always on:
    its response is then only seen between its lowest and highest weeks, and its ROI (the
    response from zero) is an extrapolation the data barely constrain; lift tests calibrate it.
    ``lift_tests`` > 0 adds that many geo experiments, one channel after another: the recorded
    spend of ``lift_geos`` random geos over ``lift_weeks`` weeks against none, measured until its
    carryover has ended, with a standard error of ``lift_se`` times the true lift.

    ``family``: default (geometric adstock and the ``saturation`` curve for every channel, similar
    channel sizes: the model's own assumptions) or wide (every channel's forms and parameters
    drawn from a wider family, see ``mmm_geo.data.sim_wide``: adstock from ``adstocks``,
    saturation from ``saturations``, Hill slopes 0.7-2.5, channel sizes spanning ``spend_ratio``,
    weak, always-on, seasonally flighted and long-carryover channels each with probability
    ``class_share``; ``saturation`` is then unused; use ``max_lag=13`` for the long lags). The
    default panel is the same whatever the wide-family fields say.

    ``adstock`` (default family): every channel's lag form (geometric, delayed, weibull,
    weibull_cdf, binomial; the non-geometric ones' parameters from their own random stream).
    ``kpi_noise``: normal (``noise`` x the mean baseline), student_t (4 degrees of freedom, same
    scale), lognormal (multiplicative, log-sd ``noise``), or the count KPIs poisson and negbinomial
    (concentration 50): the KPI is then ``conversions`` with a mean of about ``count_mean`` per
    geo-week, at a ``revenue_per_conversion`` that turns it back into revenue.

    ``names``: the channels' names (default: tv, search, social, display, radio, print, ...).
    ``shocks``: that many weeks whose baseline is off by up to +- ``shock_size`` (unrecorded,
    the truth lists them).
    ``treatments``: non-media treatments (price, promotion) with true ``price_elasticity`` and
    ``promo_lift``, spread across geos by ``treatment_geo_sd`` (``mmm_geo.data.sim_treatments``).
    ``rf``: reach & frequency channels, of average frequency about ``rf_frequency`` and a true
    Hill curve on frequency (``rf_half_saturation``, ``rf_slope``; ``mmm_geo.data.sim_rf``).
    """

    geos: int = 10
    weeks: int = 104
    channels: int = 4
    names: List[str] = field(default_factory=list)
    controls: int = 2
    seed: int = 0
    start: str = "2023-01-02"
    noise: float = 0.05
    media_geo_sd: float = 0.25
    max_lag: int = 8
    saturation: str = "hill"
    adstock: str = "geometric"
    kpi_noise: str = "normal"
    count_mean: float = 300.0
    dark_min: float = 0.1
    dark_max: float = 0.25
    lift_tests: int = 0
    lift_se: float = 0.1
    lift_weeks: int = 8
    lift_geos: int = 3
    family: str = "default"
    adstocks: List[str] = field(default_factory=lambda: ["geometric", "delayed", "weibull"])
    saturations: List[str] = field(default_factory=lambda: ["hill", "exponential", "hill_offset"])
    spend_ratio: float = 30.0
    class_share: float = 0.4
    synergy: List[List[str]] = field(default_factory=list)
    synergy_kappa: float = 0.6
    organic: int = 0
    time_varying: List[str] = field(default_factory=list)
    tv_change: float = 0.5
    shocks: int = 0
    shock_size: float = 0.3
    treatments: List[str] = field(default_factory=list)
    price_elasticity: float = -1.5
    promo_lift: float = 0.15
    treatment_geo_sd: float = 0.0
    mediation: SimMediation = field(default_factory=SimMediation)
    rf: List[str] = field(default_factory=list)
    rf_frequency: float = 3.0
    rf_half_saturation: float = 2.5
    rf_slope: float = 2.5


@dataclass(frozen=True)
class SimulateConfig:
    """Top-level config of ``mmm-geo simulate``: the panel and the folder to write."""

    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    out: str = "experiments/simulated"


@dataclass(frozen=True)
class ValidationConfig:
    """Time-series validation (see ``mmm_geo.validation``).

    ``holdout``: the final periods the fit does not see; they are forecast and scored against a
    seasonal-naive forecast. ``folds`` > 0: rolling-origin cross-validation, fold k of K trains on
    everything before its ``holdout`` test periods, the last fold's window ending with the data; the
    run's trace is the last fold's fit. ``metric``: the ``metrics.json`` entry the fit returns to
    Hydra sweepers, as a dotted path (e.g. ``holdout.mape``, ``cv.mean_mape``); ``auto`` picks
    ``cv.mean_mape``, ``holdout.mape`` or ``fit.mape``, whichever applies first.
    """

    holdout: int = 0
    folds: int = 0
    metric: str = "auto"


@dataclass(frozen=True)
class RefreshConfig:
    """A refresh (``refresh_from``, ``mmm_geo.refresh``): each parameter's prior is the previous
    run's posterior, moment-matched on its unconstrained scale (log for positive parameters), its
    sd times ``widen`` but at most the configured prior's sd. ``new_weeks`` (default): the refit's
    likelihood sees only the periods after the previous run's window (and lift tests measured
    after it), so each period counts once; false: it sees the previous weeks again, so they count
    about ``1 + 1 / widen**2`` times. ``correlated`` (default): the matched sites' prior is joint,
    a multivariate normal with the previous posterior's correlations (``site_priors.JOINT``);
    false: independent per-site priors. ``widen`` 1 with both is Bayes' rule up to the normal
    approximation. The defaults were chosen by scripts/refresh_study.py over 5 seeds (RESULTS.md,
    session 16); the earlier default (all weeks, per site, widen 2) covered less and moved more."""

    widen: float = 1.0
    new_weeks: bool = True
    correlated: bool = True


@dataclass(frozen=True)
class FitConfig:
    """Top-level config of ``mmm-geo fit``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    name: str = "default"
    seed: int = 0
    output_dir: Optional[str] = None
    force: bool = False  # multirun: refit runs that already completed (mmm_geo.experiments)
    prior_only: bool = False  # the prior predictive check only, no fit (mmm_geo.prior_check)
    tracking: str = "none"  # mlflow: log the run to MLflow (mmm_geo.experiments.tracking)
    tracking_uri: Optional[str] = None  # null: a sqlite store in <run folder>/../mlflow/
    tracking_experiment: Optional[str] = None  # null: the MLflow experiment is ``name``
    refresh_from: Optional[str] = None  # a previous run folder: its scaling, its posterior as prior
    refresh: RefreshConfig = field(default_factory=RefreshConfig)


def config_hash(cfg: Any) -> str:
    """Stable short hash of a config dataclass (or dict), for run identity."""
    payload = asdict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _thaw(node: Any) -> None:
    """Clear the read-only flag OmegaConf sets on frozen dataclasses, so YAML can merge in; open
    every map keyed by user names (``Dict[str, ...]``: channels, bounds, priors), so
    ``'bounds={tv:[0.5,2]}'`` works on the command line. Its values keep their schema."""
    from omegaconf import DictConfig, ListConfig

    node._set_flag("readonly", None)
    if isinstance(node, DictConfig):
        if node._metadata.object_type is dict:
            node._set_flag("struct", False)
        for key in node.keys():
            child = node._get_node(key)
            if isinstance(child, (DictConfig, ListConfig)):
                _thaw(child)


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for name, cls in [("fit_schema", FitConfig), ("simulate_schema", SimulateConfig),
                      ("optimize_schema", OptimizeConfig), ("forecast_schema", ForecastConfig),
                      ("design_schema", DesignConfig)]:
        node = OmegaConf.structured(cls)
        _thaw(node)
        store.store(name=name, node=node)


def to_config(cfg: Any, cls: type = FitConfig) -> Any:
    """Convert a composed DictConfig (or plain dict) into the frozen dataclass ``cls``."""
    from omegaconf import OmegaConf

    try:
        base = OmegaConf.structured(cls)
        _thaw(base)
        merged = OmegaConf.merge(base, cfg)
        return OmegaConf.to_object(merged)
    except Exception as err:  # omegaconf raises several error types with useful messages
        raise ConfigError(f"invalid configuration: {err}") from None


def with_overrides(cfg: Any, dots: Sequence[str]) -> Any:
    """``cfg`` (a frozen config dataclass) with dotted overrides such as ``model.adstock.kind=gamma``."""
    if not dots:
        return cfg
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(OmegaConf.create(asdict(cfg)), OmegaConf.from_dotlist(list(dots)))
    return to_config(merged, type(cfg))


@dataclass(frozen=True)
class OptimizerConfig:
    """The ``optimizer/`` group: objective, risk measure and solver (see ``mmm_geo.optimize``).

    ``objective``: mean (expected incremental ``metric``), mean_sd (mean - ``risk_lambda`` * sd),
    cvar (mean of the worst ``alpha`` share of draws), quantile (the ``alpha`` quantile), profit
    (expected ``margin`` * revenue - spend). ``decision``: channel (channel totals, split across
    geos and weeks by the flighting pattern) or cell (channel x geo totals). ``draws``: posterior
    draws used (None: all; else a subsample seeded by ``seed``). ``learning_rate``: Adam's first
    step as a multiple of the mean share 1/n. ``tol``: the largest relative marginal-return
    imbalance (KKT residual) at which the solver stops; ``kkt_tol`` the one its check accepts.
    ``allocation_draws``: draws whose own optimal mix is solved, for the spread of the
    recommendation.
    """

    objective: str = "mean"
    metric: str = "revenue"
    risk_lambda: float = 1.0
    alpha: float = 0.1
    margin: float = 1.0
    decision: str = "channel"
    draws: Optional[int] = None
    seed: int = 0
    learning_rate: float = 0.2
    max_iter: int = 3000
    tol: float = 1e-3
    kkt_tol: float = 0.02
    projection_iter: int = 60
    allocation_draws: int = 100


@dataclass(frozen=True)
class OptimizeConfig(HorizonSpec):
    """Top-level config of ``mmm-geo optimize``.

    The horizon is the ``horizon_weeks`` weeks after the data, dates (``start`` / ``weeks``,
    ``period``, ``dates``: see :class:`~mmm_geo.plan_config.HorizonSpec`), or the historical
    ``window`` ([first, last] week, inclusive) re-planned; a ``plan`` file fixes the flighting.
    Spend before the horizon carries into it; with ``carryover_after`` the effect of horizon spend
    in the ``max_lag - 1`` weeks after it counts too.
    ``budget`` None: the historical spend of the reference weeks. ``bounds`` per channel and
    ``geo_bounds`` per geo map a name to ``[min, max]`` (or ``{min: .., max: ..}``; null leaves a
    side open), as multiples of the historical spend when ``*_relative``, else in currency.
    ``target`` (roi | mroi | outcome) switches to the target mode: the budget at which the optimised
    mix reaches ``target_value``. ``scenarios``: mixes to compare, e.g. "move 10% tv to social",
    "+10% total", "tv=500000,social=200000" or a CSV path (see ``mmm_geo.optimize.scenarios``).
    ``timing``: also choose the weeks of each recommended geo x channel total
    (``mmm_geo.optimize.timing``), no week above ``week_cap`` times the cell's average weekly spend.
    ``rf_frequency``: the frequency each reach & frequency channel is planned at (name: frequency
    >= 1); the others keep the reference weeks' average (impressions over reach), so a budget
    buys reach at that frequency.
    """

    run: Optional[str] = None
    budget: Optional[float] = None
    horizon_weeks: int = 13
    window: List[str] = field(default_factory=list)
    flighting: str = "history"
    carryover_after: bool = True
    budget_cap: bool = False
    bounds: Dict[str, Any] = field(default_factory=dict)
    bounds_relative: bool = True
    geo_bounds: Dict[str, Any] = field(default_factory=dict)
    geo_bounds_relative: bool = True
    locked: List[str] = field(default_factory=list)
    per_geo: bool = False
    timing: bool = False
    week_cap: Optional[float] = None
    target: Optional[str] = None
    target_value: float = 1.0
    scenarios: List[str] = field(default_factory=list)
    rf_frequency: Dict[str, float] = field(default_factory=dict)
    output: str = "optimize"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    tracking: str = "none"  # mlflow: log to MLflow, as for mmm-geo fit
    tracking_uri: Optional[str] = None
    tracking_experiment: Optional[str] = None


@dataclass(frozen=True)
class DesignConfig(OptimizeConfig):
    """Top-level config of ``mmm-geo design-test`` (``mmm_geo.optimize.design``): the budget problem
    of ``mmm-geo optimize`` (every key above) and the candidate tests, every ``channels`` (default:
    those with spend) x ``geo_sets`` ("all", "half" or geos joined by "|"; default all and half)
    x ``test_weeks`` x ``changes`` (multiples of the recorded spend: -1 go dark, 1 double). The
    posterior is ``draws`` draws, ``outer_draws`` of them the simulated truths; ``se_factor``
    scales the residual noise of a test; ``min_ess`` flags thin updates."""

    output: str = "design"
    channels: List[str] = field(default_factory=list)
    geo_sets: List[str] = field(default_factory=list)
    test_weeks: List[int] = field(default_factory=lambda: [4, 8])
    changes: List[float] = field(default_factory=lambda: [-1.0, 1.0])
    draws: int = 400
    outer_draws: int = 100
    se_factor: float = 1.4142135623730951
    min_ess: float = 20.0
    seed: int = 0
