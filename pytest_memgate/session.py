"""``GateSession``: the one stateful object. It orchestrates and keeps state; others decide.

It knows nothing of pytest beyond a callable body and a node id, so the hooks stay thin
and the whole flow can be driven without pytest (the unit tests inject the run function).
Per scenario it keeps a typed ``ScenarioResult``; results measured in pytest-xdist workers
travel to the controller as their ``to_dict`` form, and only the controller writes files.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from . import __version__
from .backends import BackendChoice
from .backends.counters import malloc_in_use
from .baseline import Baseline, BaselineEntry, load_baseline, set_aside, update_baseline
from .branches import BranchInfo, current_branch, git, provenance, working_tree_dirty
from .captures import CaptureKeeper, check_output_dirs
from .config import GateConfig
from .environment import Comparability, comparability, environment_fingerprint, expand_baseline_path
from .errors import ConfigError, CorruptBaseline, MemgateError
from .families import Families
from .limits import (
    HardCap,
    MemoryLimit,
    cpu_jobs,
    machine_memory,
    resolve_hard_cap,
    resolve_memory_limit,
)
from .marker import ScenarioSpec
from .measuring import Body, Measurement, Progress, RunFn, foreign_threads
from .model import RunRecord, RunRequest
from .outputs import process_environ, wants_document, write_documents, write_error
from .recording import accepted, held_update, plan_recording, update_reason
from .results import (
    Note,
    NoteKind,
    Outcome,
    ScenarioResult,
    SessionReport,
    Verdict,
)
from .runner import run_isolated_many
from .schedule import look_schedule, stopped_for_futility
from .stats import scipy_stats
from .summary import in_order, shown, stale_entries
from .transport import WorkerMessage
from .verdict import (
    COMPARISONS,
    Failure,
    Policy,
    consistent_shape,
    environment_error,
    not_compared,
    scenario_failure,
)

# Cheap runs an entry is recorded with, and the fewest a first look compares against.
SCREEN_RUNS = 3
MIN_SCREEN_RUNS = 2

NEVER_RAN = (
    "never measured: the session ended before it ran (-x, --maxfail, or an interruption); run it again"
)

# What decoding a worker's payload raises when it is not what this version writes.
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


class Ending(Enum):
    """How the session's end changes pytest's exit status."""

    CLEAN = "clean"
    LATE_FAILURES = "late failures"  # scenarios judged failing after their tests passed
    ERRORS = "errors"  # a write failed, or a worker's message could not be read


@dataclass
class GateSession:
    config: GateConfig
    backend: BackendChoice
    run: RunFn | None = None  # None: isolated runs (``runner.py``); the unit tests inject theirs
    environ: Mapping[str, str] | None = None  # None: the process environment
    scenario_count: int = 0  # memload scenarios collected, before -k/-m/pytest-split deselection
    collected: set[str] = field(default_factory=set)
    suite_ids: set[str] = field(default_factory=set)  # scenario_count's ids, for ``memgate merge``
    unmeasured: dict[str, tuple[Outcome, str]] = field(default_factory=dict)  # why no result came
    deselected: set[str] = field(default_factory=set)
    whole_suite: bool = True  # False: --lf or node ids collected only part of the suite
    results: dict[str, ScenarioResult] = field(default_factory=dict)
    written: list[tuple[str, str]] = field(default_factory=list)  # (nodeid, why)
    not_written: list[tuple[str, str]] = field(default_factory=list)  # (nodeid, outcome)
    files: list[tuple[str, str]] = field(default_factory=list)  # (what, path) written
    errors: list[str] = field(default_factory=list)  # writes that failed
    warnings: list[str] = field(default_factory=list)  # flame graphs that could not be rendered
    families: Families = field(default_factory=Families)  # sizes=[...] scenarios measured so far
    progress: Progress | None = None  # told of each run and look as it happens
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)  # nodeid -> (file, line)
    annotations: list[str] = field(default_factory=list)  # GitHub Actions workflow commands, once written
    xdist_workers: int = 1  # runs measuring at once (pytest-xdist -n): the hard cap's share divides
    specs: dict[str, ScenarioSpec] = field(default_factory=dict)  # collected scenarios, as marked
    resolved: dict[str, ScenarioSpec] = field(default_factory=dict)  # the same, resolved for this session
    unreadable: list[str] = field(default_factory=list)  # scenarios whose worker payload could not be read
    _baseline: Baseline | None = None
    _stored_count: int | None = None  # the baseline's scenarios when first read
    moved_aside: tuple[str, str] | None = None  # (why, where): an unreadable baseline moved aside

    def __post_init__(self) -> None:
        # scipy.stats before the first fork: every run of every scenario is forked from the
        # same parent. Imported between two forks of one scenario (while its first runs
        # measured), it moved the later runs' RSS peaks by 2-3 MiB.
        scipy_stats()

    # --- environment, baseline and policy -------------------------------------------------

    @cached_property
    def fingerprint(self) -> dict[str, Any]:
        return environment_fingerprint(self.backend.name, self.config.fingerprint_packages)

    @cached_property
    def baseline_path(self) -> Path:
        return expand_baseline_path(self.config.baseline_path, self.fingerprint)

    @property
    def baseline(self) -> Baseline:
        if self._baseline is None:
            try:
                self._baseline = load_baseline(self.baseline_path)
            except CorruptBaseline as exc:
                if not self.config.update:
                    raise
                # Asked to record: the broken file is kept under another name, and this
                # session records afresh (an update branch never does this on its own).
                moved = set_aside(self.baseline_path, datetime.now(timezone.utc))
                if moved is not None:
                    why = str(exc).split("; ", 1)[0].removeprefix("memgate: ")
                    why = why.replace(str(self.baseline_path), shown(self.baseline_path, self.config.rootdir))
                    self.moved_aside = (why, shown(moved, self.config.rootdir))
                self._baseline = load_baseline(self.baseline_path)
            self._stored_count = len(self._baseline.entries)
        return self._baseline

    @cached_property
    def capture_keeper(self) -> CaptureKeeper | None:
        """Which memray captures outlive their run (see ``captures.py``); None: none do."""
        return CaptureKeeper.from_config(self.config) if self.backend.name == "memray" else None

    @cached_property
    def memory_limit(self) -> MemoryLimit:
        return resolve_memory_limit(self.config.memory_limit)

    @cached_property
    def machine_bytes(self) -> int | None:
        return machine_memory()

    @cached_property
    def jobs(self) -> int:
        """Measuring children at once in this process (see ``limits.cpu_jobs``)."""
        return cpu_jobs(self.config.jobs, self.xdist_workers)

    def hard_cap(self, budgets: tuple[int | float | None, ...] = ()) -> HardCap:
        """RSS growth at which one measuring child is stopped (see ``limits.resolve_hard_cap``)."""
        return resolve_hard_cap(
            self.config.hard_cap,
            budgets,
            self.memory_limit,
            self.machine_bytes,
            self.xdist_workers,
            self.jobs,
        )

    def take_runs(self, body: Body, request: RunRequest, timeout_s: float, count: int) -> list[RunRecord]:
        """``count`` independent runs, in parallel as far as ``jobs`` allows; fewer when one
        fails (the loop stops at it)."""
        if self.run is None:
            return run_isolated_many(body, request, timeout_s=timeout_s, runs=count, jobs=self.jobs)
        records = []
        for _ in range(count):
            records.append(self.run(body, request, timeout_s))
            if not records[-1].ok:
                break
        return records

    @cached_property
    def branch(self) -> BranchInfo:
        return current_branch(self.config.rootdir, self.environ)

    def resolve_spec(self, nodeid: str, spec: ScenarioSpec) -> ScenarioSpec:
        """Session defaults filled in, and budgets given as a share of the memory limit in
        bytes (ConfigError without one)."""
        if spec.trace_python_allocators is None:
            spec = replace(spec, trace_python_allocators=self.config.trace_python_allocators)
        return spec.with_limit(self.memory_limit.limit_bytes, nodeid)

    def update_reason(self) -> str | None:
        """Why this run may write the baseline (see ``recording.update_reason``), or ``None``."""
        return update_reason(self.config, self.branch)

    def accepted(self, nodeid: str) -> bool:
        return accepted(self.config, nodeid)

    @property
    def looks(self) -> list[int]:
        """Run counts at which a scenario with a baseline is judged (see ``look_schedule``)."""
        c = self.config
        return look_schedule(c.runs, c.max_runs, first=c.min_runs)

    @property
    def recorded_runs(self) -> int:
        """Runs a scenario gets when it is written into the baseline."""
        return min(self.config.baseline_runs, self.config.max_runs)

    def looks_for(self, nodeid: str, compared: bool, sized: bool = False) -> list[int]:
        """Looks for one scenario. Runs that are written into the baseline as its whole entry
        (on request, accepted, or new on an update branch) are never cut short: the
        baseline's spread is what every later comparison is measured against, and a baseline
        of few runs is what makes a gate weak (see ``baseline_runs``). An update branch's
        refresh of a compared scenario takes the gate's usual runs and adds them to the
        entry's (``recording.refreshed_entry``). A size
        of a ``sizes=[...]`` family takes at least ``runs``: the power law is fitted over
        every run of every size, and one run per size leaves two sizes with no error left."""
        c = self.config
        looks = self.looks if compared else [c.runs]
        if sized:
            looks = [look for look in looks if look >= c.runs] or [c.runs]
        if self.records_in_full(nodeid, compared):
            looks = sorted({max(look, self.recorded_runs) for look in looks})
        return looks

    def records_in_full(self, nodeid: str, compared: bool) -> bool:
        """Whether this session writes the scenario's whole entry anew: on request, as an
        accepted change, or as a new scenario on an update branch (not a window refresh)."""
        if self.config.update or self.accepted(nodeid):
            return True
        return self.update_reason() is not None and not compared

    def _cheap_runs_apply(self, family: tuple[str, int] | None) -> bool:
        """The cheap first look needs memray and glibc's counters (``backends.counters``); a
        payload-size family fits its power law on the peaks of every size's full runs, so
        its sizes take those."""
        return (
            self.config.screen
            and self.backend.name == "memray"
            and family is None
            and malloc_in_use() is not None
        )

    def screens(self, nodeid: str, family: tuple[str, int] | None, entry: BaselineEntry) -> bool:
        """Whether the scenario gets the cheap first look (``verdict.screen_doubt``): its entry
        holds cheap runs to compare with, and this session does not record it in full."""
        return (
            self._cheap_runs_apply(family)
            and len(entry.screen_runs) >= MIN_SCREEN_RUNS
            and not self.records_in_full(nodeid, compared=True)
        )

    def cheap_runs_wanted(
        self,
        nodeid: str,
        family: tuple[str, int] | None,
        entry: BaselineEntry | None,
        verdict: Verdict,
        taken: int,
    ) -> int:
        """Cheap runs to take after the verdict, for the baseline's later first looks: an
        entry this session may write should hold ``SCREEN_RUNS`` of them. A refresh of a
        passing scenario keeps the entry's own (``recording.refreshed_entry``); an entry
        written anew (an improvement on an update branch, too) keeps none."""
        may_write = self.update_reason() is not None or self.accepted(nodeid)
        if not may_write or verdict.outcome is Outcome.ERROR or not self._cheap_runs_apply(family):
            return 0
        refresh = verdict.outcome is Outcome.PASS and not self.records_in_full(nodeid, True)
        kept = len(entry.screen_runs) if entry is not None and refresh else 0
        return max(0, SCREEN_RUNS - kept - taken)

    @property
    def suite_size(self) -> int:
        """Scenarios the false-alarm rate is shared over: the whole suite, so that CI shards
        (``-k`` groups, pytest-split) each judge at the level one run of the suite would.
        Counted at collection before deselection, unless ``suite_size`` is configured for
        shards that collect only their own paths. A run that collected fewer scenarios than
        the baseline holds (``--lf``, a node id, one file) uses the baseline's count: the
        selection is not the suite, and a smaller count would loosen the level per test."""
        return self._suite_size[0]

    @property
    def suite_size_source(self) -> str:
        """``configured``, ``collected`` or ``baseline``: where the suite size came from."""
        return self._suite_size[1]

    @property
    def _suite_size(self) -> tuple[int, str]:
        if self.config.suite_size:
            return self.config.suite_size, "configured"
        self.baseline  # noqa: B018 - the count is the baseline's as this session first read it
        stored = self._stored_count or 0
        if stored > self.scenario_count:
            return stored, "baseline"
        return max(self.scenario_count, 1), "collected"

    def check_suite_size(self) -> None:
        """A suite smaller than this run's own selection is a typo: it would raise the rate."""
        size, selected = self.config.suite_size, len(self.collected)
        if size is not None and size < selected:
            raise ConfigError(
                f"memgate: suite_size is {size}, fewer than the {selected} memload scenarios this run "
                "selects; give the number of scenarios of the whole suite (every shard's together), "
                "or leave it unset (auto) to count them at collection"
            )

    @property
    def policy(self) -> Policy:
        """The session's false-alarm rate shared (Bonferroni) over the suite's scenarios, the
        four metrics and every look the adaptive runs may take, so that neither many
        scenarios, nor adding runs, nor splitting the suite across CI shards raises it."""
        return Policy.for_session(self.config, self.suite_size, len(self.looks))

    @cached_property
    def provenance(self) -> dict[str, Any]:
        """The commit measured, for the report: ``memgate merge`` refuses shards of two commits."""
        rootdir = self.config.rootdir
        return {
            "commit": git(rootdir, "rev-parse", "HEAD"),
            "dirty": working_tree_dirty(rootdir, ignore=(self.baseline_path,)),
        }

    def comparability(self, nodeid: str, spec: ScenarioSpec) -> Comparability:
        return comparability(
            self.baseline.get(nodeid),
            backend=self.backend.name,
            traced=bool(spec.trace_python_allocators),
            fingerprint=self.fingerprint,
            env_mismatch=self.config.env_mismatch,
        )

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
        notes = self._notes(compared, entry)
        keeper = self.capture_keeper
        runs = Measurement(
            nodeid,
            spec,
            self.policy,
            entry,
            self._request(spec),
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
                result = self._judge_family(result, *family)
        if keeper is not None and runs.staged is not None:  # the last run's capture: kept or removed
            regressed = result.outcome is Outcome.REGRESSION
            result = replace(result, capture=keeper.settle(runs.staged, regressed=regressed))
        self.results[nodeid] = result
        if self.progress is not None:
            self.progress.finished(result)
        return result

    def _notes(self, compared: Comparability, entry: BaselineEntry | None) -> list[Note]:
        """What a reader of the scenario's result should know before its runs."""
        notes = [compared.note] if compared.note is not None else []
        threads = foreign_threads()
        if threads:
            notes.append(Note(NoteKind.THREADS, names=threads))
        if entry is not None and len(entry.runs) < self.recorded_runs and self.update_reason() is None:
            notes.append(Note(NoteKind.SMALL_BASELINE, count=len(entry.runs), wanted=self.recorded_runs))
        return notes

    def _request(self, spec: ScenarioSpec) -> RunRequest:
        return RunRequest(
            warmup=spec.warmup,
            iterations=spec.iterations,
            backend=self.backend.name,
            native_traces=spec.native_traces,
            trace_python_allocators=bool(spec.trace_python_allocators),
            hard_cap_bytes=self.hard_cap((spec.max_peak, spec.max_rss)).bytes,
            project_root=str(self.config.rootdir),
        )

    def _judge_family(self, result: ScenarioResult, name: str, size: int) -> ScenarioResult:
        """One size of a family in; the family judged once every size is (``families.py``)."""
        return self.families.judge(
            result,
            name,
            size,
            policy=self.policy,
            memory_limit=self.memory_limit.limit_bytes,
            entry_of=lambda member: self.comparability(member, result.spec).entry,
        )

    def failure(self, result: ScenarioResult) -> Failure | None:
        """Whether the scenario fails its test (the rule is ``verdict.scenario_failure``)."""
        accepted = self.accepted(result.nodeid)
        return scenario_failure(
            result.outcome, self.config, accepted=accepted, updating=self.update_reason() is not None
        )

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
            judged = self._judge_family(last, name, size)
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
