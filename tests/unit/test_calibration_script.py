"""benchmarks/calibration.py's core on a few trials: its tables, and a planted change caught."""

from __future__ import annotations

import pytest
from helpers.scripts import load_script

from pytest_memgate.results import Outcome

cal = load_script("benchmarks/calibration.py")


def _rows(text: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell} |")
    ]


def test_the_tables_and_a_planted_peak_increase_is_caught() -> None:
    """One noise model, a +50% peak planted in the current runs: caught at every suite size
    by the gate's own loop, and each table has its rows and columns."""
    model = next(m for m in cal.MODELS if m.key == "gaussian")
    planted = cal.Effect("peak+50%", "peak +50%", heap_shift=0.5, rss_shift=0.5)
    grid = cal.run_grid(
        [model], [planted], trials=12, power_trials=6, pool_size=24, leak_pool_size=16, seed=3
    )
    for suite in cal.SUITES:
        assert grid.cells[model.key, "peak+50%", suite].outcomes[Outcome.REGRESSION] == 6
        assert grid.cells[model.key, "", suite].trials == 12
    text = cal.render(grid)
    false_alarms = _rows(text, model.name)[: len(cal.SUITES)]
    assert [row[1:3] for row in false_alarms] == [["1", "1e-02"], ["10", "1e-03"], ["200", "5e-05"]]
    for row in false_alarms:
        assert len(row) == 11
        hits, trials = row[3].split("/")
        assert trials == "12" and 0 <= int(hits) <= 12
        assert float(row[5]) >= float(hits) / 12  # the upper bound is above the rate
    power = _rows(text, model.name)[len(cal.SUITES) :]
    assert len(power) == 1 and power[0][1] == "peak +50%"
    assert power[0][2::3] == ["100.0%"] * len(cal.SUITES)
    assert "## False alarms" in text and "## Power" in text


def test_the_upper_bound_is_clopper_pearsons() -> None:
    """None seen in n trials: 1 - 0.05**(1/n) (about 3/n); all seen: 1."""
    for n in (12, 3000, 20_000):
        assert cal.upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-6)
    assert cal.upper_bound(5, 5) == 1.0
    assert cal.upper_bound(0, 20_000) < cal.upper_bound(1, 20_000) < cal.upper_bound(2, 20_000)
