"""docs/configuration.md is generated from the option table: it must be current, and every
default it prints must read back, through the option's own parser, as the option's default."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import pytest_memgate
from pytest_memgate.options import OPTIONS

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_configuration", DOCS / "generate_configuration.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    for option in OPTIONS:
        text = generator.default_text(option)
        if text == "unset":
            assert option.default is None, option.key
        elif text == "none":
            assert option.default in ((), ""), option.key
        else:
            assert option.parse(text) == option.default, (option.key, text)


def test_the_changelog_has_a_section_for_this_version() -> None:
    """The version is written once, in pytest_memgate/__init__.py; a release tag of it is
    refused by .ci/build-dist without this section."""
    changelog = (DOCS.parent / "CHANGELOG.md").read_text()
    assert f"\n## {pytest_memgate.__version__}\n" in changelog
