"""What a session compares with and how it runs: ``SessionPlan``, the state ``GateSession``
builds on (``session.py``).

The environment fingerprint and the baseline, the memory limit and the hard cap, which runs
and looks a scenario gets (cheap first looks included), the suite size the false-alarm rate
is shared over, and the rule for when a result fails its test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from .backends import BackendChoice
from .backends.counters import malloc_in_use
from .baseline import Baseline, BaselineEntry, load_baseline, set_aside
from .branches import BranchInfo, current_branch, git, working_tree_dirty
from .captures import CaptureKeeper
from .config import GateConfig
from .environment import Comparability, comparability, environment_fingerprint, expand_baseline_path
from .errors import ConfigError, CorruptBaseline
from .failing import Failure, scenario_failure
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
from .measuring import Body, Progress, RunFn, foreign_threads
from .model import RunRecord, RunRequest
from .recording import accepted, update_reason
from .results import Note, NoteKind, Outcome, ScenarioResult, Verdict
from .runner import run_isolated_many
from .schedule import look_schedule
from .stats import scipy_special
from .summary import shown
from .verdict import Policy

# Cheap runs an entry is recorded with, and the fewest a first look compares against.
SCREEN_RUNS = 3
MIN_SCREEN_RUNS = 2


@dataclass
class SessionPlan:
    """The session's state, and what it compares with and how it runs: the environment and
    the baseline, the memory limits, the looks, the false-alarm policy and the failure rule.
    ``GateSession`` (``session.py``) measures and ends the session on top of it."""

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
        # scipy before the first fork: every run of every scenario is forked from the
        # same parent. Imported between two forks of one scenario (while its first runs
        # measured), it moved the later runs' RSS peaks by 2-3 MiB.
        scipy_special()

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
        """Whether the scenario gets the cheap first look (``screening.screen_doubt``): its entry
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

    def notes_before(self, compared: Comparability, entry: BaselineEntry | None) -> list[Note]:
        """What a reader of the scenario's result should know before its runs."""
        notes = [compared.note] if compared.note is not None else []
        threads = foreign_threads()
        if threads:
            notes.append(Note(NoteKind.THREADS, names=threads))
        if entry is not None and len(entry.runs) < self.recorded_runs and self.update_reason() is None:
            notes.append(Note(NoteKind.SMALL_BASELINE, count=len(entry.runs), wanted=self.recorded_runs))
        return notes

    def run_request(self, spec: ScenarioSpec) -> RunRequest:
        return RunRequest(
            warmup=spec.warmup,
            iterations=spec.iterations,
            backend=self.backend.name,
            native_traces=spec.native_traces,
            trace_python_allocators=bool(spec.trace_python_allocators),
            hard_cap_bytes=self.hard_cap((spec.max_peak, spec.max_rss)).bytes,
            project_root=str(self.config.rootdir),
        )

    def judge_family(self, result: ScenarioResult, name: str, size: int) -> ScenarioResult:
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
        """Whether the scenario fails its test (the rule is ``failing.scenario_failure``)."""
        accepted = self.accepted(result.nodeid)
        return scenario_failure(
            result.outcome, self.config, accepted=accepted, updating=self.update_reason() is not None
        )
