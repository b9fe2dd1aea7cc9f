"""The README's example failure: one real run of the examples with the planted leak, kept.

    PYTHONPATH=. python tests/helpers/readme_example.py   # run it again (about 2 minutes)

runs ``test_cache.py`` of the examples under ``MEMGATE_EXAMPLE_REGRESSION=leak``, keeps the
scenario's result in ``readme_failure.json`` (its runs without their timelines) and prints
the text for the README. ``test_readme_example`` renders the kept result with the plugin's
``failure_text`` and checks that the README shows exactly that text: a change of wording
in the code that leaves the README behind fails there.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_memgate.plugin import GATE
from pytest_memgate.reports.terminal import failure_text
from pytest_memgate.results import ScenarioResult

ROOT = Path(__file__).resolve().parents[2]
KEPT = Path(__file__).with_name("readme_failure.json")
SCENARIO = "test_cache.py::test_quote_cache_memory"
WIDTH = 100  # the README's code blocks


def readme_text(result: ScenarioResult) -> str:
    """``failure_text`` as the README shows it: sentences wrapped, site lines left whole."""
    lines: list[str] = []
    for line in failure_text(result).splitlines():
        if len(line) <= WIDTH or line.startswith("    "):
            lines.append(line)
        else:
            lines += textwrap.wrap(
                line.strip(),
                width=WIDTH,
                initial_indent="  ",
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            )
    return "\n".join(lines)


def kept_result() -> ScenarioResult:
    return ScenarioResult.from_dict(json.loads(KEPT.read_text(encoding="utf-8")))


class _Keep:
    """Keeps the scenario's result when the session ends."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        result = session.config.stash[GATE].results[SCENARIO]
        records = tuple(replace(r, timeline=()) for r in result.records)
        data = replace(result, records=records).to_dict()
        KEPT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main() -> int:
    os.environ["MEMGATE_EXAMPLE_REGRESSION"] = "leak"
    os.chdir(ROOT)
    pytest.main(
        ["--memgate", "examples/", "-k", "quote_cache", "-p", "no:cacheprovider", "-q"], plugins=[_Keep()]
    )
    print(f"\nkept {KEPT.relative_to(ROOT)}; the README's example failure:\n")
    print(readme_text(kept_result()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
