"""Values checked at the door: ``memload(...)`` arguments and configuration values that would
overflow, switch a safeguard off, or fail every run are usage errors before anything is measured.

Each case below was accepted (or crashed with a traceback) before these checks.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_memgate.config import MAX_RUNS, resolve_config
from pytest_memgate.errors import ConfigError
from pytest_memgate.marker import MAX_CALLS, ScenarioSpec, parse_marker
from pytest_memgate.validate import InvalidValue

ROOT = Path("/project")
NODE = "tests/test_x.py::test_y"


def marker_error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_marker(NODE, (), kwargs)
    message = str(info.value)
    assert NODE in message
    assert len(message.splitlines()) == 1
    return message


# --- memload arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["iterations", "warmup"])
def test_calls_are_capped_at_a_million(key: str) -> None:
    """``iterations=10**12`` was accepted: each call is followed by a collection and a quiet
    window, so the run would never finish inside any timeout."""
    message = marker_error(**{key: 10**12})
    assert f"memload {key}=1000000000000 is invalid" in message
    assert "1,000,000" in message
    assert parse_marker(NODE, (), {key: MAX_CALLS}) == ScenarioSpec(**{key: MAX_CALLS})  # type: ignore[arg-type]
    marker_error(**{key: MAX_CALLS + 1})


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"max_peak": "1e300 TiB"}, "'1e300 TiB'"),  # OverflowError from units.parse_size before
        ({"max_rss": "1e300 TiB"}, "'1e300 TiB'"),
        ({"max_growth": "1e300 TiB"}, "'1e300 TiB'"),
        ({"max_peak": 10**400}, "an integer of about 401 digits"),  # OverflowError converting to float
        ({"max_growth": 1e300}, "1e+300"),  # a number of bytes no machine has
        ({"max_peak": "nan%"}, "'nan%'"),
        ({"max_peak": "inf"}, "'inf'"),
        ({"timeout": math.nan}, "nan"),  # NaN compared false with every deadline: no timeout at all
        ({"timeout": "nan"}, "'nan'"),
        ({"timeout": math.inf}, "inf"),
        ({"timeout": "inf s"}, "'inf s'"),
        ({"timeout": 0}, "0"),
        ({"sizes": [1, 10**400]}, "an integer of about 401 digits"),
        ({"production_size": 10**30}, "an integer of about 31 digits is past the largest"),
        ({"max_exponent": math.nan}, "nan"),
        ({"iterations": True}, "True"),
        ({"warmup": 2.0}, "2.0"),
    ],
)
def test_bad_marker_values_are_config_errors_naming_the_argument(
    kwargs: dict[str, object], shown: str
) -> None:
    (key,) = kwargs
    message = marker_error(**kwargs)
    assert f"memload {key}=" in message and "is invalid" in message
    assert shown in message


def test_huge_positional_arguments_do_not_break_the_message() -> None:
    """repr() of an int of 5,000 digits raises ValueError: the message must not build it."""
    with pytest.raises(ConfigError, match="1 positional"):
        parse_marker(NODE, (10**5000,), {})


def test_sane_marker_values_still_pass() -> None:
    spec = parse_marker(
        NODE,
        (),
        {"iterations": 200, "warmup": 0, "max_peak": "40%", "max_growth": "1 KiB", "timeout": "90s"},
    )
    assert (spec.iterations, spec.warmup, spec.max_peak, spec.max_growth, spec.timeout) == (
        200,
        0,
        0.4,
        1024,
        90.0,
    )


# --- configuration values -------------------------------------------------------------------


def config_error(key: str, value: object, source: str = "pyproject") -> str:
    given = {key: value}
    cli, pyproject, ini = (given if source == s else {} for s in ("cli", "pyproject", "ini"))
    with pytest.raises(ConfigError) as info:
        resolve_config(cli, pyproject, ini, rootdir=ROOT, pyproject_path=ROOT / "pyproject.toml")
    message = str(info.value)
    assert key in message
    assert len(message.splitlines()) == 1
    return message


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        # overflow instead of an error
        ("memory_limit", "1e300 TiB", "more bytes than any machine has"),
        ("peak_min_bytes", "1e300 TiB", "more bytes than any machine has"),
        ("growth_tolerance", 10**400, "more bytes than any machine has"),
        ("rss_peak_min_bytes", "1e300 TiB", "more bytes than any machine has"),
        ("rss_growth_tolerance", 1e300, "more bytes than any machine has"),
        ("hard_cap", "1e300 TiB", "more bytes than any machine has"),
        # a safeguard switched off
        ("timeout", math.nan, "not a finite number"),
        ("timeout", "nan", "not a finite number"),
        ("timeout", math.inf, "not a finite number"),
        ("timeout", "1e999s", "not a finite number"),
        ("timeout", 10**9, "at most 604800"),
        # every run would fail
        ("memory_limit", 0, "below 1 MiB"),
        ("memory_limit", "0 B", "below 1 MiB"),
        ("memory_limit", "100 KiB", "below 1 MiB"),
        ("hard_cap", 0, "below 1 MiB"),
        ("hard_cap", "0", "below 1 MiB"),
        ("hard_cap", "0%", "between 0% and 100%"),
        # runs that would never end
        ("runs", 10**12, f"more than {MAX_RUNS}"),
        ("max_runs", "1000000", f"more than {MAX_RUNS}"),
        ("baseline_runs", 10**400, "past the largest whole number"),
        # values of the wrong kind that were turned into text
        ("baseline", ["a.json"], "expected a file path as text"),
        ("report", 5, "expected a file path as text"),
        ("update_branches", [["main"]], "a list of text"),
        ("reason", 5, "expected text"),
        ("backend", True, "expected one of"),
        ("alpha", math.nan, "not a finite number"),
        ("peak_tolerance", "inf%", "not a finite number"),
        ("enabled", 2, "expected true or false"),
    ],
)
def test_bad_config_values_are_errors_before_anything_runs(key: str, value: object, says: str) -> None:
    assert says in config_error(key, value)


@pytest.mark.parametrize("source", ["cli", "pyproject", "ini"])
def test_a_path_with_a_nul_byte_is_refused_when_read(source: str) -> None:
    """It used to fail only when the file was written, after the whole session was measured."""
    for key in ("baseline", "report"):
        assert "NUL byte" in config_error(key, "out/a\0b.json", source)


def test_sane_config_values_still_resolve() -> None:
    config = resolve_config(
        {},
        {
            "memory_limit": "1 MiB",
            "hard_cap": "2 GiB",
            "timeout": "600s",
            "runs": 3,
            "max_runs": MAX_RUNS,
            "baseline": ".memgate/{python}-{machine}.json",
        },
        {},
        rootdir=ROOT,
    )
    assert (config.memory_limit, config.hard_cap, config.timeout) == (1024**2, 2 * 1024**3, 600.0)
    assert (config.runs, config.max_runs) == (3, MAX_RUNS)


def test_a_bad_pyproject_value_is_a_usage_error_before_any_scenario_runs(pytester: pytest.Pytester) -> None:
    """The plugin wiring: the error comes from ``pytest_configure``, so nothing is collected
    or measured, and pytest exits with its usage-error code."""
    pytester.makepyprojecttoml('[tool.memgate]\nenabled = true\ntimeout = "nan"\n')
    pytester.makepyfile(
        test_scenario="""
        import pathlib
        import pytest

        @pytest.mark.memload(iterations=5, warmup=0)
        def test_a():
            pathlib.Path("ran").write_text("measured")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "timeout" in err and "not a finite number" in err
    assert "Traceback" not in err
    assert not (pytester.path / "ran").exists()


