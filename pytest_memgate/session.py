"""``GateSession``: the one stateful object. It orchestrates; its state and the rules it
follows are ``planning.SessionPlan``'s, and other modules decide.

It knows nothing of pytest beyond a callable body and a node id, so the hooks stay thin
and the whole flow can be driven without pytest (the unit tests inject the run function).
Per scenario it keeps a typed ``ScenarioResult``; results measured in pytest-xdist workers
travel to the controller as their ``to_dict`` form, and only the controller writes files.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import Enum
from typing import Any

from . import __version__
from .baseline import update_baseline
from .branches import provenance
from .captures import check_output_dirs
from .errors import MemgateError
from .failing import environment_error, not_compared
from .marker import ScenarioSpec
from .measuring import Body, Measurement, Progress
from .model import RunRecord
from .outputs import process_environ, wants_document, write_documents, write_error
from .planning import SessionPlan
from .recording import held_update, plan_recording
from .results import Note, NoteKind, Outcome, ScenarioResult, SessionReport, Verdict
from .schedule import stopped_for_futility
from .summary import in_order, shown, stale_entries
from .transport import UNREADABLE, WorkerMessage, problem, unreadable_result, without_timelines
from .verdict import COMPARISONS, consistent_shape

NEVER_RAN = (
    "never measured: the session ended before it ran (-x, --maxfail, or an interruption); run it again"
)


class Ending(Enum):
    """How the session's end changes pytest's exit status."""

    CLEAN = "clean"
    LATE_FAILURES = "late failures"  # scenarios judged failing after their tests passed
    ERRORS = "errors"  # a write failed, or a worker's message could not be read


class GateSession(SessionPlan):
    """Measures each scenario, takes what pytest's hooks and the xdist workers hand over,
    and ends the session (``SessionPlan`` holds the state and the rules it follows)."""

    # --- measuring ------------------------------------------------------------------------

    def measure(
        self, nodeid: str, spec: ScenarioSpec, body: Body, *, family: tuple[str, int] | None = None
    ) -> ScenarioResult:
        """Run ``body`` in isolated runs until the verdict is clear (or runs run out).

        ``family`` is (scenario family, payload size) for ``sizes=[...]`` scenarios: once
        every size of a family is measured, how the peak scales with size is judged too.
        """
        return self._measure(nodeid, self.resolve_spec(nodeid, spec), body, family)

    def measure_collected(
        self, nodeid: str, body: Body, *, family: tuple[str, int] | None = None
    ) -> ScenarioResult:
        """``measure`` with the spec collection resolved (``collect``). Once judged, a run's
        timeline (up to 400 samples) is read only by the report's charts: without a report,
        keeping it cost some 30 KiB of pytest's memory per run, so it is dropped."""
        result = self._measure(nodeid, self.resolved[nodeid], body, family)
        if not self.wants_document:
            result = without_timelines(result)
            self.results[nodeid] = result
        return result

    def _measure(
        self, nodeid: str, spec: ScenarioSpec, body: Body, family: tuple[str, int] | None
    ) -> ScenarioResult:
        compared = self.comparability(nodeid, spec)
        entry = compared.entry
        notes = self.notes_before(compared, entry)
        keeper = self.capture_keeper
        runs = Measurement(
            nodeid,
            spec,
            self.policy,
            entry,
            self.run_request(spec),
            spec.timeout or self.config.timeout,
            self.config.runs,
            lambda request, timeout, count: self.take_runs(body, request, timeout, count),
            self.progress,
            keeper.staging(nodeid) if keeper is not None else None,  # each run's capture
        )
        looks = self.looks_for(nodeid, entry is not None, sized=family is not None)
        if self.progress is not None:
            self.progress.started(nodeid, looks, tuple(notes))
        verdict: Verdict | None = None
        records: list[RunRecord] = []
        screened = False
        try:
            if entry is not None and self.screens(nodeid, family, entry):
                verdict, records, screened = runs.cheap_look()
            if verdict is None:
                records, verdict = runs.full_runs(looks)
            wanted = self.cheap_runs_wanted(nodeid, family, entry, verdict, len(runs.screen))
            verdict = runs.cheap_runs(wanted, verdict, len(records))
        except BaseException:
            if keeper is not None and runs.staged is not None:
                keeper.settle(runs.staged, regressed=False)
            raise
        shape = runs.shapes[-1] if runs.shapes else None
        if shape is not None and runs.summaries:
            growth = statistics.median(s.heap_growth for s in runs.summaries)
            shape = consistent_shape(shape, growth, runs.policy)
        if compared.fail:
            verdict = environment_error(verdict)
        elif compared.entry is None and compared.note is not None:
            verdict = not_compared(verdict)
        if shape is not None and shape.warmup_hint is not None:
            notes.append(Note(NoteKind.WARMUP, count=shape.warmup_hint))
        if screened:
            notes.append(Note(NoteKind.SCREENED))
        elif stopped_for_futility(verdict, len(records), looks):
            notes.append(Note(NoteKind.FUTILITY, count=len(records), wanted=looks[-1]))
        result = ScenarioResult(
            nodeid,
            spec,
            self.backend.name,
            tuple(records),
            tuple(runs.summaries),
            verdict,
            shape,
            entry,
            tuple(notes),
            screen=tuple(runs.screen),
            screened=screened,
        )
        if family is not None:
            result = replace(result, family=family[0], size=family[1])
            if verdict.outcome is not Outcome.ERROR:
                result = self.judge_family(result, *family)
        if keeper is not None and runs.staged is not None:  # the last run's capture: kept or removed
            regressed = result.outcome is Outcome.REGRESSION
            result = replace(result, capture=keeper.settle(runs.staged, regressed=regressed))
        self.results[nodeid] = result
        if self.progress is not None:
            self.progress.finished(result)
        return result

    # --- what pytest's hooks hand over ----------------------------------------------------

    def start(self, *, whole_suite: bool, progress: Progress | None) -> None:
        """Before collection: read the baseline (a corrupt one stops the run before any work)
        and refuse an output directory that leads out of the project."""
        self.whole_suite = whole_suite
        self.progress = progress
        self.baseline  # noqa: B018
        check_output_dirs(self.config)

    def count(self, nodeid: str) -> None:
        """A memload scenario collected, before -k, -m or pytest-split deselect any: every CI
        shard then shares the false-alarm rate over the whole suite (``memgate merge`` names
        the ones no shard measured)."""
        self.scenario_count += 1
        self.suite_ids.add(nodeid)

    def collect(self, nodeid: str, spec: ScenarioSpec, location: tuple[str, int]) -> None:
        """A memload test as marked, its spec resolved for this session (a '40%' budget needs
        a memory limit: ConfigError without one), and where it is defined."""
        self.specs[nodeid] = spec
        self.resolved[nodeid] = self.resolve_spec(nodeid, spec)
        self.locations[nodeid] = location

    def deselect(self, nodeids: Iterable[str]) -> None:
        self.deselected.update(nodeids)

    def select(self, nodeids: Iterable[str]) -> None:
        """What will run after deselection, for stale entries and the suite size check."""
        self.collected = {nodeid for nodeid in nodeids if nodeid in self.specs}
        self.scenario_count = max(self.scenario_count, len(self.collected))
        self.check_suite_size()

    def not_measured(self, nodeid: str, outcome: Outcome, why: str) -> None:
        """A scenario's test ended with no measurement (the first reason given stands)."""
        self.unmeasured.setdefault(nodeid, (outcome, why))

    def arrived(self, nodeid: str, payload: str, worker: str) -> None:
        """On the xdist controller: a scenario's result as its test report brings it. A
        payload that cannot be read (a worker of another version, a corrupted message) makes
        that scenario an error naming the problem; the controller and the others go on."""
        try:
            self.merge({"results": [json.loads(payload)]})
        except UNREADABLE as exc:
            self.unreadable.append(nodeid)
            self.results[nodeid] = unreadable_result(nodeid, self.backend.name, problem(exc))
        result = self.results.get(nodeid)
        if self.progress is not None and result is not None:
            self.progress.arrived(result, worker, len(self.results))

    def worker_ended(self, worker: str, payload: str) -> None:
        """On the xdist controller: a worker's end-of-session message; one that cannot be read
        is an error after the table (exit status 3), never a traceback."""
        try:
            self.merge(json.loads(payload))
        except UNREADABLE as exc:
            self.errors.append(
                f"memgate: the end-of-session message of {worker} could not be read ({problem(exc)}); "
                "its collected and deselected scenarios are missing, so stale baseline entries may "
                "be listed wrongly. Run the same version of pytest-memgate on the controller and "
                "the workers."
            )

    def end(self, *, account: bool) -> Ending:
        """The session's end: families split across workers judged, every selected scenario
        given a result (``account``: not for --collect-only or --setup-only), and the baseline
        and outputs written. Late failures are scenarios whose tests passed but that fail now
        (a scaling regression judged here, a result that could not be read)."""
        late = self.judge_split_families()
        if account:
            late.extend(self.account_for_unmeasured())
        late.extend(self.unreadable)
        self.finish()
        if self.errors:  # shown after the table; an internal error, not a regression
            return Ending.ERRORS
        return Ending.LATE_FAILURES if late else Ending.CLEAN

    # --- xdist: workers export, the controller merges ------------------------------------

    def export(self, *, results: bool = True) -> dict[str, Any]:
        """What a worker tells the controller at its end (see ``transport.py``). Results normally
        travel one by one on their test reports (so a crash loses none); ``results`` ships
        them too."""
        shipped = self.results.values() if results else ()
        message = WorkerMessage.of(
            shipped, self.collected, self.deselected, self.scenario_count, self.suite_ids
        )
        return message.to_dict()

    def merge(self, payload: Mapping[str, Any]) -> None:
        message = WorkerMessage.from_dict(payload)
        for result in message.results:
            self.results[result.nodeid] = result
            if result.family is not None and result.size is not None and result.measured:
                self.families.add(result.family, result.size, result)
        self.collected.update(message.collected)
        self.deselected.update(message.deselected)
        self.scenario_count = max(self.scenario_count, message.scenario_count)
        self.suite_ids.update(message.suite_ids)

    def account_for_unmeasured(self) -> list[str]:
        """Every selected scenario gets a result: one that never reached its measurement (a
        fixture that raised, a crashed xdist worker, a session stopped early) is an error saying
        so, and one pytest skipped is skipped. A sharded CI run leaves the verdict to the merge,
        where a scenario that went missing would otherwise pass unseen. Returns the errors."""
        errors = []
        for nodeid in sorted(self.collected - self.results.keys()):
            outcome, why = self.unmeasured.get(nodeid, (Outcome.ERROR, NEVER_RAN))
            verdict = Verdict(outcome, error=why)
            spec = self.specs.get(nodeid, ScenarioSpec())
            self.results[nodeid] = ScenarioResult(nodeid, spec, self.backend.name, (), (), verdict)
            if outcome is Outcome.ERROR:
                errors.append(nodeid)
        return errors

    # --- writing --------------------------------------------------------------------------

    def write_baseline(self) -> None:
        """Write what this run may write (the rules are ``recording.plan_recording``)."""
        recorded = provenance(
            self.config.rootdir, __version__, self.branch.name, ignore=(self.baseline_path,)
        )
        plan = plan_recording(
            self.results,
            self.config,
            reason=self.update_reason(),
            old_entry=lambda nodeid: self.baseline.get(nodeid),
            environment=self.fingerprint,
            recorded=recorded,
        )
        self.not_written += plan.not_written
        if plan.changes:  # raises, and nothing is claimed written, when the write fails
            self._baseline = update_baseline(self.baseline_path, plan.changes, __version__)
        self.written += plan.written

    def judge_split_families(self) -> list[str]:
        """On the xdist controller: a family whose sizes ran on different workers was judged
        by none of them; judge it here, on its largest size. Returns the scenarios that
        became regressions this late (the session fails; their tests already passed)."""
        late = []
        for name, size, last in self.families.unjudged(self.results):
            judged = self.judge_family(last, name, size)
            self.results[last.nodeid] = judged
            if judged.outcome is Outcome.REGRESSION and last.outcome is not Outcome.REGRESSION:
                late.append(last.nodeid)
        return late

    def finish(self) -> None:
        """Write the baseline, then the report files. A write that fails is kept as an error
        for the summary (after the table, which is never lost); the old files stay as they
        were, and the other outputs are still written."""
        try:
            self.write_baseline()
        except (MemgateError, OSError) as exc:
            self.errors.append(write_error("baseline", self.baseline_path, exc, "left as it was"))
        if not self.wants_document:
            return
        environ = process_environ(self.environ)
        written = write_documents(self.config, self.report(), self.provenance, environ, self.locations)
        self.warnings, self.annotations = written.warnings, written.annotations
        self.files += written.files
        self.errors += written.errors

    @property
    def wants_document(self) -> bool:
        return wants_document(self.config, process_environ(self.environ))

    def stale_entries(self) -> list[str]:
        """Baseline scenarios whose test is gone (see ``summary.stale_entries``); only a run
        that collected the whole suite can tell: after ``--lf`` or a node id, every other
        scenario of a collected file would look gone."""
        if not self.collected or not self.whole_suite:
            return []
        return stale_entries(self.baseline.entries, self.collected, self.deselected, self.config.rootdir)

    def report(self) -> SessionReport:
        """Everything the renderers show, computed here so that they do no I/O."""
        return SessionReport(
            backend=self.backend.name,
            backend_reason=self.backend.reason,
            alpha=self.config.alpha,
            alpha_per_test=self.policy.alpha,
            scenario_count=self.suite_size,
            suite_ids=tuple(sorted(self.suite_ids)),
            suite_size_source=self.suite_size_source,
            scenarios_collected=self.scenario_count,
            baseline_set_aside=self.moved_aside,
            comparisons=COMPARISONS,
            looks=len(self.looks),
            baseline_path=shown(self.baseline_path, self.config.rootdir),
            memory_limit_bytes=self.memory_limit.limit_bytes,
            memory_limit_source=self.memory_limit.source,
            hard_cap_bytes=self.hard_cap().bytes,
            hard_cap_source=self.hard_cap().source,
            environment=self.fingerprint,
            results=in_order(self.results),
            failing={n: f.value for n, r in self.results.items() if (f := self.failure(r)) is not None},
            written=tuple(self.written),
            not_written=tuple(self.not_written),
            update_reason=self.update_reason(),
            update_held=held_update(self.config, self.branch),
            branch=self.branch.name,
            branch_source=self.branch.source,
            update_branches=self.config.update_branches,
            stale=tuple(self.stale_entries()),
            files=tuple(self.files),
            errors=tuple(self.errors),
        )
