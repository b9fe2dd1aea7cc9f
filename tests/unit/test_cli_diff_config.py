"""``memgate diff`` judges with the project's ``[tool.memgate]``, as the plugin does."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli_files import MiB, runs, write_baseline

from pytest_memgate.baseline import BaselineEntry
from pytest_memgate.cli import POLICY_KEYS, build_parsers, main
from pytest_memgate.config import OPTIONS_BY_KEY


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A +4% heap peak (+410 KiB): a regression by default (3% and 256 KiB), not at 5%. Six
    runs a side, the default baseline: a jump to a level the old runs never showed is proven
    once that many rule out a second level (``stats.odd_share_p``)."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    monkeypatch.chdir(project / "tests")  # the pyproject.toml is found from below, as pytest finds it
    old = write_baseline(tmp_path / "old.json", {"t::a": BaselineEntry("memray", runs(10 * MiB, n=6))})
    new = write_baseline(
        tmp_path / "new.json", {"t::a": BaselineEntry("memray", runs(10 * MiB * 104 // 100, n=6))}
    )
    return old, new


def _project(text: str) -> Path:
    path = Path.cwd().parent / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_project(pair: tuple[Path, Path], capsys) -> None:
    assert main(["diff", *map(str, pair)]) == 1
    out = capsys.readouterr().out
    assert "config: defaults (no pyproject.toml in" in out
    assert "tolerances: heap peak > 3% and 256 KiB, heap growth > 256 B/call" in out
    assert "t::a: regression" in out


def test_project_tolerances_apply(pair: tuple[Path, Path], capsys) -> None:
    path = _project('[project]\nname = "x"\n\n[tool.memgate]\npeak_tolerance = "5%"\nalpha = 0.05\n')
    assert main(["diff", *map(str, pair)]) == 0
    out = capsys.readouterr().out
    assert f"config: [tool.memgate] in {path}\n" in out
    assert "tolerances: heap peak > 5% and 256 KiB" in out
    assert "false-alarm rate 0.05 over 1 common scenario(s) x 4 metrics = 0.013 per test" in out
    assert next(row for row in out.splitlines() if row.startswith("t::a ")).split()[1] == "pass"


def test_flags_override_the_project(pair: tuple[Path, Path], capsys) -> None:
    _project('[tool.memgate]\npeak_tolerance = "5%"\n')
    assert main(["diff", *map(str, pair), "--peak-tolerance", "3%", "--peak-min-bytes", "300 KiB"]) == 1
    out = capsys.readouterr().out
    assert "; from the command line: --peak-tolerance --peak-min-bytes" in out
    assert "tolerances: heap peak > 3% and 300 KiB" in out
    assert "t::a: regression" in out
    assert main(["diff", *map(str, pair), "--peak-min-bytes", "1 MiB"]) == 0  # +410 KiB is below it
    assert (
        next(row for row in capsys.readouterr().out.splitlines() if row.startswith("t::a ")).split()[1]
        == "pass"
    )


def test_project_without_a_memgate_table_means_defaults(pair: tuple[Path, Path], capsys) -> None:
    path = _project('[project]\nname = "x"\n')
    assert main(["diff", *map(str, pair)]) == 1
    assert f"config: defaults (no [tool.memgate] in {path})" in capsys.readouterr().out


def test_config_names_another_project(pair: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    _project('[tool.memgate]\npeak_tolerance = "1%"\n')  # the nearest one is not used
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text('[tool.memgate]\npeak_tolerance = "5%"\n', encoding="utf-8")
    for given in (other, other / "pyproject.toml"):
        assert main(["diff", "--config", str(given), *map(str, pair)]) == 0
        assert f"config: [tool.memgate] in {other / 'pyproject.toml'}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "pyproject", "expected"),
    [
        (["--peak-tolerance", "lots"], None, "argument --peak-tolerance: expected a fraction"),
        (["--growth-tolerance", "12 parsecs"], None, "argument --growth-tolerance: unknown unit"),
        (["--alpha", "0.7"], None, "between 0 and 0.5"),
        (["--config", "missing.toml"], None, "--config missing.toml is not a file"),
        ([], "[tool.memgate\n", "fix the TOML syntax"),
        ([], '[tool.memgate]\npeak_tolerance = "lots"\n', "bad value for [tool.memgate] peak_tolerance"),
        ([], "[tool.memgate]\npeak_tolerence = 0.05\n", "unknown key(s) peak_tolerence"),
        ([], "tool = 3\n", "pyproject.toml"),
    ],
)
def test_bad_configuration_is_a_usage_error(
    pair: tuple[Path, Path], capsys, argv: list[str], pyproject: str | None, expected: str
) -> None:
    if pyproject is not None:
        _project(pyproject)
    assert main(["diff", *map(str, pair), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_not_utf8_pyproject_is_a_clean_error(pair: tuple[Path, Path], capsys) -> None:
    (Path.cwd().parent / "pyproject.toml").write_bytes(b"[tool.memgate]\nreason = '\xff'\n")
    assert main(["diff", *map(str, pair)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "pyproject.toml" in err


def test_flags_come_from_the_option_table(capsys) -> None:
    """Names and parsing stay in config.OPTIONS: one flag per policy option, its help from there."""
    diff = build_parsers()[1]["diff"]
    flags = {a.dest: a for a in diff._actions if a.option_strings}
    for key in POLICY_KEYS:
        option = OPTIONS_BY_KEY[key]
        assert flags[key].option_strings == ["--" + key.replace("_", "-")]
        assert option.help in (flags[key].help or "").replace("%%", "%")
    assert main(["diff", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--peak-min-bytes SIZE" in help_text and "else 256 KiB)" in help_text
    assert "--peak-tolerance FRACTION" in help_text and "else 3%)" in help_text


def test_show_and_diff_find_the_projects_baseline_and_say_which(
    pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from below the project, as pytest is: the default path beside the pyproject.toml,
    then the one ``[tool.memgate]`` names, and its ``report`` as NEW when none is given."""
    old, new = pair
    root = _project('[project]\nname = "x"\n').parent
    assert main(["show"]) == 2
    err = capsys.readouterr().err
    assert f"no baseline file given and none at {root / '.memgate/baseline.json'}" in err
    assert f"(the default baseline path, beside {root / 'pyproject.toml'})" in err
    assert "record one with pytest --memgate --memgate-update" in err

    (root / ".memgate").mkdir()
    (root / ".memgate/baseline.json").write_bytes(old.read_bytes())
    assert main(["show"]) == 0
    out = capsys.readouterr().out.splitlines()
    beside = f"(the default baseline path, beside {root / 'pyproject.toml'})"
    assert out[0] == f"reading {root / '.memgate/baseline.json'} {beside}"
    assert out[1].startswith(f"baseline {root / '.memgate/baseline.json'}: 1 scenario(s)")
    assert main(["show", "--json"]) == 0  # the JSON stays JSON: the line goes to stderr
    captured = capsys.readouterr()
    assert captured.out.startswith("{") and captured.err.startswith("reading ")

    path = _project(f'[tool.memgate]\nbaseline = "{old}"\nreport = "{new}"\n')
    assert main(["diff", str(new)]) == 1  # one path: NEW, against the project's baseline
    out = capsys.readouterr().out
    assert f"OLD: {old} ([tool.memgate] of {path})" in out
    assert f"memgate diff: OLD baseline {old} -> NEW baseline {new};" in out
    assert main(["diff"]) == 1  # none: the project's report against its baseline
    out = capsys.readouterr().out
    assert f"NEW: {new} ([tool.memgate] of {path})" in out and "t::a: regression" in out

    _project(f'[tool.memgate]\nbaseline = "{old}"\n')
    assert main(["diff"]) == 2
    assert "diff needs NEW, the report or baseline to judge against" in capsys.readouterr().err
