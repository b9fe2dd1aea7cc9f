"""``sizes=[...]`` families: which sizes have been measured, and when a family is judged.

A family is judged once every size is in, on the result of its last size: how the peak
grows with payload size (``verdict.judge_family``) joins that result's findings. Under
pytest-xdist the sizes may run on different workers; the controller then holds every
size's peaks (merged from the workers) and judges the family at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from .baseline import BaselineEntry
from .results import ScenarioResult
from .verdict import Policy, judge_family, with_findings

# size -> (nodeid, heap peaks of its runs)
Members = dict[int, tuple[str, tuple[int, ...]]]


@dataclass
class Families:
    """The sizes measured so far, family by family."""

    members: dict[str, Members] = field(default_factory=dict)

    def add(self, name: str, size: int, result: ScenarioResult) -> Members:
        """Keep one size's peaks; returns its family's sizes so far."""
        members = self.members.setdefault(name, {})
        members[size] = (result.nodeid, tuple(s.peak_heap_bytes for s in result.summaries))
        return members

    def judge(
        self,
        result: ScenarioResult,
        name: str,
        size: int,
        *,
        policy: Policy,
        memory_limit: int | None,
        entry_of: Callable[[str], BaselineEntry | None],
    ) -> ScenarioResult:
        """``result`` (one size) with its family's scaling findings once every size of the
        family is in, else as it was. ``entry_of`` is a size's comparable baseline entry:
        the baseline's fit is used only when every size has one."""
        members = self.add(name, size, result)
        if set(members) != set(result.spec.sizes):
            return result
        stored = {n: entry_of(member) for n, (member, _) in members.items()}
        baseline_peaks = None
        if all(entry is not None for entry in stored.values()):
            baseline_peaks = {n: [r.peak_heap_bytes for r in e.runs] for n, e in stored.items() if e}
        findings, scaling = judge_family(
            name,
            {n: peaks for n, (_, peaks) in members.items()},
            baseline_peaks,
            result.spec,
            policy,
            memory_limit=memory_limit,
        )
        return replace(result, verdict=with_findings(result.verdict, findings), scaling=scaling)

    def unjudged(self, results: Mapping[str, ScenarioResult]) -> list[tuple[str, int, ScenarioResult]]:
        """Families complete in ``results`` that no process judged (their sizes ran on
        different xdist workers): (family, largest size, its result), to judge there."""
        due = []
        for name, members in self.members.items():
            found = [results[nodeid] for nodeid, _ in members.values() if nodeid in results]
            if not found or any(r.scaling is not None for r in found):
                continue
            last = max(found, key=lambda r: r.size or 0)
            if last.size is None or set(members) != set(last.spec.sizes):
                continue
            due.append((name, last.size, last))
        return due
