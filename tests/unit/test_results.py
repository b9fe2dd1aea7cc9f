"""The result model's codecs, the comparability rule and the test-failure rule: pure functions."""

from __future__ import annotations

import json
import math

import pytest

from pytest_memgate.baseline import BaselineEntry
from pytest_memgate.config import GateConfig
from pytest_memgate.environment import comparability, environment_fingerprint
from pytest_memgate.failing import Failure, scenario_failure
from pytest_memgate.model import RunSummary
from pytest_memgate.reports.words import finding_text
from pytest_memgate.results import (
    BudgetCheck,
    Comparison,
    ExponentFit,
    Finding,
    LevelTest,
    Metric,
    NoteKind,
    Outcome,
    ProductionCheck,
    RateTest,
    Reason,
    ScalingTest,
    Verdict,
)

COMPARISON = Comparison(
    1e6, 1.1e6, 1e5, 5e4, 1.5e5, 1.1, 1.05, 1.15, 1e-5, 1 - 1e-5, 6, 2, insufficient_data=False
)
UNBOUNDED = Comparison(1.0, 2.0, 1.0, -math.inf, math.inf, math.nan, 0.0, math.inf, 1.0, 1.0, 1, 1, True)
FIT = ExponentFit(1.02, 0.98, 1.06)
FINDINGS = [
    Finding(
        Metric.HEAP_PEAK,
        Reason.PEAK,
        LevelTest(COMPARISON, 1e-3, 0.03, 256 * 1024),
        True,
        past_tolerance=True,
    ),
    Finding(
        Metric.RSS_GROWTH, Reason.GROWTH, RateTest(UNBOUNDED, 1e-3, 16384.0, False), False, ambiguous=True
    ),
    Finding(Metric.HEAP_GROWTH, Reason.BUDGET, BudgetCheck("max_growth", 1024.0, 2048.0, 2, 1e-9), True),
    Finding(Metric.PEAK_SCALING, Reason.SCALING, ScalingTest(FIT, 1.0, 0.3, 1e-3, 0.25), False),
    Finding(Metric.PEAK_SCALING, Reason.BUDGET, ScalingTest(FIT, max_exponent=1.5), False),
    Finding(
        Metric.PRODUCTION_PEAK,
        Reason.BUDGET,
        ProductionCheck(FIT, 10**6, 3e8, 4e8, (("max_peak", 2**28), ("the memory limit", 2**30))),
        True,
    ),
]


@pytest.mark.parametrize("finding", FINDINGS, ids=[f.evidence.kind + "-" + f.metric.value for f in FINDINGS])
def test_every_kind_of_finding_survives_json(finding: Finding) -> None:
    back = Finding.from_dict(json.loads(json.dumps(finding.to_dict())))
    if finding.comparison is UNBOUNDED:  # NaN is never equal to itself; infinity survives
        assert back.comparison is not None and math.isnan(back.comparison.ratio)
        assert back.comparison.delta_high == math.inf
        assert back.comparison.n_current == 1 and back.comparison.insufficient_data
    else:
        assert back == finding
    assert finding_text(back) == finding_text(finding)


def test_a_verdict_survives_json() -> None:
    verdict = Verdict(Outcome.ERROR, (Reason.TIMED_OUT,), tuple(FINDINGS[:1]), error="timed out", error_run=3)
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def entry(**environment: object) -> BaselineEntry:
    here = environment_fingerprint("memray")
    return BaselineEntry(
        backend="memray",
        runs=(RunSummary(1, 1, 0.0, 0.0, 0.0, 0.0),),
        spec={"trace_python_allocators": True},
        environment={**here, **environment},
    )


def test_comparability_like_with_like() -> None:
    here = environment_fingerprint("memray")
    same = entry()

    def check(e: BaselineEntry | None, **kw: object) -> object:
        options: dict[str, object] = {
            "backend": "memray",
            "traced": True,
            "fingerprint": here,
            "env_mismatch": "skip",
        }
        options.update(kw)
        return comparability(e, **options)  # type: ignore[arg-type]

    assert check(None).entry is None and check(None).note is None  # type: ignore[attr-defined]
    assert check(same).entry is same  # type: ignore[attr-defined]
    traced = check(same, traced=False)
    assert traced.entry is None and traced.note.kind is NoteKind.TRACE_MODE  # type: ignore[attr-defined]
    other = check(same, backend="tracemalloc")
    assert other.entry is None and other.note.kind is NoteKind.BACKEND  # type: ignore[attr-defined]
    patch = entry(python=here["python"].rsplit(".", 1)[0] + ".99")
    assert check(patch).entry is patch  # type: ignore[attr-defined]  # patch releases do not count
    old = entry(python="2.7.18")
    skipped, warned, failed = (check(old, env_mismatch=p) for p in ("skip", "warn", "fail"))
    assert (skipped.entry, skipped.fail) == (None, False)  # type: ignore[attr-defined]
    assert (warned.entry, warned.fail) == (old, False)  # type: ignore[attr-defined]
    assert (failed.entry, failed.fail) == (None, True)  # type: ignore[attr-defined]
    assert failed.note.differences[0] == ("python", "2.7.18", here["python"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("outcome", "options", "accepted", "updating", "expected"),
    [
        (Outcome.PASS, {}, False, False, None),
        (Outcome.REGRESSION, {}, False, False, Failure.VERDICT),
        (Outcome.REGRESSION, {}, True, False, None),
        (Outcome.ERROR, {}, True, False, Failure.VERDICT),
        (Outcome.INCONCLUSIVE, {}, False, False, None),
        (Outcome.INCONCLUSIVE, {"inconclusive": "fail"}, False, False, Failure.VERDICT),
        (Outcome.INCONCLUSIVE, {"inconclusive": "fail"}, True, False, None),
        (Outcome.NEW, {}, False, False, None),
        (Outcome.NEW, {"strict": True}, False, False, Failure.STRICT_NEW),
        (Outcome.NEW, {"strict": True}, False, True, None),
        (Outcome.IMPROVED, {"strict": True, "inconclusive": "fail"}, False, False, None),
    ],
)
def test_when_a_scenario_fails_its_test(
    outcome: Outcome, options: dict[str, object], accepted: bool, updating: bool, expected: Failure | None
) -> None:
    config = GateConfig(**options)  # type: ignore[arg-type]
    assert scenario_failure(outcome, config, accepted=accepted, updating=updating) is expected
