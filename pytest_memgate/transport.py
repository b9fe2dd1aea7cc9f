"""What a pytest-xdist worker tells the controller at its end, as plain JSON-able data.

Results normally travel one by one on their test reports (so that a crashed worker loses
none); the end-of-session message carries what only the worker saw at collection, and
the results too when asked. Only the controller writes files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .results import ScenarioResult


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
