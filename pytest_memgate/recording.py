"""What a run may write into the baseline, and why: the update and acceptance rules.

The session hands over its results and what it knows (the update reason, the old entries,
the environment, the provenance stamp); this decides entry by entry and returns the
changes with the reasons, so that the session only writes them under the store's lock.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .baseline import BaselineEntry, acceptance
from .branches import BranchInfo, matching_glob
from .config import GateConfig
from .results import Outcome, ScenarioResult

_WRITABLE = (Outcome.PASS, Outcome.NEW, Outcome.IMPROVED)
_ACCEPTABLE = (Outcome.REGRESSION, Outcome.INCONCLUSIVE, *_WRITABLE)


def update_reason(config: GateConfig, branch: BranchInfo) -> str | None:
    """Why this run may write the baseline, or ``None``: feature branches never write."""
    if config.update:
        return "--memgate-update"
    glob = matching_glob(branch.name, config.update_branches)
    if glob is not None:
        return f"branch {branch.name!r} ({branch.source}) matches update_branches {glob!r}"
    return None


def accepted(config: GateConfig, nodeid: str) -> bool:
    """Whether ``--memgate-accept`` names the scenario (an id or a glob)."""
    return any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in config.accept)


def baseline_entry(result: ScenarioResult, environment: dict[str, Any]) -> BaselineEntry:
    """A measured scenario as the baseline stores it (sites from its first run)."""
    first = result.records[0]
    return BaselineEntry(
        backend=result.backend,
        runs=result.summaries,
        spec=result.spec.to_dict(),
        environment=environment,
        peak_sites=first.peak_sites,
        retained_sites=first.retained_sites,
    )


@dataclass(frozen=True, slots=True)
class Recording:
    """The entries to write, and the lines the summary shows about them."""

    changes: dict[str, BaselineEntry]
    written: tuple[tuple[str, str], ...]  # (nodeid, why)
    not_written: tuple[tuple[str, str], ...]  # (nodeid, outcome)


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
    stamp each written entry carries; ``old_entry`` the entry an acceptance replaces."""
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
        changes[nodeid] = replace(baseline_entry(result, environment), recorded=stamp)
        written.append((nodeid, why))
    return Recording(changes, tuple(written), tuple(not_written))
