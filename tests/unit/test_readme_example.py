"""The README's example failure is what the code prints, and names the tests it uses.

The example is a kept real run of the examples (``helpers/readme_example.py`` runs it
again): its text must be ``failure_text`` of that result, and each comparison in it must
name the test ``compare_runs`` picks today, which the kept result alone would not show.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers.cli_files import MiB, runs
from helpers.readme_example import kept_result, readme_text

from pytest_memgate.reports.words import finding_text
from pytest_memgate.verdict import Policy, compare_runs

README = Path(__file__).resolve().parents[2] / "README.md"
TEST_NAME = r"baseline runs; (.+?) (?:on per-run Theil-Sen slopes )?p [=<]"


def example_failure() -> str:
    """The README's example failure text, its wrapped lines joined."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```", text.index("a failing scenario says what grew"))
    return " ".join(text[start + 3 : text.index("```", start + 3)].split())


def test_each_comparison_in_the_readme_example_names_the_test_the_gate_uses() -> None:
    findings = compare_runs(runs(40 * MiB, n=2), runs(10 * MiB, n=6), Policy(alpha=0.01))
    example = example_failure()
    assert len(findings) == 4
    for finding in findings:
        metric = finding.metric.value
        used = re.search(TEST_NAME, finding_text(finding))
        shown = re.search(re.escape(metric) + r" (?:grew|fell|per call went) .*?" + TEST_NAME, example)
        assert used is not None and shown is not None, metric
        assert shown.group(1) == used.group(1), f"{metric}: the README says {shown.group(1)!r}"


def test_the_readme_example_is_the_kept_runs_failure_text() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("```\n", text.index("a failing scenario says what grew")) + 4
    shown = text[start : text.index("\n```", start)]
    assert shown == readme_text(kept_result()), "run tests/helpers/readme_example.py and copy its text"