# --- ScenarioSpec.from_dict: a spec shipped by an xdist worker or read from a file -----------


def test_a_spec_survives_its_round_trip() -> None:
    spec = ScenarioSpec(
        iterations=20,
        warmup=0,
        max_peak=0.4,
        max_growth=1024,
        max_rss=64 * 1024**2,
        native_traces=True,
        trace_python_allocators=False,
        timeout=30.0,
        sizes=(1000, 2000),
        production_size=10**6,
        max_exponent=1.5,
    )
    assert ScenarioSpec.from_dict(spec.to_dict()) == spec
    assert ScenarioSpec.from_dict(ScenarioSpec().to_dict()) == ScenarioSpec()
    assert ScenarioSpec.from_dict({"iterations": 20, "newer_key": "ignored"}) == ScenarioSpec(iterations=20)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"iterations": "many"}, "iterations is invalid: expected a whole number >= 1, got 'many'"),
        ({"iterations": math.nan}, "iterations is invalid"),
        ({"iterations": True}, "iterations is invalid"),
        ({"iterations": 3}, "iterations is too few to estimate growth; use at least 5"),
        ({"warmup": 10**12}, "warmup is invalid"),
        ({"timeout": math.nan}, "timeout is invalid: expected a number of seconds, got nan"),
        ({"timeout": -1}, "timeout is invalid"),
        ({"max_peak": math.inf}, "max_peak is invalid"),
        ({"max_peak": -5}, "max_peak is invalid"),
        ({"max_rss": 2**70}, "max_rss is invalid"),
        ({"max_growth": [1]}, "max_growth is invalid"),
        ({"native_traces": "yes"}, "native_traces is invalid: expected True or False"),
        ({"trace_python_allocators": 1}, "trace_python_allocators is invalid"),
        ({"sizes": [3, 1]}, "sizes is invalid: payload sizes must be distinct and increasing"),
        ({"sizes": "1,2"}, "sizes is invalid"),
        ({"sizes": [1, 2], "production_size": 0}, "production_size is invalid"),
        ({"production_size": 5}, "production_size needs sizes=[...]"),
        ({"max_exponent": math.inf}, "max_exponent is invalid"),
        ({"iterations": None}, "iterations is invalid"),
    ],
)
def test_a_bad_spec_payload_is_an_invalid_value_naming_its_key(data: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidValue) as info:
        ScenarioSpec.from_dict(data)
    assert str(info.value).startswith(says)
    assert info.value.key == says.split(" ", 1)[0]


@pytest.mark.parametrize("data", [[], None, "spec", 3])
def test_a_spec_that_is_not_an_object_is_an_invalid_value(data: object) -> None:
    with pytest.raises(InvalidValue, match="not an object"):
        ScenarioSpec.from_dict(data)
