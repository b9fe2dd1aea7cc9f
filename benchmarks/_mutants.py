"""A pytest plugin that breaks the statistics on purpose (``MEMGATE_MUTANT``), for
``benchmarks/mutation.py``: a calibration test that still passes with a broken test
statistic checks nothing."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from pytest_memgate import stats

_REAL = stats._t_sf

MUTANTS: dict[str, Callable[[float, float], float]] = {
    # every one-sided p-value 0: any difference at all is "proven"
    "p_zero": lambda t, df: 0.0,
    # every test's standard error halved: each t statistic doubled
    "half_error": lambda t, df: _REAL(2.0 * t, df),
    # every one-sided false-alarm rate doubled: each p-value halved
    "double_rate": lambda t, df: _REAL(t, df) / 2.0,
}


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get("MEMGATE_MUTANT", "")
    if name:
        stats._t_sf = MUTANTS[name]  # type: ignore[assignment]
