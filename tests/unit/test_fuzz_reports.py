"""A probe of every command that reads a ``--memgate-report``: mutated reports must be read
or refused cleanly, and never accepted with a verdict other than the one they state.

The mutations and the command-line harness are ``test_fuzz``'s (values replaced by NaN,
huge integers, wrong types, keys deleted or duplicated, the text truncated), with edited
verdicts added. Each document goes through ``show``, ``show --json``, ``report`` (text,
``md``, ``html``), ``diff`` (both sides), ``merge -o``, ``accept`` and ``prune
--keep-report``. A finding is:

- a traceback, a hang, or an error that is not one ``memgate: ...`` line with exit 2;
- a document accepted that holds what the gate must refuse (``test_fuzz.must_refuse``,
  a verdict the gate never gives, a missing verdict, a pass beside a finding that regressed,
  a ``fails`` flag that disagrees with its ``failure`` or its verdict);
- a silent change of verdict: a document accepted whose exit status (``report``,
  ``merge``) differs from the ``fails`` flags (else the verdicts) the document states, or
  whose ``show --json`` verdicts differ from the verdicts it states.

The test runs a few hundred documents; ``python tests/unit/test_fuzz_reports.py --count
2000`` runs the full probe and prints the counts.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_fuzz import (
    SEEDS,
    VALUES,
    Mutation,
    _paths,
    must_refuse,
    mutate,
    run_cli,
)

from pytest_memgate.results import Outcome

REPORT = "report"
BATCH = "tests/test_api.py::test_batch"
OUTCOMES = {o.value for o in Outcome}
FAILING = ("regression", "error")  # verdicts that fail by themselves
# Verdict edits: the gate's own words in the wrong place, and near misses of them; flag
# edits: a test failed or passed by hand, for a reason the gate may never give.
VERDICT_VALUES: list[Any] = ["pass", "regression", "error", "skipped", "REGRESSION", "Pass", " pass"]
VERDICT_VALUES += [True, False, "verdict", "strict_new", "new", "inconclusive"]
OPS = ["replace", "replace", "replace", "delete", "wrap"]


def report_seed() -> str:
    """``test_fuzz``'s report, as a shard of a suite of its two scenarios names them."""
    document = json.loads(SEEDS[REPORT])
    document["suite_ids"] = sorted(s["id"] for s in document["scenarios"])
    document["provenance"] = {"commit": "abc123", "dirty": False}
    return json.dumps(document, indent=2, sort_keys=True)


SEED = report_seed()


def random_mutations(rng: random.Random) -> tuple[list[Mutation], tuple[str, Any] | None]:
    mutations = []
    for _ in range(rng.randint(1, 3)):
        value = rng.choice(VERDICT_VALUES) if rng.random() < 0.15 else rng.choice(VALUES)
        mutations.append(Mutation(rng.randrange(10**6), rng.choice(OPS), value))
    roll = rng.random()
    text_op: tuple[str, Any] | None = None
    if roll < 0.05:
        text_op = ("truncate", rng.random() * 0.999)
    elif roll < 0.1:
        text_op = ("duplicate", rng.randrange(10**6))
    return mutations, text_op


def verdict_problem(document: Any) -> str | None:
    """Why the stated verdicts must be refused, or None."""
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    for scenario in scenarios if isinstance(scenarios, list) else ():
        if not isinstance(scenario, dict):
            continue
        verdict = scenario.get("verdict")
        if not isinstance(verdict, str) or verdict not in OUTCOMES:
            return f"verdict {verdict!r:.40}"
        findings = scenario.get("findings")
        regressed = isinstance(findings, list) and any(
            isinstance(f, dict) and f.get("regressed") is True for f in findings
        )
        if regressed and verdict not in FAILING:
            return f"verdict {verdict!r} beside a finding that regressed"
        problem = fails_problem(scenario, verdict)
        if problem is not None:
            return problem
    return None


def fails_problem(scenario: dict[str, Any], verdict: str) -> str | None:
    """Why the scenario's ``fails`` and ``failure`` must be refused, or None: a flag that is
    no boolean, a reason the gate never gives, or one that disagrees with the flag or the
    verdict (``failing.scenario_failure``: an error always fails, strict fails only new ones)."""
    flag, failure = scenario.get("fails"), scenario.get("failure")
    if flag is not None and not isinstance(flag, bool):
        return f"fails {flag!r:.40}"
    if failure is not None and failure not in ("verdict", "strict_new"):
        return f"failure {failure!r:.40}"
    if failure is not None and flag is not True:
        return f"failure {failure!r} with fails {flag!r}"
    if flag is True and verdict not in (*FAILING, "inconclusive", "new"):
        return f"fails on verdict {verdict!r}"
    if flag is False and verdict == "error":
        return "an error that does not fail"
    if failure == "strict_new" and verdict != "new":
        return f"strict_new on verdict {verdict!r}"
    if failure == "verdict" and verdict not in (*FAILING, "inconclusive"):
        return f"failure 'verdict' on verdict {verdict!r}"
    return None


def stated(document: Any) -> dict[str, str]:
    """The verdicts the document states, by scenario id (for documents that were accepted)."""
    return {s["id"]: s["verdict"] for s in document["scenarios"]}


