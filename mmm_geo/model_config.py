"""The model's config groups: media forms, media priors, synergy, the non-media priors.

Re-exported by :mod:`mmm_geo.config`, which composes them into the commands' configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name (see ``mmm_geo.model.priors.PRIORS``).

    ``a`` and ``b`` are the two parameters: normal/lognormal/truncnormal (loc, scale),
    halfnormal (scale, unused), beta (concentration1, concentration0), gamma (concentration, rate),
    fixed (value, unused).
    """

    dist: str = "normal"
    a: float = 0.0
    b: float = 1.0


@dataclass
class PriorEntry:
    """A :class:`Prior` as a value of a ``Dict[str, ...]`` config field (form parameters, per-channel
    overrides): the same fields, not frozen for the reason given at :class:`mmm_geo.config.ChannelColumns`."""

    dist: str = "normal"
    a: float = 0.0
    b: float = 1.0


@dataclass(frozen=True)
class AdstockConfig:
    """Carryover: ``kind`` from ``mmm_geo.model.forms.ADSTOCKS``; lag weights over ``max_lag``
    periods (lag 0 included), summing to 1 if ``normalize``. ``priors``: priors of the form's own
    parameters (gamma: mean_lag, shape; geometric: alpha; delayed: alpha, peak; weibull_cdf /
    weibull_pdf: shape, scale; binomial: alpha); a parameter left out keeps the form's default
    prior. The default, gamma over 13 periods with a free Hill slope, was chosen by the coverage
    battery (``scripts/RESULTS.md``): it nests geometric decay and delayed peaks."""

    kind: str = "gamma"
    max_lag: int = 13
    normalize: bool = True
    priors: Dict[str, PriorEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class SaturationConfig:
    """Diminishing returns: ``kind`` from ``mmm_geo.model.forms.SATURATIONS`` (hill,
    hill_threshold, michaelis_menten, logistic, tanh). Exposure is scaled so that 1.0 is the
    channel's typical (mean non-zero) level per capita. ``priors``: the form's own parameters
    (hill: half_saturation, slope; hill_threshold: those and threshold; michaelis_menten and
    tanh: half_saturation; logistic: lam); ``{dist: fixed, a: v}`` fixes one at ``v``."""

    kind: str = "hill"
    priors: Dict[str, PriorEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaPriorConfig:
    """What the prior on each channel's size is stated in (see ``mmm_geo.model.media``).

    ``kind``: roi (revenue per unit of spend over the training window), mroi (the same at the
    margin: revenue of 1 % more spend / that 1 %), share (the channel's share of the KPI over the
    training window) or effect (the weekly effect at typical exposure as a share of the mean KPI).
    ``prior`` None: the kind's default (``mmm_geo.model.media.MEDIA_PRIORS``).
    """

    kind: str = "roi"
    prior: Optional[Prior] = None


@dataclass
class ChannelModel:
    """Per-channel overrides of the media model (``model.channels.<name>``): another adstock or
    saturation ``kind`` (with that form's default priors unless given), and ``priors`` for the
    channel's form parameters or its media prior (key: the media prior's kind, e.g. ``roi``), e.g.
    from a previous study. Not frozen, for the reason given at :class:`mmm_geo.config.ChannelColumns`."""

    adstock: Optional[str] = None
    saturation: Optional[str] = None
    priors: Dict[str, PriorEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class PriorsConfig:
    """Priors of the non-media parts, on the scaled KPI (per-capita KPI / its overall mean = 1).

    ``media_geo_sd``: spread of log media effects across geos (0.3 = geos differ by about ±30 %).
    ``sigma``: noise scale (normal, student_t: scaled KPI units; lognormal: of log KPI);
    ``nu``: Student-t degrees of freedom; ``concentration``: negative-binomial concentration.
    """

    baseline_mean: Prior = field(default_factory=lambda: Prior("normal", 1.0, 0.5))
    baseline_sd: Prior = field(default_factory=lambda: Prior("halfnormal", 0.5, 0.0))
    trend: Prior = field(default_factory=lambda: Prior("normal", 0.0, 0.2))
    seasonality: Prior = field(default_factory=lambda: Prior("normal", 0.0, 0.2))
    control: Prior = field(default_factory=lambda: Prior("normal", 0.0, 0.2))
    control_geo_sd: Prior = field(default_factory=lambda: Prior("halfnormal", 0.1, 0.0))
    media_geo_sd: Prior = field(default_factory=lambda: Prior("halfnormal", 0.3, 0.0))
    sigma: Prior = field(default_factory=lambda: Prior("halfnormal", 0.3, 0.0))
    nu: Prior = field(default_factory=lambda: Prior("gamma", 2.0, 0.1))
    concentration: Prior = field(default_factory=lambda: Prior("gamma", 2.0, 0.02))


@dataclass(frozen=True)
class SynergyConfig:
    """Interactions between channel pairs (``model.synergy``): ``pairs`` of channel names, e.g.
    ``[[tv, video]]``. Each pair adds ``kappa * sqrt(effect_i * effect_j) * u_i * u_j`` to the mean,
    with ``u`` the channels' adstocked, saturated unit responses and ``kappa ~ prior`` (centred on
    no interaction; negative values are cannibalisation)."""

    pairs: List[List[str]] = field(default_factory=list)
    prior: Prior = field(default_factory=lambda: Prior("normal", 0.0, 0.5))


@dataclass(frozen=True)
class TimeVaryingConfig:
    """Channels whose effect changes over time (``model.time_varying``): each one's effect is
    multiplied by ``exp(f(t))``, ``f`` a Gaussian process (HSGP with ``basis`` functions, squared-
    exponential kernel of length scale ``lengthscale`` periods and amplitude ~ ``amplitude``),
    centred so the multiplier has geometric mean 1 over the training periods
    (``mmm_geo.model.time_varying``). ``f`` has a linear part too, its change from the first
    training period to the last ~ ``trend`` (``fixed`` 0: none): a steady drift is then not left
    to a kernel that reverts to the mean within a length scale."""

    channels: List[str] = field(default_factory=list)
    lengthscale: float = 26.0
    basis: int = 12
    amplitude: Prior = field(default_factory=lambda: Prior("halfnormal", 0.3, 0.0))
    trend: Prior = field(default_factory=lambda: Prior("normal", 0.0, 0.5))


@dataclass(frozen=True)
class ReachFrequencyConfig:
    """The priors of reach & frequency channels (``model.rf``), those with a frequency column:
    their effect is ``adstock(reach * hill(frequency))`` (Meridian's form), with the Hill curve's
    ``half_saturation`` and ``slope`` in frequency units (``mmm_geo.model.media``)."""

    half_saturation: Prior = field(default_factory=lambda: Prior("lognormal", 0.7, 0.4))
    slope: Prior = field(default_factory=lambda: Prior("lognormal", 0.7, 0.4))


@dataclass(frozen=True)
class MediationConfig:
    """A mediator (``model.mediation``): one of the data's channels (``mediator``, e.g. branded
    search clicks as an exposure column) driven by the ``upstream`` channels. Its scaled exposure
    gets its own equation in the same model, ``m[g,t] ~ Normal(base_g + season_t + sum_c
    effect_c(x_c), sigma)``, each upstream channel's effect through the media component (its own
    adstock and saturation, size ``effect``: the weekly rise of the scaled mediator at typical
    exposure), while the KPI uses the mediator like any channel (``mmm_geo.model.mediation``)."""

    mediator: Optional[str] = None
    upstream: List[str] = field(default_factory=list)
    effect: Prior = field(default_factory=lambda: Prior("lognormal", -1.0, 1.0))
    base: Prior = field(default_factory=lambda: Prior("normal", 1.0, 1.0))
    sigma: Prior = field(default_factory=lambda: Prior("halfnormal", 0.5, 0.0))


@dataclass
class TreatmentModel:
    """The model of one non-media treatment (``model.treatments.<name>``, the name as in
    ``data.treatments``), see ``mmm_geo.model.treatments``: ``prior`` of its coefficient (None:
    its kind's default; price: the elasticity ~ normal(-1, 1); promotion: log(1 + lift) ~
    normal(0, 0.3)); ``pooling`` national (one coefficient) or geo (per-geo coefficients around
    the national one, spread ~ ``geo_sd``, default halfnormal(0.1)). Not frozen, for the reason
    given at :class:`mmm_geo.config.ChannelColumns`."""

    pooling: str = "national"
    prior: Optional[PriorEntry] = None
    geo_sd: Optional[PriorEntry] = None


@dataclass(frozen=True)
class ModelConfig:
    """The hierarchical model: structure switches plus priors.

    ``order``: adstock_first (saturate the carried-over exposure) or saturation_first (carry over
    the saturated response). ``likelihood``: normal, student_t, lognormal (multiplicative noise)
    or, for count KPIs, poisson and negbinomial; every one has mean equal to the model mean, so
    contributions and ROI keep their meaning. ``channel_names`` is filled in from the data (it maps
    ``channels`` overrides to positions), and so is ``organic_channels`` (the channels with exposure
    but no spend: organic or impressions-only media, sized by ``organic_prior``, share or effect)
    and ``rf_channels`` (those with a frequency column, ``rf``); leave them empty.
    ``treatments``: per non-media treatment (price, promotions), its prior and pooling; ``treatment_kinds`` (name: kind) is filled in from the data, leave it empty.
    """

    adstock: AdstockConfig = field(default_factory=AdstockConfig)
    saturation: SaturationConfig = field(default_factory=SaturationConfig)
    media_prior: MediaPriorConfig = field(default_factory=MediaPriorConfig)
    organic_prior: MediaPriorConfig = field(default_factory=lambda: MediaPriorConfig(kind="share"))
    channels: Dict[str, ChannelModel] = field(default_factory=dict)
    order: str = "adstock_first"
    synergy: SynergyConfig = field(default_factory=SynergyConfig)
    time_varying: TimeVaryingConfig = field(default_factory=TimeVaryingConfig)
    mediation: MediationConfig = field(default_factory=MediationConfig)
    rf: ReachFrequencyConfig = field(default_factory=ReachFrequencyConfig)
    priors: PriorsConfig = field(default_factory=PriorsConfig)
    baseline: str = "multiplicative"
    trend_knots: int = 4
    fourier_order: int = 2
    period: float = 52.1775
    controls_per_geo: bool = False
    sigma_per_geo: bool = False
    likelihood: str = "normal"
    noncentered: List[str] = field(default_factory=lambda: ["control_geo", "media_geo"])
    channel_names: List[str] = field(default_factory=list)
    organic_channels: List[str] = field(default_factory=list)
    rf_channels: List[str] = field(default_factory=list)
    treatments: Dict[str, TreatmentModel] = field(default_factory=dict)
    treatment_kinds: Dict[str, str] = field(default_factory=dict)
