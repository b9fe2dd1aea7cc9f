"""What a pytest-xdist worker tells the controller at its end, as plain JSON-able data.

Results normally travel one by one on their test reports (so that a crashed worker loses
none); the end-of-session message carries what only the worker saw at collection, and
the results too when asked. Only the controller writes files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .marker import ScenarioSpec
from .results import Outcome, ScenarioResult, Verdict


@dataclass(frozen=True, slots=True)
class WorkerMessage:
    results: tuple[ScenarioResult, ...]
    collected: frozenset[str]
    deselected: frozenset[str]
    scenario_count: int  # memload scenarios collected, before deselection
    suite_ids: frozenset[str] = frozenset()  # and their ids

    @classmethod
    def of(
        cls,
        results: Iterable[ScenarioResult],
        collected: Iterable[str],
        deselected: Iterable[str],
        scenario_count: int,
        suite_ids: Iterable[str] = (),
    ) -> WorkerMessage:
        return cls(
            tuple(results), frozenset(collected), frozenset(deselected), scenario_count, frozenset(suite_ids)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [r.to_dict() for r in self.results],
            "collected": sorted(self.collected),
            "deselected": sorted(self.deselected),
            "scenario_count": self.scenario_count,
            "suite_ids": sorted(self.suite_ids),
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> WorkerMessage:
        """Every part is optional: a test report carries one result and nothing else."""
        return cls.of(
            (ScenarioResult.from_dict(data) for data in payload.get("results", ())),
            payload.get("collected", ()),
            payload.get("deselected", ()),
            int(payload.get("scenario_count", 0)),
            payload.get("suite_ids", ()),
        )


# What decoding a worker's payload raises when it is not what this version writes.
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def without_timelines(result: ScenarioResult) -> ScenarioResult:
    return replace(result, records=tuple(replace(r, timeline=()) for r in result.records))


def problem(exc: Exception) -> str:
    """The decoding error in words (an ``InvalidValue`` names its key)."""
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} is missing" if exc.args else "a key is missing"
    return str(exc) or type(exc).__name__


def unreadable_result(nodeid: str, backend: str, why: str) -> ScenarioResult:
    """An error result for a scenario measured on a worker whose result could not be read."""
    error = (
        f"its result from the xdist worker could not be read: {why}. Run the same version of "
        "pytest-memgate on the controller and the workers, or run this scenario without -n"
    )
    return ScenarioResult(
        nodeid, ScenarioSpec(), backend, (), (), Verdict(Outcome.ERROR, (), (), error=error)
    )