def expected_exit(document: Any, *, merge: bool) -> int:
    """1 when a scenario states it fails (a report without the flag: its verdict fails); for
    a merge also when a suite scenario is in no shard."""
    verdicts = stated(document)
    failing = any(
        s["fails"] if isinstance(s.get("fails"), bool) else s["verdict"] in FAILING
        for s in document["scenarios"]
    )
    missing = merge and bool(set(document.get("suite_ids") or ()) - set(verdicts))
    return 1 if failing or missing else 0


@dataclass
class Tally:
    documents: int = 0
    refused: int = 0  # documents every command refused with one clean line
    findings: list[str] = field(default_factory=list)
    tracebacks: int = 0
    silent: int = 0  # accepted with a verdict other than the one stated

    def add(self, label: str, found: list[str]) -> None:
        for text in found:
            if text.startswith(("crash", "hang", "traceback")):
                self.tracebacks += 1
            if text.startswith(("accepted", "verdict")):
                self.silent += 1
            self.findings.append(f"{label}: {text}")


def _commands(path: Path, work: Path) -> list[tuple[list[str], set[int], str]]:
    """(argv, exit codes allowed besides 2, what the exit status means)."""
    reference, baseline = work / "reference.json", work / "baseline.json"
    out = work / "out"
    return [
        (["show", str(path)], {0}, ""),
        (["show", "--json", str(path)], {0}, "json"),
        (["report", str(path)], {0, 1}, "report"),
        (["report", str(path), "--format", "md", "-o", str(out / "r.md")], {0, 1}, "report"),
        (["report", str(path), "--format", "html", "-o", str(out / "r.html")], {0, 1}, "report"),
        (["diff", str(reference), str(path)], {0, 1}, ""),
        (["diff", str(path), str(reference)], {0, 1}, ""),
        (["merge", str(path), "-o", str(out / "merged.json")], {0, 1}, "merge"),
        (["accept", str(baseline), str(path), BATCH, "--reason", "probe"], {0}, ""),
        (["prune", str(baseline), "--keep-report", str(path), "--dry-run"], {0}, ""),
    ]


def probe(mutations: list[Mutation], text_op: tuple[str, Any] | None, work: Path) -> tuple[list[str], bool]:
    """(findings, whether every command refused it) for one mutated report."""
    document, text, broken = mutate(SEED, mutations, text_op)
    refuse = "an invalid text" if broken else must_refuse(document, REPORT) or verdict_problem(document)
    path = work / "report.json"
    path.write_text(text, encoding="utf-8")
    (work / "reference.json").write_text(SEEDS["baseline"], encoding="utf-8")
    (work / "baseline.json").write_text(SEEDS["baseline"], encoding="utf-8")
    shutil.rmtree(work / "out", ignore_errors=True)
    (work / "out").mkdir()
    found: list[str] = []
    codes = []
    for argv, allowed, meaning in _commands(path, work):
        code, out, err, exc = run_cli(argv)
        codes.append(code)
        name = " ".join(argv[:2] if argv[1].startswith("-") else argv[:1])
        if exc is not None:
            kind = "hang" if type(exc).__name__ == "Hang" else "crash"
            found.append(f"{kind} in {name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if "Traceback" in err:
            found.append(f"traceback on stderr of {name}")
        if code == 2:
            lines = err.strip().splitlines()
            if len(lines) != 1 or not lines[0].startswith("memgate"):
                found.append(f"error of {name} is not one 'memgate: ...' line: {err[:300]!r}")
            continue
        if code not in allowed:
            found.append(f"exit {code} from {name}")
            continue
        if refuse is not None:
            found.append(f"accepted by {name} ({code}) with {refuse}")
            continue
        if meaning in ("report", "merge") and code != expected_exit(document, merge=meaning == "merge"):
            found.append(f"verdict changed: {name} exits {code}, the document states {stated(document)}")
        if meaning == "json":
            shown = {s["id"]: s["verdict"] for s in json.loads(out)["scenarios"]}
            if shown != stated(document):
                found.append(f"verdict changed: show --json says {shown}, the document {stated(document)}")
    return found, all(code == 2 for code in codes)


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="memgate-fuzz-reports-") as name:
        yield Path(name)


def test_the_seed_is_read_by_every_command(work: Path) -> None:
    """Otherwise every refusal below would be vacuous."""
    document = json.loads(SEED)
    assert must_refuse(document, REPORT) is None and verdict_problem(document) is None
    assert len(list(_paths(document))) > 100
    assert probe([], None, work) == ([], False)


def run_probe(count: int, seed: int, work: Path) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for number in range(count):
        mutations, text_op = random_mutations(rng)
        found, refused = probe(mutations, text_op, work)
        tally.documents += 1
        tally.refused += refused
        tally.add(f"document {number} ({mutations}, {text_op})", found)
    return tally


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_reports_are_read_or_refused_by_every_command(seed: int, work: Path) -> None:
    tally = run_probe(50, seed, work)
    assert tally.findings == []
    assert 0 < tally.refused < tally.documents  # both paths were taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memgate-fuzz-reports-") as name:
        tally = run_probe(args.count, args.seed, Path(name))
    for text in tally.findings[:50]:
        print(text)
    print(
        f"{tally.documents} report documents x {len(_commands(Path(), Path()))} commands: "
        f"{tally.refused} refused by all, {tally.tracebacks} tracebacks or hangs, "
        f"{tally.silent} silent acceptances, {len(tally.findings)} findings in all"
    )
    return 1 if tally.findings else 0


if __name__ == "__main__":
    sys.exit(main())
