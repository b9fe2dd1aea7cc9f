"""``memgate accept``, ``prune`` and ``rename``: the commands that change a baseline."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import MemgateError
from .diff import load_project_config
from .documents import EXIT_OK, load_document

if TYPE_CHECKING:
    from ..baseline import Baseline

# --- changing a baseline: accept, prune, rename ------------------------------------------


def _existing_baseline(path: Path) -> Baseline:
    """A baseline that must exist already: pruning or renaming in a missing file is a typo."""
    from ..baseline import load_baseline

    if not path.exists():
        raise MemgateError(
            f"memgate: baseline {path} does not exist; pass the baseline file, such as .memgate/baseline.json"
        )
    return load_baseline(path)


def runs_note(runs: int, wanted: int) -> str:
    """What an accepted entry of few runs says about itself, in the entry and the output."""
    return (
        f"{runs} run(s) from a --memgate-report, fewer than baseline_runs = {wanted}: comparisons "
        f"against this entry are weaker until it is re-recorded with pytest --memgate --memgate-update"
    )


def _provenance_text(recorded: Mapping[str, Any], branch_source: str) -> str:
    branch = recorded.get("branch")
    parts = [f"branch {branch} ({branch_source})" if branch else f"no branch: {branch_source}"]
    commit = recorded.get("commit")
    parts.append(f"commit {str(commit)[:12]}" if commit else "no commit (not a git checkout)")
    if recorded.get("dirty") is True:
        parts.append("working tree with uncommitted changes (recorded as dirty)")
    return ", ".join(parts)


def cmd_accept(args: argparse.Namespace) -> int:
    """Write a report's figures for the named scenarios into the baseline, with the reason."""
    from ..baseline import BaselineEntry, acceptance, load_baseline, update_baseline
    from ..branches import current_branch, provenance

    reason = args.reason.strip()
    if not reason:
        raise MemgateError('memgate: accept needs --reason "..." saying why more memory is intended')
    doc = load_document(args.report)
    if doc.kind != "report":
        raise MemgateError(f"memgate: {args.report} is not a --memgate-report file; accept reads one")
    from ..baseline import matching_ids

    chosen = matching_ids(doc.scenarios, args.scenarios)
    if not chosen:
        raise MemgateError(
            f"memgate: no scenario in {args.report} matches {' '.join(args.scenarios)}; "
            f"it has: {', '.join(sorted(doc.scenarios)) or 'none'}"
        )
    config = load_project_config(args.config, {}).config
    wanted = min(config.baseline_runs, config.max_runs)  # as the plugin records
    baseline = load_baseline(args.baseline)
    branch = current_branch(config.rootdir)
    stamp = provenance(config.rootdir, __version__, branch.name, ignore=(args.baseline, args.report))
    changes = {}
    for nodeid in chosen:
        scenario = doc.scenarios[nodeid]
        if scenario.screened:
            raise MemgateError(
                f"memgate: scenario {nodeid!r} passed on the cheap first look in {args.report}: its "
                "one cheap run cannot stand for the baseline's full runs; nothing was accepted; record "
                f"it with pytest --memgate --memgate-accept '{nodeid}' --memgate-reason '...'"
            )
        first = next((r for r in scenario.records if r.ok), None)
        if first is None:
            raise MemgateError(
                f"memgate: scenario {nodeid!r} has no successful run in {args.report}; nothing was "
                "accepted and the baseline was left untouched"
            )
        recorded = dict(stamp)
        recorded["accepted"] = acceptance(reason, baseline.get(nodeid))
        if len(scenario.runs) < wanted:
            recorded["runs_note"] = runs_note(len(scenario.runs), wanted)
        changes[nodeid] = BaselineEntry.of_runs(
            scenario.runs, first, spec=scenario.spec, environment=doc.environment, recorded=recorded
        )
    update_baseline(args.baseline, changes, __version__)
    for nodeid in chosen:
        print(f"accepted {nodeid} into {args.baseline}: {reason}")
        note = changes[nodeid].recorded.get("runs_note")
        if note:
            print(f"  {note}")
    print(f"recorded: {_provenance_text(stamp, branch.source)}")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    """Remove scenarios that no longer exist: named ones, or those missing from a report."""
    from ..baseline import matching_ids, update_baseline

    baseline = _existing_baseline(args.baseline)
    ids = list(baseline.entries)
    if args.keep_report is not None:
        kept = set(load_document(args.keep_report).scenarios)
        doomed = sorted(set(ids) - kept)
    elif args.scenarios:
        doomed = matching_ids(ids, args.scenarios)
    else:
        raise MemgateError(
            "memgate: prune needs scenario ids/globs or --keep-report REPORT (a report of a full "
            "run: every scenario not in it is removed)"
        )
    for nodeid in doomed:
        print(f"{'would remove' if args.dry_run else 'removed'} {nodeid}")
    if doomed and not args.dry_run:
        update_baseline(args.baseline, {}, __version__, remove=tuple(doomed))
    if not doomed:
        print("nothing to prune")
    return EXIT_OK


def cmd_rename(args: argparse.Namespace) -> int:
    """Carry a renamed scenario's baseline over, keeping its history. A test's name renames
    its whole parametrized family (``test_x[...]`` to ``test_y[...]``); an exact id of one
    member renames that member alone."""
    from ..baseline import family_members, update_baseline

    baseline = _existing_baseline(args.baseline)
    old, new = args.old, args.new
    moved = {nodeid: new + nodeid[len(old) :] for nodeid in family_members(baseline.entries, old)}
    if not moved:
        raise MemgateError(
            f"memgate: {args.baseline} has no scenario {old!r} (nor parametrized ones {old}[...]); "
            f"`memgate show {args.baseline}` lists them"
        )
    taken = sorted(target for target in moved.values() if target in baseline.entries and target not in moved)
    if taken and not args.force:
        raise MemgateError(
            f"memgate: {args.baseline} already has {', '.join(repr(t) for t in taken)}; "
            "pass --force to replace it"
        )
    changes = {target: baseline.entries[source] for source, target in moved.items()}
    update_baseline(args.baseline, changes, __version__, remove=tuple(s for s in moved if s not in changes))
    if list(moved) != [old]:
        print(f"renamed {len(moved)} scenarios (the parametrized family {old}[...]) in {args.baseline}:")
        for source, target in moved.items():
            print(f"  {source} -> {target}")
    else:
        print(f"renamed {old} -> {new} in {args.baseline}")
    return EXIT_OK
