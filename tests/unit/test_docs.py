"""docs/configuration.md is generated from the option table: it must be current, and every
default it prints must read back, through the option's own parser, as the option's default."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from helpers.scripts import load_script

import pytest_memgate
from pytest_memgate.options import OPTIONS

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_script("docs/generate_configuration.py")


def test_the_configuration_page_is_the_generated_one(
    generator: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    status = generator.main(["--check"])
    assert status == 0, capsys.readouterr().err + " (run: python docs/generate_configuration.py)"
    page = (DOCS / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"| `{option.key}` | `{option.flag}` | `{option.ini_name}` |" in page


def test_a_stale_page_is_reported(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(generator.render().replace("| 3% |", "| 5% |"))
    monkeypatch.setattr(generator, "PAGE", stale)
    assert generator.main(["--check"]) == 1


def test_every_printed_default_reads_back_as_the_default(generator: ModuleType) -> None:
    """Or is a word: ``none`` for an option that is off, ``cgroup`` for the discovered limit."""
    for option in OPTIONS:
        text = generator.default_text(option)
        if text == "cgroup":
            assert option.key == "memory_limit" and option.default is None, option.key
        elif text == "none":
            assert option.default in (None, (), ""), option.key
        else:
            assert option.parse(text) == option.default, (option.key, text)


def test_the_changelog_has_a_section_for_this_version() -> None:
    """The version is written once, in pytest_memgate/__init__.py; a release tag of it is
    refused by .ci/build-dist without this section."""
    changelog = (DOCS.parent / "CHANGELOG.md").read_text()
    assert f"\n## {pytest_memgate.__version__}\n" in changelog


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as '-'."""
    found = set()
    for line in _prose(page.read_text(encoding="utf-8")):
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def _prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, where a bracket is code, not a link."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def broken_links(page: Path, root: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or heading anchor, does not exist."""
    broken = []
    for line in _prose(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in anchors(dest)):
                broken.append(f"{page.name}: {target}")
    return broken


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    root = DOCS.parent
    pages = [root / "README.md", *sorted(DOCS.glob("*.md"))]
    assert len(pages) > 5
    assert [b for page in pages for b in broken_links(page, root)] == []


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## The `x` part, measured\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md) [ok](docs/a.md#the-x-part-measured) [web](https://example.org)\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#nothing)\n"
        "```\n[in code](docs/c.md)\n```\n"
    )
    assert broken_links(page, tmp_path) == ["README.md: docs/b.md", "README.md: docs/a.md#nothing"]


def test_ci_runs_the_readmes_test_command() -> None:
    """The README's second setup command is what CI runs: `.ci/run` installs the same extras
    and ends with the same pytest command, so a reader who runs it runs CI's suite."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("```sh\n") : readme.index("\n```", readme.index("```sh\n"))]
    install, _, test = next(line for line in block.splitlines() if "pytest -q" in line).partition(" && ")
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[-1] == test
    assert '-e ".[test]"' in install and any(c.endswith('-e ".[test]"') for c in commands), install
