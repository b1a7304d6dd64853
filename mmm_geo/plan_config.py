"""Configuration of planning in the user's calendar: the horizon by date, a planned flighting file,
and ``mmm-geo forecast`` (``conf/forecast.yaml``). ``OptimizeConfig`` extends :class:`HorizonSpec`.

Library code reads these through ``mmm_geo.optimize.horizon`` and ``mmm_geo.forecast``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class HorizonSpec:
    """Where a plan lies in the data's calendar; give at most one of ``start``, ``period``,
    ``dates`` (none: the periods right after the data).

    ``start``: the first period (a date on the data's calendar, e.g. a Monday for weeks that fall
    on Mondays) with ``weeks`` periods from it. ``period``: a calendar period such as ``2027Q1``,
    ``2027-03`` or ``2027``; the horizon is the data's periods whose date lies inside it.
    ``dates``: an explicit list of consecutive periods. A horizon lies either entirely after the
    data (a future plan) or entirely inside it (a historical window, re-planned). ``weeks`` null:
    ``horizon_weeks`` (optimize) or 13 (forecast). ``plan``: a planned flighting file (CSV or
    Parquet) of spend (optionally exposure) per geo x period x channel over the horizon, see
    ``mmm_geo.optimize.planfile``; without a horizon its dates are the horizon. ``forecast`` takes
    a list of them to compare.
    """

    start: Optional[str] = None
    weeks: Optional[int] = None
    period: Optional[str] = None
    dates: List[str] = field(default_factory=list)
    plan: Any = None


@dataclass(frozen=True)
class ForecastConfig(HorizonSpec):
    """Top-level config of ``mmm-geo forecast``: the KPI per period and geo under a plan.

    ``run``: a completed run folder. Without ``plan`` the horizon's spend follows the history:
    the reference weeks' spend per cell (scaled to ``budget`` when given), spread by
    ``flighting`` (history | flat). A run fitted with ``validation.holdout`` and no horizon given
    forecasts its held-out periods under their recorded spend and scores the intervals.
    ``trend``: changes (beyond the fitted periods the piecewise-linear trend keeps its knot
    spacing and, per draw, its slope changes at every knot by a normal draw with that draw's
    root-mean-square fitted slope change), levels (future knot values drawn from the draw's
    fitted knot values' mean and spread: for knots that are a time effect, one per period) or
    flat (held at its last fitted value, as the fit's own held-out periods). ``draws``: posterior
    draws used (evenly thinned; null: all). ``treatments``: changes of the fitted non-media
    treatments over the horizon, e.g. ``treatments.price=+5%``, ``treatments.promotion.off=
    [2027-01-04]`` (``mmm_geo.optimize.treatment_plan``); each plan is then forecast with and
    without them.
    """

    run: Optional[str] = None
    budget: Optional[float] = None
    flighting: str = "history"
    trend: str = "changes"
    draws: Optional[int] = None
    seed: int = 0
    batch: int = 250
    output: str = "forecast"
    treatments: Dict[str, Any] = field(default_factory=dict)
