from __future__ import annotations

from pathlib import Path

import pytest

from pytest_memgate.config import OPTIONS, read_pyproject_table, resolve_config
from pytest_memgate.errors import ConfigError
from pytest_memgate.marker import ScenarioSpec, parse_marker

ROOT = Path("/project")


def test_defaults() -> None:
    config = resolve_config({}, {}, {}, rootdir=ROOT)
    assert config.enabled is False
    assert config.baseline_path == ROOT / ".memgate" / "baseline.json"
    assert config.report_path is None
    assert (config.min_runs, config.runs, config.baseline_runs, config.max_runs) == (1, 2, 6, 8)
    assert config.alpha == 0.01


def test_precedence_cli_over_pyproject_over_ini() -> None:
    config = resolve_config(
        {"runs": "5", "max_runs": None},
        {"runs": 4, "max_runs": 9, "peak_tolerance": "5%"},
        {"runs": "2", "max_runs": "7", "alpha": "0.05", "peak_tolerance": "0.2"},
        rootdir=ROOT,
        pyproject_path=ROOT / "pyproject.toml",
    )
    assert config.runs == 5
    assert config.max_runs == 9
    assert config.alpha == 0.05
    assert config.peak_tolerance == pytest.approx(0.05)
    sources = dict(config.sources)
    assert sources["runs"] == "command line --memgate-runs"
    assert sources["max_runs"].startswith("[tool.memgate] max_runs")
    assert sources["alpha"] == "ini memgate_alpha"


def test_every_option_is_reachable_from_each_source() -> None:
    for option in OPTIONS:
        assert option.flag.startswith("--memgate")
        assert option.ini_name.startswith("memgate_")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"runs": "zero"}, "command line --memgate-runs: expected a positive whole number"),
        ({"alpha": "0.7"}, "significance level between 0 and 0.5"),
        ({"backend": "valgrind"}, "expected one of auto, memray, tracemalloc"),
        ({"peak_min_bytes": "huge"}, "is not a size"),
        ({"runs": "9"}, "max_runs (8) is smaller than runs (9)"),
        ({"min_runs": "4"}, "min_runs (4) is larger than runs (2)"),
    ],
)
def test_bad_values_name_the_option_and_the_fix(source: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(source, {}, {}, rootdir=ROOT)
    assert message in str(info.value)


def test_pyproject_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.memgate]\nenabled = true\nreport = "r.json"\n')
    table = read_pyproject_table(path)
    config = resolve_config({}, table, {}, rootdir=tmp_path, pyproject_path=path)
    assert config.enabled is True
    assert config.report_path == tmp_path / "r.json"
    assert read_pyproject_table(tmp_path / "missing.toml") == {}


def test_pyproject_errors(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.memgate\n")
    with pytest.raises(ConfigError, match="fix the TOML syntax"):
        read_pyproject_table(path)
    path.write_text('[tool.memgate]\nbasline = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key.*basline.*known keys"):
        read_pyproject_table(path)


def test_marker_defaults_and_values() -> None:
    assert parse_marker("t::a", (), {}) == ScenarioSpec()
    spec = parse_marker("t::a", (), {"iterations": 80, "max_peak": "64 MiB", "max_growth": "1 KiB"})
    assert (spec.iterations, spec.max_peak, spec.max_growth) == (80, 64 * 1024**2, 1024)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((5,), {}, "keyword arguments only"),
        ((), {"iteration": 5}, "unknown memload argument 'iteration'"),
        ((), {"iterations": 0}, "memload iterations=0 is invalid"),
        ((), {"iterations": 3}, "iterations=3 is too few"),
        ((), {"warmup": -1}, "memload warmup=-1 is invalid"),
        ((), {"max_peak": "lots"}, "memload max_peak='lots' is invalid"),
        ((), {"native_traces": "yes"}, "expected True or False"),
        ((), {"iterations": 10.5}, "memload iterations=10.5 is invalid"),
    ],
)
def test_marker_errors_name_test_and_argument(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_marker("tests/test_x.py::test_y", args, kwargs)
    assert "tests/test_x.py::test_y" in str(info.value)
    assert message in str(info.value)


def test_readme_documents_every_option_and_marker_argument() -> None:
    from pytest_memgate.marker import ARGUMENTS

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for option in OPTIONS:
        assert f"`{option.key}`" in readme, option.key
        assert f"`{option.flag}`" in readme, option.flag
    for name in ARGUMENTS:
        assert f"`{name}`" in readme, name
