"""What a run may write into the baseline, and why: the update and acceptance rules.

The session hands over its results and what it knows (the update reason, the old entries,
the environment, the provenance stamp); this decides entry by entry and returns the
changes with the reasons, so that the session only writes them under the store's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .baseline import BaselineEntry, acceptance, id_matches
from .branches import BranchInfo, matching_glob
from .config import GateConfig
from .results import Outcome, ScenarioResult

_WRITABLE = (Outcome.PASS, Outcome.NEW, Outcome.IMPROVED)
_ACCEPTABLE = (Outcome.REGRESSION, Outcome.INCONCLUSIVE, *_WRITABLE)


def update_reason(config: GateConfig, branch: BranchInfo) -> str | None:
    """Why this run may write the baseline, or ``None``: feature branches never write, and
    an update branch writes only in CI (a local run on ``main`` leaves the committed file
    alone; ``held_update`` says what it would have refreshed)."""
    if config.update:
        return "--memgate-update"
    glob = matching_glob(branch.name, config.update_branches)
    if glob is not None and branch.ci:
        return f"branch {branch.name!r} ({branch.source}) matches update_branches {glob!r}"
    return None


def held_update(config: GateConfig, branch: BranchInfo) -> str | None:
    """Why a run on an update branch outside CI does not write the baseline, or ``None``."""
    glob = matching_glob(branch.name, config.update_branches)
    if config.update or glob is None or branch.ci:
        return None
    return (
        f"branch {branch.name!r} ({branch.source}) matches update_branches {glob!r}, but no CI "
        "system runs this session (CI is not set): the baseline is left as it is; it is "
        "refreshed by CI runs on that branch, or here with --memgate-update"
    )


def accepted(config: GateConfig, nodeid: str) -> bool:
    """Whether ``--memgate-accept`` names the scenario (an exact id, or a glob of ``*``/``?``)."""
    return any(id_matches(nodeid, pattern) for pattern in config.accept)


def baseline_entry(result: ScenarioResult, environment: dict[str, Any]) -> BaselineEntry:
    """A measured scenario as the baseline stores it, with the cheap runs it took."""
    first = next(r for r in result.records if r.ok)
    return BaselineEntry.of_runs(
        result.summaries,
        first,
        spec=result.spec.to_dict(),
        environment=environment,
        screen_runs=result.screen,
    )


@dataclass(frozen=True, slots=True)
class Recording:
    """The entries to write, and the lines the summary shows about them."""

    changes: dict[str, BaselineEntry]
    written: tuple[tuple[str, str], ...]  # (nodeid, why)
    not_written: tuple[tuple[str, str], ...]  # (nodeid, outcome)


def refreshed_entry(
    result: ScenarioResult,
    old: BaselineEntry,
    environment: dict[str, Any],
    window: int,
    stamp: dict[str, Any],
) -> BaselineEntry:
    """An update branch's refresh of a scenario that passed against its entry: the runs this
    session took join the entry's, and the oldest beyond ``window`` drop out. A refresh then
    costs what the gate's run cost (no runs of its own), and the entry follows the release
    branch commit by commit. The acceptance trail stays. A scenario that passed on its cheap
    first look adds that run to the cheap runs only, and keeps the traced runs' sites."""
    trail = {k: v for k, v in old.recorded.items() if k == "accepted"}
    entry = replace(
        baseline_entry(result, environment),
        screen_runs=(*old.screen_runs, *result.screen)[-window:],
        recorded={**stamp, **trail},
    )
    if result.screened:
        return replace(entry, runs=old.runs, peak_sites=old.peak_sites, retained_sites=old.retained_sites)
    return replace(entry, runs=(*old.runs, *result.summaries)[-window:])


def plan_recording(
    results: Mapping[str, ScenarioResult],
    config: GateConfig,
    *,
    reason: str | None,
    old_entry: Callable[[str], BaselineEntry | None],
    environment: dict[str, Any],
    recorded: dict[str, Any],
) -> Recording:
    """Updates on request or on an update branch (``reason``), and intended increases that
    were accepted with a reason. Regressions never slip in. ``recorded`` is the provenance
    stamp each written entry carries; ``old_entry`` the entry an acceptance replaces.

    An update branch refreshes a passing scenario's entry as a rolling window
    (``refreshed_entry``); ``--memgate-update``, an acceptance, an improvement and a new
    scenario write the runs measured now, and nothing of the old entry."""
    changes: dict[str, BaselineEntry] = {}
    written: list[tuple[str, str]] = []
    not_written: list[tuple[str, str]] = []
    for nodeid, result in sorted(results.items()):
        if result.outcome is Outcome.ERROR or not result.summaries:
            if reason is not None:
                not_written.append((nodeid, result.outcome.value))  # error, or skipped by pytest
            continue
        if accepted(config, nodeid) and result.outcome in _ACCEPTABLE:
            stamp = dict(recorded)
            stamp["accepted"] = acceptance(config.reason, old_entry(nodeid))
            why = f"accepted ({config.reason})"
        elif reason is not None and result.outcome in _WRITABLE:
            stamp, why = recorded, reason
        elif config.update and result.outcome is Outcome.SKIPPED:
            # An explicit update re-records for this environment; an update branch never
            # replaces an entry it could not compare.
            stamp, why = recorded, f"{reason}, re-recorded here: the old entry was not compared"
        else:
            if reason is not None:
                not_written.append((nodeid, result.outcome.value))
            continue
        window = not config.update and result.outcome is Outcome.PASS and "accepted" not in stamp
        if window and result.baseline is not None:
            entry = refreshed_entry(result, result.baseline, environment, config.baseline_runs, stamp)
            window_size = len(entry.screen_runs if result.screened else entry.runs)
            changes[nodeid] = entry
            kind = "cheap run(s)" if result.screened else "run(s)"
            why = f"{why}; {len(result.records)} {kind} added, the entry keeps its last {window_size}"
        else:
            changes[nodeid] = replace(baseline_entry(result, environment), recorded=stamp)
        written.append((nodeid, why))
    return Recording(changes, tuple(written), tuple(not_written))
