"""``memgate merge``: the reports, or the baselines, of a suite split across CI shards, as one.

Each shard of a CI matrix measures its part of the suite and writes its own report
(``--memgate-report``) and, with ``--memgate-update``, its own baseline. A merge refuses
what would make the one result untrue: shards of different environments, commits or
pytest-memgate versions, a scenario measured by two shards, or shards that shared the
false-alarm rate over different suites. Its exit status is the merged report's (1 when a
shard's run failed a scenario's test, by each scenario's ``fails``), so that CI fails once, at
the end, with the whole picture.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import BaselineError, MemgateError
from ..reports.document import fails, failure_reason
from ..summary import natural_key
from ..validate import describe
from .documents import EXIT_OK, EXIT_REGRESSION, Document, load_document

if TYPE_CHECKING:
    from ..baseline import BaselineEntry

_RERUN = "re-run that shard with this pytest-memgate and --memgate-report"
_ONE_RUN = "merge only the shards of one CI run (one commit, one environment, one pytest-memgate)"


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """What differs between two environment fingerprints, by the gate's own rule (patch
    releases of Python and memray do not count), in words; empty when they agree."""
    from ..environment import fingerprint_differences

    found = {what: (x, y) for what, x, y in fingerprint_differences(a, b)}
    found.update({what: (y, x) for what, x, y in fingerprint_differences(b, a) if what not in found})
    return ", ".join(f"{what} {x} vs {y}" for what, (x, y) in sorted(found.items()))


# --- reports ------------------------------------------------------------------------------


def _suite_facts(doc: Document) -> tuple[int, float, str | None]:
    """(suite size, per-test level, commit) of a shard's report, each checked."""
    raw = doc.raw
    size = raw.get("suite_size")
    if size is None:
        raise MemgateError(
            f"memgate: report {doc.path} has no suite_size (written by a pytest-memgate without "
            f"sharding); {_RERUN}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        problem = f"suite_size is {describe(size)}, not a count of scenarios"
        raise MemgateError(f"memgate: report {doc.path}: {problem}; {_RERUN}")
    alpha = raw.get("alpha_per_test")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise MemgateError(
            f"memgate: report {doc.path}: alpha_per_test is {describe(alpha)}, not a level between 0 "
            f"and 1; {_RERUN}"
        )
    provenance = raw.get("provenance")
    commit = provenance.get("commit") if isinstance(provenance, dict) else None
    if not isinstance(provenance, dict) or not (commit is None or isinstance(commit, str)):
        raise MemgateError(f"memgate: report {doc.path} has no provenance (the commit it measured); {_RERUN}")
    if not doc.environment:
        raise MemgateError(f"memgate: report {doc.path} has no environment fingerprint; {_RERUN}")
    return size, float(alpha), commit


def check_shards(docs: Sequence[Document]) -> None:
    """Every shard like the first: same pytest-memgate, environment, commit, suite and level;
    no scenario in two shards; no more scenarios than the suite they were judged in."""
    first = docs[0]
    size, alpha, commit = _suite_facts(first)
    owner: dict[str, Path] = dict.fromkeys(first.scenarios, first.path)
    given: set[Path] = {first.path.resolve()}
    for doc in docs[1:]:
        if doc.path.resolve() in given:
            raise MemgateError(f"memgate: {doc.path} is given twice; pass each shard's report once")
        given.add(doc.path.resolve())
        other_size, other_alpha, other_commit = _suite_facts(doc)
        if doc.memgate_version != first.memgate_version:
            raise MemgateError(
                f"memgate: {doc.path} was written by pytest-memgate {doc.memgate_version or '?'}, "
                f"{first.path} by {first.memgate_version or '?'}; {_ONE_RUN}"
            )
        differences = _differences(doc.environment, first.environment)
        if differences:
            raise MemgateError(
                f"memgate: {doc.path} was measured in another environment than {first.path} "
                f"({differences}); {_ONE_RUN}, or merge each environment's shards separately"
            )
        if other_commit != commit:
            raise MemgateError(
                f"memgate: {doc.path} measured commit {other_commit or 'unknown'}, {first.path} "
                f"commit {commit or 'unknown'}; {_ONE_RUN}"
            )
        if other_size != size:
            raise MemgateError(
                f"memgate: {doc.path} shared the false-alarm rate over {other_size} scenario(s), "
                f"{first.path} over {size}; give every shard the same --memgate-suite-size (the "
                "whole suite's count), or select shards with -k or pytest-split so that each counts "
                "the whole suite at collection"
            )
        if not math.isclose(other_alpha, alpha, rel_tol=1e-9):
            raise MemgateError(
                f"memgate: {doc.path} judged at {other_alpha:.3g} per test, {first.path} at "
                f"{alpha:.3g}; run every shard with the same [tool.memgate] settings (alpha, runs, "
                "max_runs)"
            )
        for nodeid in doc.scenarios:
            if nodeid in owner:
                raise MemgateError(
                    f"memgate: scenario {nodeid!r} is in both {owner[nodeid]} and {doc.path}; shards "
                    "must not overlap: split with complementary -k expressions or pytest-split groups"
                )
            owner[nodeid] = doc.path
    if len(owner) > size:
        raise MemgateError(
            f"memgate: the shards hold {len(owner)} scenarios together, but each shared the "
            f"false-alarm rate over only {size}; pass --memgate-suite-size {len(owner)} (or more) "
            "to every shard, since shards selected by path cannot count the whole suite"
        )


def shard_name(path: Path, output: Path | None) -> str:
    """How the merged report names a shard: relative to the merged report when the shard is in
    its directory or the working directory, else by file name. The merged report is shared
    (uploaded, attached to a pull request): an absolute path would show this machine's
    directories (a home, a runner's work directory)."""
    shard = path.resolve()
    base = Path.cwd().resolve() if output is None else output.resolve().parent
    if shard.is_relative_to(base) or shard.is_relative_to(Path.cwd().resolve()):
        return Path(os.path.relpath(shard, base)).as_posix()
    return shard.name


def _suite_ids(doc: Document) -> set[str]:
    """The scenario ids a shard collected before deselection (empty from older reports)."""
    ids = doc.raw.get("suite_ids")
    if ids is None:
        return set()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise MemgateError(f"memgate: report {doc.path}: suite_ids is not a list of scenario ids; {_RERUN}")
    return set(ids)


NEVER_MEASURED = (
    "never measured: no shard's report holds it (its shard deselected it, or the shard that "
    "ran it wrote no report); select it in one shard"
)


def missing_scenarios(docs: Sequence[Document]) -> list[str]:
    """The suite's scenarios that no shard's report holds, by the ids the shards collected.
    A shard whose fixture errored or whose worker crashed lists its scenario as an error
    itself; one missing here was deselected everywhere, or its shard's report is missing."""
    present = {nodeid for doc in docs for nodeid in doc.scenarios}
    suite = set().union(*(_suite_ids(doc) for doc in docs))
    missing = sorted(suite - present, key=natural_key)
    size = _suite_facts(docs[0])[0]
    if len(present) + len(missing) < size:
        raise MemgateError(
            f"memgate: the shards hold {len(present)} scenario(s) together, but the suite they were "
            f"judged in has {size}, and their reports do not say which are missing (written by an "
            "older pytest-memgate, or shards selected by path); pass every shard's report, and give "
            "--memgate-suite-size the suite's exact count"
        )
    return missing


def _unmeasured(nodeid: str, backend: str) -> dict[str, Any]:
    """A scenario no shard measured, as a report lists an error."""
    from ..failing import Failure
    from ..marker import ScenarioSpec
    from ..reports.json import scenario_document
    from ..results import Outcome, ScenarioResult, Verdict

    verdict = Verdict(Outcome.ERROR, error=NEVER_MEASURED)
    result = ScenarioResult(nodeid, ScenarioSpec(), backend, (), (), verdict)
    document = scenario_document(result, failure=Failure.VERDICT.value)
    document.update(capture=None, flamegraph=None)
    return document


def merged_report(
    docs: Sequence[Document], missing: Sequence[str] = (), output: Path | None = None
) -> dict[str, Any]:
    """The first shard's document, with every shard's scenarios and baseline writes (and an
    error for each of the suite's scenarios that no shard measured); shards named relative
    to ``output`` (see ``shard_name``)."""
    merged = dict(docs[0].raw)
    scenarios = [raw for doc in docs for raw in doc.raw["scenarios"]]
    scenarios += [_unmeasured(nodeid, str(merged.get("backend") or "")) for nodeid in missing]
    merged["scenarios"] = sorted(scenarios, key=lambda raw: natural_key(raw["id"]))
    for key in ("baseline_written", "baseline_not_written"):
        entries = [item for doc in docs for item in doc.raw.get(key) or () if isinstance(item, dict)]
        merged[key] = sorted(entries, key=lambda item: natural_key(str(item.get("id"))))
    dirty = [doc.raw["provenance"].get("dirty") for doc in docs]
    provenance = dict(merged["provenance"])
    provenance["dirty"] = True if True in dirty else (False if False in dirty else None)
    merged["provenance"] = provenance
    merged["shards"] = [
        {"report": shard_name(doc.path, output), "scenarios": len(doc.scenarios)} for doc in docs
    ]
    merged["suite_ids"] = sorted(set().union(*(_suite_ids(doc) for doc in docs)), key=natural_key)
    return merged


def _merge_reports(docs: Sequence[Document], output: Path) -> int:
    import json

    from ..files import write_atomic

    check_shards(docs)
    missing = missing_scenarios(docs)
    merged = merged_report(docs, missing, output)
    try:
        write_atomic(output, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise MemgateError(f"memgate: cannot write {output}: {exc.strerror}; check the path") from None
    verdicts = [str(raw.get("verdict")) for raw in merged["scenarios"]]
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    print(
        f"merged {len(docs)} shard report(s) into {output}: {len(verdicts)} scenario(s) of a suite of "
        f"{merged['suite_size']}; " + (", ".join(f"{n} {v}" for v, n in counts.items()) or "no scenarios")
    )
    if missing:
        print(f"{len(missing)} scenario(s) of the suite are in no shard's report: each is an error")
    failing = [raw for raw in merged["scenarios"] if fails(raw)]
    for raw in failing:
        reason = failure_reason(raw)
        print(f"{raw['id']}: {raw['verdict']}" + (f" ({reason})" if reason else ""))
    return EXIT_REGRESSION if failing else EXIT_OK


# --- baselines ----------------------------------------------------------------------------


def _check_one_run(changes: Mapping[str, tuple[Path, BaselineEntry]]) -> None:
    """The entries the shards wrote come from one environment and one commit."""
    items = sorted(changes.items())
    if not items:
        return
    first_id, (first_path, first) = items[0]
    for nodeid, (path, entry) in items[1:]:
        where = f"{path}'s entry {nodeid!r} and {first_path}'s entry {first_id!r}"
        differences = _differences(entry.environment, first.environment)
        if entry.backend != first.backend and "backend" not in differences:
            backend = f"backend {entry.backend} vs {first.backend}"
            differences = f"{backend}, {differences}" if differences else backend
        if differences:
            raise BaselineError(
                f"memgate: {where} were measured in different environments ({differences}); merge "
                "each environment's baselines separately (a baseline path such as "
                ".memgate/{python}-{machine}.json keeps them apart); nothing was written"
            )
        commits = (entry.recorded.get("commit"), first.recorded.get("commit"))
        if None not in commits and commits[0] != commits[1]:
            raise BaselineError(
                f"memgate: {where} were recorded at different commits ({str(commits[0])[:12]} vs "
                f"{str(commits[1])[:12]}); pass as --baseline the baseline the shards started from, "
                "and only shards of one CI run; nothing was written"
            )


def _merge_baselines(docs: Sequence[Document], out: Path) -> int:
    """Write into ``out`` the entries each shard changed relative to ``out`` itself (the
    baseline the shards started from): entries no shard touched stay as they are."""
    from ..baseline import load_baseline, render_baseline
    from ..files import locked, write_atomic

    shards = [(doc.path, load_baseline(doc.path)) for doc in docs]
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out, BaselineError):
        base = load_baseline(out)  # a corrupt file is an error here, and is never overwritten
        changes: dict[str, tuple[Path, BaselineEntry]] = {}
        for path, shard in shards:
            for nodeid, entry in shard.entries.items():
                if base.get(nodeid) == entry:
                    continue
                seen = changes.setdefault(nodeid, (path, entry))
                if seen[1] != entry:
                    raise BaselineError(
                        f"memgate: scenario {nodeid!r} differs between {seen[0]} and {path}, and "
                        f"{out} holds neither; shards must not overlap (complementary -k "
                        "expressions or pytest-split groups), and --baseline must be the baseline "
                        "the shards started from; nothing was written"
                    )
        _check_one_run(changes)
        if changes:
            merged = dict(base.entries)
            merged.update({nodeid: entry for nodeid, (_, entry) in changes.items()})
            write_atomic(out, render_baseline(merged, __version__))
    print(f"merged {len(docs)} shard baseline(s) into {out}: {len(changes)} scenario(s) changed")
    for nodeid in sorted(changes, key=natural_key):
        verb = "updated" if nodeid in base.entries else "added"
        print(f"  {verb} {nodeid} (from {changes[nodeid][0]})")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    """Reports into one report (``-o``), or shard baselines into one baseline (``--baseline``)."""
    if (args.output is None) == (args.baseline is None):
        raise MemgateError(
            "memgate: merge needs one of -o MERGED.json (to merge shard reports) or "
            "--baseline BASELINE (to merge shard baselines into it)"
        )
    docs = [load_document(path) for path in args.shards]
    kinds = {doc.kind for doc in docs}
    if len(kinds) > 1:
        report = next(doc.path for doc in docs if doc.kind == "report")
        baseline = next(doc.path for doc in docs if doc.kind == "baseline")
        raise MemgateError(
            f"memgate: {baseline} is a baseline and {report} a report; merge reports with "
            "-o MERGED.json and baselines with --baseline BASELINE, in two commands"
        )
    kind = kinds.pop()
    if args.output is not None:
        if kind != "report":
            raise MemgateError(
                f"memgate: {docs[0].path} is a baseline; merge shard baselines with "
                "--baseline BASELINE, or pass the shards' --memgate-report files with -o"
            )
        return _merge_reports(docs, args.output)
    if kind != "baseline":
        raise MemgateError(
            f"memgate: {docs[0].path} is a report; merge shard reports with -o MERGED.json, or pass "
            "the baselines the shards wrote with --memgate-update to --baseline"
        )
    return _merge_baselines(docs, args.baseline)
