"""The option table against its three sources, its documentation and its own types.

Options reach ``resolve_config`` as text (command line and ini, read here through pytest's
real parser via ``pytester``) or as TOML values (``[tool.memgate]``). Each test below can
fail on a real change: a parser returning the wrong type, a source not consulted, a
default that drifted from its documentation, an error that does not say where the bad value is.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from pytest_memgate.config import OPTIONS, OPTIONS_BY_KEY, GateConfig, read_pyproject_table, resolve_config
from pytest_memgate.errors import ConfigError
from pytest_memgate.marker import ScenarioSpec, parse_marker

ROOT = Path("/project")
OPTIONS_PAGE = Path(__file__).parents[2] / "docs" / "configuration.md"  # the options table
CLI_PAGE = Path(__file__).parents[2] / "docs" / "cli.md"  # the marker's arguments
KiB, MiB, GiB = 1024, 1024**2, 1024**3


class Sample(typing.NamedTuple):
    """One value of an option as each source spells it, and what it must resolve to."""

    text: str | None  # command line and ini; None: a flag, given on the command line without a value
    toml: object  # the [tool.memgate] value
    value: object  # the resolved, typed value


# Two values per option. A differs from the default everywhere (so a source that is ignored
# shows), B differs from A; each set is consistent on its own (runs within min/max runs,
# accept with a reason).
SAMPLES_A: dict[str, Sample] = {
    "enabled": Sample(None, True, True),
    "update": Sample(None, True, True),
    "baseline": Sample("ci/base.json", "ci/base.json", Path("ci/base.json")),
    "report": Sample("out/memgate.json", "out/memgate.json", Path("out/memgate.json")),
    "html": Sample("out/memgate.html", "out/memgate.html", Path("out/memgate.html")),
    "markdown": Sample("out/memgate.md", "out/memgate.md", Path("out/memgate.md")),
    "keep_captures": Sample("out/captures", "out/captures", Path("out/captures")),
    "strict": Sample(None, True, True),
    "backend": Sample("tracemalloc", "tracemalloc", "tracemalloc"),
    "min_runs": Sample("2", 2, 2),
    "runs": Sample("3", 3, 3),
    "baseline_runs": Sample("5", 5, 5),
    "max_runs": Sample("9", 9, 9),
    "alpha": Sample("5%", 0.05, 0.05),
    "suite_size": Sample("40", 40, 40),
    "jobs": Sample("4", 4, 4),
    "peak_tolerance": Sample("0.04", "4%", 0.04),
    "peak_min_bytes": Sample("512 KiB", 524288, 512 * KiB),
    "growth_tolerance": Sample("1KiB", "1 KiB", KiB),
    "rss_peak_tolerance": Sample("20%", 0.2, 0.2),
    "rss_peak_min_bytes": Sample("32 MiB", "32 MiB", 32 * MiB),
    "rss_growth_tolerance": Sample("32768", 32768, 32 * KiB),
    "inconclusive": Sample("fail", "fail", "fail"),
    "trace_python_allocators": Sample("false", False, False),
    "screen": Sample("false", False, False),
    "memory_limit": Sample("2 GiB", "2 GiB", 2 * GiB),
    "hard_cap": Sample("80%", "80%", 0.8),
    "update_branches": Sample("main, release/*", ["main", "release/*"], ("main", "release/*")),
    "accept": Sample(
        "tests/a.py::t,tests/b.py::*", ["tests/a.py::t", "tests/b.py::*"], ("tests/a.py::t", "tests/b.py::*")
    ),
    "reason": Sample("bigger cache, on purpose", "bigger cache, on purpose", "bigger cache, on purpose"),
    "env_mismatch": Sample("warn", "warn", "warn"),
    "fingerprint_packages": Sample("numpy,,orjson,", ["numpy", "orjson"], ("numpy", "orjson")),
    "timeout": Sample("120", 120, 120.0),
}
SAMPLES_B: dict[str, Sample] = {
    "enabled": Sample("false", False, False),
    "update": Sample("no", False, False),
    "baseline": Sample("other.json", "other.json", Path("other.json")),
    "report": Sample("r.json", "r.json", Path("r.json")),
    "html": Sample("r.html", "r.html", Path("r.html")),
    "markdown": Sample("r.md", "r.md", Path("r.md")),
    "keep_captures": Sample("caps", "caps", Path("caps")),
    "strict": Sample("0", False, False),
    "backend": Sample("memray", "memray", "memray"),
    "min_runs": Sample("1", 1, 1),
    "runs": Sample("4", 4, 4),
    "baseline_runs": Sample("7", 7, 7),
    "max_runs": Sample("8", 8, 8),
    "alpha": Sample("0.02", "2%", 0.02),
    "suite_size": Sample("12", "12", 12),
    "jobs": Sample("3", "3", 3),
    "peak_tolerance": Sample("1%", 0.01, 0.01),
    "peak_min_bytes": Sample("1 MiB", "1 MiB", MiB),
    "growth_tolerance": Sample("64", 64, 64),
    "rss_peak_tolerance": Sample("0.3", 0.3, 0.3),
    "rss_peak_min_bytes": Sample("8MiB", 8 * MiB, 8 * MiB),
    "rss_growth_tolerance": Sample("4 KiB", "4 KiB", 4 * KiB),
    "inconclusive": Sample("pass", "pass", "pass"),
    "trace_python_allocators": Sample("true", True, True),
    "screen": Sample("true", True, True),
    "memory_limit": Sample("512 MiB", 512 * MiB, 512 * MiB),
    "hard_cap": Sample("off", "off", "off"),
    "update_branches": Sample("develop", ["develop"], ("develop",)),
    "accept": Sample("tests/c.py::u", ["tests/c.py::u"], ("tests/c.py::u",)),
    "reason": Sample("new feature", "new feature", "new feature"),
    "env_mismatch": Sample("fail", "fail", "fail"),
    "fingerprint_packages": Sample("scipy", ["scipy"], ("scipy",)),
    "timeout": Sample("30.5s", 30.5, 30.5),
}


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for these plain ASCII values
    return repr(value)


def _cli(samples: dict[str, Sample]) -> dict[str, object]:
    """What pytest hands over from the command line: text, or True for a flag given."""
    return {k: True if s.text is None else s.text for k, s in samples.items()}


def _ini(samples: dict[str, Sample]) -> dict[str, object]:
    return {k: "true" if s.text is None else s.text for k, s in samples.items()}


def _pyproject(samples: dict[str, Sample]) -> dict[str, object]:
    return {k: s.toml for k, s in samples.items()}


def _conforms(value: object, hint: object) -> bool:
    """isinstance against a field annotation, with ``X | None`` and ``tuple[str, ...]``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_conforms(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint in (int, float):
        return type(value) is hint  # neither True for an int nor 900 for a float
    return isinstance(value, typing.cast(type, hint))


FIELD_TYPES = typing.get_type_hints(GateConfig)


def test_samples_cover_every_option() -> None:
    """A new option needs sample values here, and so a test of every source for it."""
    assert set(SAMPLES_A) == set(OPTIONS_BY_KEY) == set(SAMPLES_B)
    for key, option in OPTIONS_BY_KEY.items():
        assert SAMPLES_A[key].value != option.default, key
        assert SAMPLES_A[key].value != SAMPLES_B[key].value, key


def test_every_option_is_a_config_field_and_every_field_an_option() -> None:
    """A GateConfig field that no option sets could only ever keep its default."""
    names = {f.name for f in fields(GateConfig)} - {"rootdir", "invocation_dir", "sources"}
    assert names == set(OPTIONS_BY_KEY)


def test_defaults_come_from_the_table_and_have_the_fields_types() -> None:
    """With no source, each setting is the table's default, of the field's declared type, and a
    GateConfig built directly (as the session's own tests do) agrees with a resolved one."""
    resolved = resolve_config({}, {}, {}, rootdir=ROOT)
    direct = GateConfig(rootdir=ROOT)
    assert resolved.sources == ()
    for option in OPTIONS:
        value = getattr(resolved, option.key)
        assert value == option.default, option.key
        assert getattr(direct, option.key) == value, option.key
        assert _conforms(value, FIELD_TYPES[option.key]), (option.key, value)
    assert resolved.baseline_path == ROOT / ".memgate" / "baseline.json"
    assert resolved.report_path is None


@pytest.mark.parametrize("ini_file", ["tox.ini", "pyproject.toml", "native [tool.pytest]"])
def test_each_source_gives_the_same_typed_value(pytester: pytest.Pytester, ini_file: str) -> None:
    """Every option given on pytest's real command line, in an ini file (a ``[pytest]`` section,
    ``[tool.pytest.ini_options]`` whose TOML values pytest turns into text, or pytest 9's
    ``[tool.pytest]`` whose values keep their TOML types) and in ``[tool.memgate]`` resolves
    to the same value, of the type GateConfig declares."""
    from pytest_memgate.plugin import ini_values

    args: list[str] = []
    for key, sample in SAMPLES_A.items():
        flag = OPTIONS_BY_KEY[key].flag
        args += [flag] if sample.text is None else [flag, sample.text]
    if ini_file == "tox.ini":
        lines = [f"{OPTIONS_BY_KEY[k].ini_name} = {v}" for k, v in _ini(SAMPLES_A).items()]
        pytester.makeini("[pytest]\n" + "\n".join(lines) + "\n")
    else:
        if ini_file != "pyproject.toml" and int(pytest.__version__.split(".")[0]) < 9:
            pytest.skip("[tool.pytest] is read by pytest 9 and later")
        table = "[tool.pytest.ini_options]" if ini_file == "pyproject.toml" else "[tool.pytest]"
        lines = [f"{OPTIONS_BY_KEY[k].ini_name} = {_toml(s.toml)}" for k, s in SAMPLES_A.items()]
        pytester.makepyprojecttoml(table + "\n" + "\n".join(lines) + "\n")
    config = pytester.parseconfig(*args)
    cli = {option.key: config.getoption(option.dest) for option in OPTIONS}
    ini = ini_values(config)
    table_path = pytester.path / "memgate.toml"
    table_path.write_text(
        "[tool.memgate]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in _pyproject(SAMPLES_A).items())
    )
    table = read_pyproject_table(table_path)

    from_cli = resolve_config(cli, {}, {}, rootdir=ROOT)
    from_table = resolve_config({}, table, {}, rootdir=ROOT, pyproject_path=table_path)
    from_ini = resolve_config({}, {}, ini, rootdir=ROOT)
    for key, sample in SAMPLES_A.items():
        values = [getattr(c, key) for c in (from_cli, from_table, from_ini)]
        assert values == [sample.value] * 3, key
        assert all(_conforms(v, FIELD_TYPES[key]) for v in values), (key, values)


def _options_page_table() -> dict[str, tuple[str, str]]:
    """``key: (flag, default)`` from the table in docs/configuration.md."""
    rows = {}
    for line in OPTIONS_PAGE.read_text().splitlines():
        match = re.match(r"^\| `(\w+)` \| `(--[\w-]+)` \| `memgate_\w+` \| ([^|]+?) \| .* \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3).strip("`"))
    return rows


# The table's words for a default that is not a value of the option: nothing set, or discovered.
UNSET_WORDS = {"none": (None, (), ""), "cgroup": (None,)}


def test_the_options_page_table_matches_the_option_table() -> None:
    """Every option is in docs/configuration.md's table and every row is an option, with its flag
    and its default: the page's default, read by the option's own parser, is the table's
    default ('none' for an empty one, 'cgroup' for a limit that is discovered)."""
    rows = _options_page_table()
    assert len(rows) >= 20, "the configuration table was not found in docs/configuration.md"
    assert set(rows) == set(OPTIONS_BY_KEY)
    for key, (flag, default) in rows.items():
        option = OPTIONS_BY_KEY[key]
        assert flag == option.flag, key
        if default in UNSET_WORDS:
            assert option.default in UNSET_WORDS[default], (key, default, option.default)
        else:
            assert option.parse(default) == option.default, (key, default, option.default)


SOURCES = ("cli", "pyproject", "ini")
FLAGS = frozenset(option.key for option in OPTIONS if option.is_flag)


def _given(source: str, samples: dict[str, Sample] | None) -> dict[str, object]:
    """Every option from ``samples`` as ``source`` gives it; a flag cannot be off on the command line."""
    if samples is None:
        return {}
    if source == "cli":
        return {k: v for k, v in _cli(samples).items() if not (k in FLAGS and samples[k].value is False)}
    return _pyproject(samples) if source == "pyproject" else _ini(samples)


@pytest.mark.parametrize(
    ("cli", "pyproject", "ini"),
    [
        ("A", "B", "B"),
        ("B", "A", "A"),
        (None, "A", "B"),
        (None, "B", "A"),
        (None, None, "A"),
        (None, None, "B"),
    ],
)
def test_command_line_beats_pyproject_beats_ini(
    cli: str | None, pyproject: str | None, ini: str | None
) -> None:
    """For every option, both ways round: the value is the one from the highest source that gives
    the option (command line, then ``[tool.memgate]``, then ini), and ``sources`` names that
    source and the option's name in it."""
    sets = {"A": SAMPLES_A, "B": SAMPLES_B, None: None}
    given = {s: _given(s, sets[name]) for s, name in zip(SOURCES, (cli, pyproject, ini))}
    path = ROOT / "pyproject.toml"
    config = resolve_config(given["cli"], given["pyproject"], given["ini"], rootdir=ROOT, pyproject_path=path)
    sources = dict(config.sources)
    for option in OPTIONS:
        winner = next(s for s in SOURCES if option.key in given[s])
        name = dict(zip(SOURCES, (cli, pyproject, ini)))[winner]
        assert getattr(config, option.key) == sets[name][option.key].value, (option.key, winner)
        expected_parts = {
            "cli": ["command line", option.flag],
            "pyproject": ["[tool.memgate]", option.key, str(path)],
            "ini": ["ini", option.ini_name],
        }[winner]
        assert all(part in sources[option.key] for part in expected_parts), sources[option.key]


def test_not_given_means_the_next_source() -> None:
    """``None`` from the command line (flag absent) and an empty ini value are not values."""
    cli = {option.key: None for option in OPTIONS}
    ini = {option.key: "" for option in OPTIONS}
    config = resolve_config(cli, {}, ini, rootdir=ROOT)
    assert config == resolve_config({}, {}, {}, rootdir=ROOT)
    config = resolve_config(
        cli, _pyproject(SAMPLES_A), ini, rootdir=ROOT, pyproject_path=ROOT / "pyproject.toml"
    )
    assert all(getattr(config, k) == s.value for k, s in SAMPLES_A.items())


# A value each option's parser rejects, and the sources that can carry it. A list option
# takes any text (split at commas), so only a TOML value of the wrong kind is bad; a reason
# can be any text at all.
BAD: dict[str, tuple[object, tuple[str, ...]]] = {
    "enabled": ("maybe", ("pyproject", "ini")),  # on the command line a flag has no value
    "update": ("maybe", ("pyproject", "ini")),
    "strict": ("maybe", ("pyproject", "ini")),
    "baseline": ("   ", ("cli", "pyproject", "ini")),
    "report": ("   ", ("cli", "pyproject", "ini")),
    "html": ("   ", ("cli", "pyproject", "ini")),
    "markdown": ("   ", ("cli", "pyproject", "ini")),
    "keep_captures": ("   ", ("cli", "pyproject", "ini")),
    "backend": ("valgrind", ("cli", "pyproject", "ini")),
    "min_runs": ("0", ("cli", "pyproject", "ini")),
    "runs": ("zero", ("cli", "pyproject", "ini")),
    "baseline_runs": ("2.5", ("cli", "pyproject", "ini")),
    "max_runs": ("-1", ("cli", "pyproject", "ini")),
    "alpha": ("0.7", ("cli", "pyproject", "ini")),
    "suite_size": ("0", ("cli", "pyproject", "ini")),
    "jobs": ("0", ("cli", "pyproject", "ini")),
    "peak_tolerance": ("lots", ("cli", "pyproject", "ini")),
    "peak_min_bytes": ("huge", ("cli", "pyproject", "ini")),
    "growth_tolerance": ("12 parsecs", ("cli", "pyproject", "ini")),
    "rss_peak_tolerance": ("2000%", ("cli", "pyproject", "ini")),
    "rss_peak_min_bytes": ("-5 MiB", ("cli", "pyproject", "ini")),
    "rss_growth_tolerance": ("?", ("cli", "pyproject", "ini")),
    "inconclusive": ("maybe", ("cli", "pyproject", "ini")),
    "trace_python_allocators": ("sometimes", ("cli", "pyproject", "ini")),
    "screen": ("sometimes", ("cli", "pyproject", "ini")),
    "memory_limit": ("lots", ("cli", "pyproject", "ini")),
    "hard_cap": ("150%", ("cli", "pyproject", "ini")),
    "update_branches": (5, ("pyproject",)),
    "accept": (5, ("pyproject",)),
    "env_mismatch": ("ignore", ("cli", "pyproject", "ini")),
    "fingerprint_packages": (True, ("pyproject",)),
    "timeout": ("soon", ("cli", "pyproject", "ini")),
}
ACCEPTS_ANY_VALUE = {"reason"}


def test_bad_values_are_known_for_every_option() -> None:
    assert set(BAD) | ACCEPTS_ANY_VALUE == set(OPTIONS_BY_KEY)


@pytest.mark.parametrize(("key", "source"), [(k, s) for k in sorted(BAD) for s in BAD[k][1]])
def test_bad_value_names_the_source_and_the_option(key: str, source: str) -> None:
    """The error says which source holds the bad value, under which name, and shows it."""
    value = BAD[key][0]
    option = OPTIONS_BY_KEY[key]
    path = ROOT / "pyproject.toml"
    given = {key: value}
    cli, pyproject, ini = (given if source == s else {} for s in SOURCES)
    with pytest.raises(ConfigError) as info:
        resolve_config(cli, pyproject, ini, rootdir=ROOT, pyproject_path=path)
    message = str(info.value)
    where = {
        "cli": ["command line", option.flag],
        "pyproject": ["[tool.memgate]", option.key, str(path)],
        "ini": ["ini", option.ini_name],
    }[source]
    assert all(part in message for part in where), message
    if str(value).strip():
        assert repr(value) in message, message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"runs": "zero"}, "command line --memgate-runs: expected a positive whole number"),
        ({"alpha": "0.7"}, "significance level between 0 and 0.5"),
        ({"backend": "valgrind"}, "expected one of auto, memray, tracemalloc"),
        ({"peak_min_bytes": "huge"}, "is not a size"),
        ({"runs": "9"}, "max_runs (8) is smaller than runs (9)"),
        ({"min_runs": "4"}, "min_runs (4) is larger than runs (2)"),
        ({"accept": "tests/a.py::t"}, "--memgate-accept needs --memgate-reason"),
    ],
)
def test_bad_values_name_the_option_and_the_fix(source: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(source, {}, {}, rootdir=ROOT)
    assert message in str(info.value)


def test_relative_paths_are_taken_from_the_rootdir() -> None:
    config = resolve_config({"baseline": "b.json", "report": "/tmp/r.json"}, {}, {}, rootdir=ROOT)
    assert config.baseline_path == ROOT / "b.json"
    assert config.report_path == Path("/tmp/r.json")


def test_pyproject_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.memgate]\nenabled = true\nreport = "r.json"\n')
    table = read_pyproject_table(path)
    config = resolve_config({}, table, {}, rootdir=tmp_path, pyproject_path=path)
    assert config.enabled is True
    assert config.report_path == tmp_path / "r.json"
    assert read_pyproject_table(tmp_path / "missing.toml") == {}
    path.write_text('[project]\nname = "x"\n')
    assert read_pyproject_table(path) == {}


def test_pyproject_errors(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.memgate\n")
    with pytest.raises(ConfigError, match="fix the TOML syntax"):
        read_pyproject_table(path)
    path.write_text('[tool.memgate]\nbasline = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key.*basline.*known keys"):
        read_pyproject_table(path)
    path.write_text("[tool]\nmemgate = 5\n")
    with pytest.raises(ConfigError, match="must be a table"):
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


def test_the_cli_page_documents_every_marker_argument() -> None:
    from pytest_memgate.marker import ARGUMENTS

    page = CLI_PAGE.read_text()
    for name in ARGUMENTS:
        assert f"`{name}`" in page, name


def test_options_given_without_the_gate_say_they_are_ignored(pytester: pytest.Pytester) -> None:
    """``--memgate-html x.html`` alone writes nothing: pytest's warnings summary says which
    options were ignored and how to turn the gate on; a plain run says nothing."""
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    result = pytester.runpytest("--memgate-html", "x.html", "--memgate-strict", "-o", "memgate_report=r.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*MemgateWarning: memgate: --memgate-html, --memgate-strict, -o memgate_report given "
            "without --memgate: the gate is off and they are ignored; add --memgate*"
        ]
    )
    assert not (pytester.path / "x.html").exists()
    plain = pytester.runpytest()
    assert plain.ret == 0 and "MemgateWarning" not in plain.stdout.str()


def test_pytest_help_shows_each_default_as_the_options_page_does(pytester: pytest.Pytester) -> None:
    """``pytest --help`` says each default as docs/configuration.md's table does (``auto``, not the
    ``None`` that stands for it inside), and it reads back as the option's own default."""
    text = " ".join(pytester.runpytest("--help").stdout.str().split())
    rows = _options_page_table()
    for option in OPTIONS:
        if option.is_flag:
            continue
        match = re.search(re.escape(option.flag) + r"=VALUE .*?\(default: ([^)]*)\)", text)
        assert match is not None, option.flag
        assert match.group(1) == rows[option.key][1], option.key
        assert option.default in (None, (), "") or option.parse(match.group(1)) == option.default, option.key
