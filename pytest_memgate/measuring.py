"""One scenario's runs as they are taken: the cheap first look, the full runs until the
verdict is clear, and the cheap runs a baseline entry keeps for later first looks.

``Measurement`` holds what a scenario's runs leave (records, summaries, the shape of each
look, the staged capture) so that ``GateSession.measure`` reads as one pass over them; the
session decides which of these steps a scenario gets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from .baseline import BaselineEntry
from .captures import keeping_capture
from .marker import ScenarioSpec
from .metrics import classify_shape, summarize_run
from .model import RunRecord, RunRequest, RunSummary
from .results import Note, ScenarioResult, ScreenDoubt, ShapeReport, Verdict
from .schedule import run_until_settled, settled
from .screening import screen_doubt
from .verdict import Policy, decide, error_verdict

Body = Callable[[], object]
RunFn = Callable[[Body, RunRequest, float], RunRecord]
TakeRuns = Callable[[RunRequest, float, int], list[RunRecord]]  # (request, timeout, count)

# The measured calls a cheap run traces for its peak (``backends.memray.measure_cheap``).
CHEAP_TRACED_CALLS = 2

# timeout = "auto": a first run may take long (production-sized payloads); once one run is
# known, a run five times slower than the slowest so far is stuck, not slow.
FIRST_RUN_TIMEOUT_S = 600.0
MIN_TIMEOUT_S = 60.0


def auto_timeout(slowest_run_s: float | None) -> float:
    if slowest_run_s is None:
        return FIRST_RUN_TIMEOUT_S
    return max(MIN_TIMEOUT_S, 5 * slowest_run_s)


def foreign_threads() -> tuple[str, ...]:
    """Names of the threads besides this one: a forked child has none of them."""
    current = threading.current_thread()
    return tuple(
        t.name for t in threading.enumerate() if t is not current and not t.name.startswith("memgate-")
    )


class Progress(Protocol):
    """Who is told of a scenario's runs and looks as they happen (the terminal, in pytest)."""

    def started(self, nodeid: str, looks: Sequence[int], notes: tuple[Note, ...]) -> None: ...

    def ran(self, nodeid: str, number: int, record: RunRecord, summary: RunSummary | None) -> None: ...

    def looked(
        self, nodeid: str, runs: int, verdict: Verdict, stopping: bool, doubt: ScreenDoubt | None = None
    ) -> None: ...

    def finished(self, result: ScenarioResult) -> None: ...

    def arrived(self, result: ScenarioResult, worker: str, done: int) -> None: ...


def failed(record: RunRecord, number: int) -> Verdict | None:
    """The error verdict of a run that did not end well, else None."""
    return None if record.ok else error_verdict(record.status.value, record.error, number)


@dataclass
class Measurement:
    """A scenario's runs so far, and the steps that take more of them."""

    nodeid: str
    spec: ScenarioSpec
    policy: Policy
    entry: BaselineEntry | None  # the baseline entry compared with, if any
    request: RunRequest
    timeout: float | None  # None: ``auto_timeout``
    confirm: int  # runs a verdict needs before the runs stop (``schedule.settled``)
    take_runs: TakeRuns
    progress: Progress | None = None
    staged: Path | None = None  # where the last judged run's capture is kept
    full: list[RunRecord] = field(default_factory=list)  # full runs' records, in order
    summaries: list[RunSummary] = field(default_factory=list)
    screen: list[RunSummary] = field(default_factory=list)  # cheap runs: the first look, or for the baseline
    shapes: list[ShapeReport] = field(default_factory=list)

    def take(self, count: int, cheap: bool = False, keep: bool = True) -> list[RunRecord]:
        """``count`` runs; ``keep``: the run's capture replaces the staged one."""
        slowest = max((r.wall_s for r in self.full), default=None)
        timeout = self.timeout or auto_timeout(slowest)
        request = replace(self.request, traced_calls=CHEAP_TRACED_CALLS) if cheap else self.request
        with keeping_capture(self.staged if keep else None):
            records = self.take_runs(request, timeout, count)
        for record in records:
            summary = summarize_run(record) if record.ok else None
            (self.screen if cheap else self.summaries).extend([summary] if summary is not None else [])
            if not cheap:
                self.full.append(record)
            if self.progress is not None:
                self.progress.ran(self.nodeid, 0 if cheap else len(self.full), record, summary)
        return records

    def cheap_look(self) -> tuple[Verdict | None, list[RunRecord], bool]:
        """One cheap run against the entry's cheap runs: (verdict, records, screened). A clear
        pass is the verdict (screened); anything else (no verdict) goes to the full runs."""
        assert self.entry is not None
        (first,) = self.take(1, cheap=True)
        verdict = failed(first, 1)
        if verdict is not None:
            return verdict, [first], False
        look = decide(self.screen, self.entry.screen_runs, self.spec, self.policy, final=False)
        doubt = screen_doubt(look, self.screen, self.entry.screen_runs, self.policy)
        screened = doubt is None
        if self.progress is not None:
            self.progress.looked(self.nodeid, 0, look, screened, doubt)
        if not screened:
            return None, [first], False
        self.summaries.extend(self.screen)  # no shape: its floors are counters' (malloc's), not the heap's
        return look, [first], True

    def full_runs(self, looks: Sequence[int]) -> tuple[list[RunRecord], Verdict]:
        """Full runs, judged at each look until the verdict is clear (``run_until_settled``)."""
        return run_until_settled(
            lambda: self.take(1)[0], looks, self.judge, confirm=self.confirm, failed=failed, batch=self.take
        )

    def judge(self, records: Sequence[RunRecord], final: bool) -> Verdict:
        self.shapes.append(classify_shape(records))
        baseline_runs = self.entry.runs if self.entry is not None else None
        verdict = decide(
            self.summaries,
            baseline_runs,
            self.spec,
            self.policy,
            trend_p=self.shapes[-1].trend_p,
            final=final,
        )
        if self.progress is not None:
            stopping = settled(verdict, len(records), self.confirm, final)
            self.progress.looked(self.nodeid, len(records), verdict, stopping)
        return verdict

    def cheap_runs(self, count: int, verdict: Verdict, taken: int) -> Verdict:
        """``count`` cheap runs for the baseline after the verdict; one that fails makes it an error."""
        for record in self.take(count, cheap=True, keep=False) if count else ():
            verdict = failed(record, taken) or verdict
        return verdict
