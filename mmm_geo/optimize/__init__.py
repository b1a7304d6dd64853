"""Uncertainty-aware budget optimizer over posterior draws, and a scenario planner.

Modules, left to right: ``problem`` (horizon, flighting, constraints from a run), ``response`` (the
deterministic response of a plan for one draw, vmapped over draws), ``solver`` (exact projections
and the Optax loop), ``objective`` (risk functionals and the jit-compiled solves), ``scenarios``
(user-described mixes), ``plan`` (the end-to-end optimizer) and ``output`` (tables and files).
"""

from mmm_geo.optimize.plan import Result, optimize, plan_run
from mmm_geo.optimize.problem import Problem, build_problem

__all__ = ["Problem", "Result", "build_problem", "optimize", "plan_run"]
