"""A pytest plugin that breaks the statistics on purpose (``MEMGATE_MUTANT``), for
``benchmarks/mutation.py``: a calibration test that still passes with a broken test
statistic checks nothing."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from pytest_memgate import metrics, powerlaw, schedule, slopes, stats, verdict
from pytest_memgate.config import GateConfig
from pytest_memgate.findings import BudgetCheck

_REAL = stats._t_sf

MUTANTS: dict[str, Callable[[float, float], float]] = {
    # every one-sided p-value 0: any difference at all is "proven"
    "p_zero": lambda t, df: 0.0,
    # every test's standard error halved: each t statistic doubled
    "half_error": lambda t, df: _REAL(2.0 * t, df),
    # every one-sided false-alarm rate doubled: each p-value halved
    "double_rate": lambda t, df: _REAL(t, df) / 2.0,
}


def _no_looks(cls: Any, config: GateConfig, scenarios: int, looks: int) -> verdict.Policy:
    """The session's Bonferroni count without the looks: one test per metric and scenario."""
    policy: verdict.Policy = cls.from_config(config, tests=scenarios * verdict.COMPARISONS, looks=looks)
    return policy


def _normal_exponent_p(old: powerlaw.PowerFit, new: powerlaw.PowerFit, *, margin: float = 0.0) -> float:
    """The scaling test's old normal approximation: each fit's error taken as known."""
    se = math.hypot(old.se, new.se)
    if not math.isfinite(se) or se == 0:
        return 1.0
    return float(stats.scipy_special().ndtr(-(new.exponent - old.exponent - margin) / se))


_DECIDE = verdict.decide


def _trend_budget_decide(
    current: Any,
    baseline: Any,
    spec: Any,
    policy: verdict.Policy,
    *,
    trend_p: float = 1.0,
    final: bool = True,
) -> verdict.Verdict:
    """A growth budget judged by the floors' Mann-Kendall p (``trend_p``), which ignores
    their autocorrelation, as it was before the runs' slopes judged it."""
    judged = _DECIDE(current, baseline, spec, policy, trend_p=trend_p, final=final)
    alpha = policy.for_scenario(spec).alpha
    findings = []
    for f in judged.findings:
        e = f.evidence
        if isinstance(e, BudgetCheck) and e.name == "max_growth":
            over = e.value > e.limit and trend_p < alpha
            f = replace(f, evidence=replace(e, trend_p=trend_p), regressed=over, ambiguous=False)
        findings.append(f)
    return verdict.verdict_of(findings, compared=bool(baseline), final=final)


def _budget_uncounted(self: verdict.Policy, spec: Any) -> verdict.Policy:
    """Budgets and scaling tests left out of the scenario's share: the session's level for each."""
    return self


def _pooled_df_level_p(
    diff: Any, var_x: Any, n_x: int, var_y: Any, n_y: int, spread: str = stats.POOLED, floor: float = 0.0
) -> Any:
    """The peak test without the current runs' own t-test as the larger spread's bound: two
    runs' variance given the pooled degrees of freedom."""
    se, df = stats.level_spread(var_x, n_x, var_y, n_y, spread, floor=floor)
    return stats.scipy_special().stdtr(df, -np.asarray(diff, float) / se)


def _no_odd_run(logs: Any, resolution: float) -> bool:
    """No run is ever odd: an odd baseline run counted in the peak test's spread again."""
    return False


_UNSEEN = stats.unseen_level


def _odd_level_unseen(
    baseline: Any,
    current: Any,
    *,
    resolution: float = 0.001,
    offset: float = 4096.0,
    spread: str = stats.POOLED,
) -> stats.UnseenLevel:
    """Runs as high as the baseline's odd run taken for a level it never showed."""
    level = _UNSEEN(baseline, current, resolution=resolution, offset=offset, spread=spread)
    if level.p == 0 or level.seen == 0:
        return level
    return level._replace(seen=0, p=stats.odd_share_p(0, level.baseline, level.current, level.high))


def _succession(seen: int, baseline: int, current: int, high: int | None = None) -> float:
    """The odd-run rule before the bound over every share: a level shown ``seen`` times in
    ``baseline`` runs comes at the rule of succession's rate, (seen + 1) / (baseline + 2);
    current runs of which only some sit up there are left to the t-test alone."""
    if high is not None and high < current:
        return 0.0
    return float(((seen + 1) / (baseline + 2)) ** current)


PATCHES: dict[str, Callable[[], None]] = {
    "no_looks": lambda: setattr(verdict.Policy, "for_session", classmethod(_no_looks)),
    "normal_scaling": lambda: setattr(powerlaw, "exponent_increase_p", _normal_exponent_p),
    "trend_budget": lambda: setattr(verdict, "decide", _trend_budget_decide),
    "budget_uncounted": lambda: setattr(verdict.Policy, "for_scenario", _budget_uncounted),
    "unbounded_larger": lambda: setattr(stats, "level_p", _pooled_df_level_p),
    "trend_warmup": lambda: setattr(metrics, "_RISE_SPREADS", 0.0),
    "odd_in_spread": lambda: setattr(stats, "odd_run", _no_odd_run),
    "odd_level_unseen": lambda: setattr(verdict, "unseen_level", _odd_level_unseen),
    "odd_succession": lambda: setattr(stats, "odd_share_p", _succession),
    "confirm_at_last_look": lambda: setattr(schedule, "CONFIRM_BEYOND", 1),
}


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get("MEMGATE_MUTANT", "")
    if name in PATCHES:
        PATCHES[name]()
    elif name:
        for module in (stats, slopes, powerlaw):  # each holds the t distribution's tail
            module._t_sf = MUTANTS[name]  # type: ignore[attr-defined]
