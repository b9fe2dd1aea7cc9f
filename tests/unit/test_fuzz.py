"""A fuzzer over what users hand the gate: baseline and report documents, and config values.

Valid documents are built with the real renderers (``render_baseline``, ``build_report``)
and the shipped example baseline, then mutated: values replaced by NaN, infinities, huge
integers, numeric strings, booleans, null, lists, objects and deep nesting; keys deleted
or duplicated in the raw text; the text truncated. ``memgate show`` and ``memgate diff``
must then succeed or exit 2 with one clean line, never raise, never hang, and never accept
a number that is not finite or a figure of the wrong type. Config values must resolve to a
``GateConfig`` or raise ``ConfigError``, and a resolved config holds no value that would
overflow, switch a safeguard off or fail every run.

Only the public entry points are used, so the same checks can be pointed at older code.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_memgate.baseline import BaselineEntry, render_baseline
from pytest_memgate.cli import main
from pytest_memgate.config import OPTIONS_BY_KEY, GateConfig, resolve_config
from pytest_memgate.errors import ConfigError
from pytest_memgate.marker import ScenarioSpec, parse_marker
from pytest_memgate.model import AllocSite, RunRecord, RunStatus, RunSummary

MiB = 1024**2
INT64 = 2**63 - 1
EXAMPLE = Path(__file__).parents[2] / "examples" / ".memgate" / "baseline.json"
# Each example is milliseconds; together the file stays well under 20 s. No example database:
# a run explores afresh, and a failure prints the mutations that reproduce it.
SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# --- seeds: documents the gate itself writes -----------------------------------------------


def _site(i: int) -> AllocSite:
    return AllocSite(
        f"handler{i}", f"app/mod{i}.py", 10 + i, 4096 * (i + 1), i + 1, (("loads", "json/decoder.py", 353),)
    )


def _record(i: int, *, leak: int = 0, status: RunStatus = RunStatus.OK) -> RunRecord:
    """A short run; flat floors unless ``leak``, so that reading a report stays cheap (a flat
    series needs no Theil-Sen fit) and the fuzzer spends its time on the documents."""
    if status is not RunStatus.OK:
        return RunRecord(status, "memray", warmup=2, iterations=6, error="crashed with signal SIGSEGV")
    floor = tuple(1 * MiB + leak * k for k in range(7))
    return RunRecord(
        status=status,
        backend="memray",
        warmup=2,
        iterations=6,
        peak_heap_bytes=8 * MiB + leak * 6 + 1000 * i,
        peak_rss_bytes=12 * MiB + 4096 * i,
        heap_floor_bytes=floor,
        rss_floor_bytes=(4096,) * 7,
        timeline=tuple((k * 0.01, floor[k], 4096 * k) for k in range(4)),
        peak_sites=(_site(1), _site(2)),
        retained_sites=(_site(3),),
        measured_s=0.12,
        wall_s=0.5,
    )


def baseline_seed() -> str:
    runs = tuple(
        RunSummary(8 * MiB + 1000 * i, 12 * MiB + 4096 * i, 3.0 * i, 1.5, 10.0, 40.0) for i in range(3)
    )
    entries = {
        "tests/test_api.py::test_batch": BaselineEntry(
            "memray",
            runs,
            ScenarioSpec(iterations=6, warmup=2).to_dict(),
            {"commit": "abc123", "date": "2025-01-01T00:00:00+00:00", "branch": "main"},
            {"python": "3.11.7", "machine": "x86_64", "packages": {"numpy": "2.0"}},
            (_site(1), _site(2)),
            (_site(3),),
        ),
        "tests/test_idle.py::test_nothing": BaselineEntry(
            "memray", (RunSummary(0, -4096, 0.0, 0.0, -12.5, 3.0), RunSummary(0, 0, 0.0, 0.0, 0.0, 0.0))
        ),
    }
    return render_baseline(entries, "0.1.0")


def report_seed() -> str:
    """A ``--memgate-report`` document as ``reports.json.build_report`` writes it."""
    from pytest_memgate.failing import scenario_failure
    from pytest_memgate.metrics import classify_shape, summarize_run
    from pytest_memgate.reports.json import build_report
    from pytest_memgate.results import ScenarioResult, SessionReport
    from pytest_memgate.verdict import Policy, decide

    spec = ScenarioSpec(iterations=6, warmup=2)
    policy = Policy(alpha=0.001)
    results = []
    for nodeid, records in (
        ("tests/test_api.py::test_batch", (_record(0), _record(1))),
        ("tests/test_cache.py::test_cache", (_record(0, leak=4096), _record(9, status=RunStatus.CRASHED))),
    ):
        ok = tuple(r for r in records if r.ok)
        summaries = tuple(summarize_run(r) for r in ok)
        base = BaselineEntry("memray", tuple(summarize_run(_record(i)) for i in range(3)))
        verdict = decide(summaries, base.runs, spec, policy)
        results.append(
            ScenarioResult(nodeid, spec, "memray", records, summaries, verdict, classify_shape(ok), base)
        )
    report = SessionReport(
        backend="memray",
        backend_reason="fuzz seed",
        alpha=0.01,
        alpha_per_test=0.001,
        scenario_count=len(results),
        comparisons=4,
        looks=4,
        baseline_path=".memgate/baseline.json",
        memory_limit_bytes=None,
        memory_limit_source="none",
        hard_cap_bytes=None,
        hard_cap_source="off",
        environment={"python": "3.11.7", "machine": "x86_64"},
        results=tuple(results),
        failing={
            r.nodeid: failure.value
            for r in results
            if (failure := scenario_failure(r.outcome, GateConfig(), accepted=False, updating=False))
        },
    )
    return json.dumps(build_report(report), indent=2, sort_keys=True, allow_nan=False)


SEEDS: dict[str, str] = {"baseline": baseline_seed(), "report": report_seed()}
if EXAMPLE.is_file():
    SEEDS["example"] = EXAMPLE.read_text(encoding="utf-8")


# --- mutations -----------------------------------------------------------------------------

# Stand-ins replaced in the serialised text by what json.dumps cannot write.
DEEP_100 = "@@deep-100@@"  # deeper than any memgate document, shallower than the stack limit
DEEP_100K = "@@deep-100k@@"  # deep enough to exhaust a recursive parser
BIG_EXP = "@@1e999@@"  # valid JSON that Python's json reads as infinity
HUGE_INT = "@@huge-int@@"  # more digits than Python converts from text
RAW = {
    DEEP_100: "[" * 100 + "]" * 100,
    DEEP_100K: "[" * 100_000 + "]" * 100_000,
    BIG_EXP: "1e999",
    HUGE_INT: "9" * 5000,
}
ALWAYS_REFUSED = {DEEP_100, DEEP_100K, BIG_EXP, HUGE_INT}  # wherever they appear
VALUES: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    10**400,
    2**63,
    -(2**63) - 1,
    -1,
    0,
    1.5,
    -0.0,
    1e308,
    "123",
    "",
    "ok",
    True,
    False,
    None,
    [],
    {},
    [1, 2, 3],
    {"a": 1},
    DEEP_100,
    DEEP_100K,
    BIG_EXP,
    HUGE_INT,
]

Path_ = tuple[str | int, ...]


def _paths(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*path, index))


def _parent(document: Any, path: Path_) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@dataclass(frozen=True)
class Mutation:
    where: int  # index into the document's paths, modulo their number
    op: str  # "replace", "delete" or "wrap"
    value: Any = None


MUTATIONS = st.builds(
    Mutation,
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["replace", "replace", "replace", "delete", "wrap"]),
    st.sampled_from(VALUES),
)
TEXT_OPS = st.one_of(
    st.none(),
    st.tuples(st.just("truncate"), st.floats(min_value=0.0, max_value=0.999)),
    st.tuples(st.just("duplicate"), st.integers(min_value=0, max_value=10**6)),
)


def mutate(seed: str, mutations: list[Mutation], text_op: tuple[str, Any] | None) -> tuple[Any, str, bool]:
    """The mutated document (as Python data, before text operations), its text, and whether
    a text operation made it invalid JSON on purpose (truncated, a duplicated key)."""
    document = json.loads(seed)
    for m in mutations:
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        path = paths[m.where % len(paths)]
        parent = _parent(document, path)
        if m.op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif m.op == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = copy.deepcopy(m.value)  # never share a list between places
    text = json.dumps(document)  # allow_nan: NaN and Infinity literals go into the text
    for marker, raw in RAW.items():
        text = text.replace(json.dumps(marker), raw)
    broken = False
    if text_op is not None and text_op[0] == "truncate":
        text = text[: int(len(text.rstrip()) * text_op[1])]
        broken = True
    elif text_op is not None:
        keys = sorted({str(p[-1]) for p in _paths(document) if p and isinstance(p[-1], str)})
        if keys:
            key = json.dumps(keys[text_op[1] % len(keys)]) + ": "
            if key in text:
                text = text.replace(key, key + "0, " + key, 1)
                broken = True
    return document, text, broken


# Where the commands read figures, as path patterns; "*" is any key or index.
BASELINE_FIGURES = [
    ("scenarios", "*", "runs", "*", field)
    for field in (
        "peak_heap_bytes",
        "peak_rss_bytes",
        "heap_growth",
        "heap_growth_se",
        "rss_growth",
        "rss_growth_se",
    )
] + [
    ("scenarios", "*", sites, "*", field)
    for sites in ("peak_sites", "retained_sites")
    for field in ("lineno", "size_bytes", "count")
]
RECORD = ("scenarios", "*", "run_records", "*")
REPORT_FIGURES = (
    [
        (*RECORD, field)
        for field in ("warmup", "iterations", "peak_heap_bytes", "peak_rss_bytes", "measured_s", "wall_s")
    ]
    + [(*RECORD, series, "*") for series in ("heap_floor_bytes", "rss_floor_bytes")]
    + [(*RECORD, "timeline", "*", "*")]
    + [
        (*RECORD, sites, "*", field)
        for sites in ("peak_sites", "retained_sites")
        for field in ("lineno", "size_bytes", "count")
    ]
)


def _matches(path: Path_, pattern: tuple[str | int, ...]) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == q for p, q in zip(pattern, path))


def _bad_figure(value: Any) -> bool:
    """Not a finite number of the right kind and range, for any figure the gate reads."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, float):
        return not math.isfinite(value) or abs(value) > INT64
    return abs(value) > INT64


def must_refuse(document: Any, kind: str) -> str | None:
    """Why the mutated document must be refused (exit 2), or None when it may be accepted."""
    patterns = BASELINE_FIGURES if kind == "baseline" else REPORT_FIGURES
    for path in _paths(document):
        node = _parent(document, path)[path[-1]] if path else document
        if isinstance(node, float) and not math.isfinite(node):
            return f"{node} at {path}"
        if isinstance(node, str) and node in ALWAYS_REFUSED:
            return f"{node} at {path}"
        if path and any(_matches(path, p) for p in patterns) and _bad_figure(node):
            return f"figure {node!r:.40} at {path}"
    return None


# --- running the command line --------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` can hide a hang."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str]) -> tuple[int | None, str, str, BaseException | None]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with time_limit(20):
                code = main(argv)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is the finding
            return None, out.getvalue(), err.getvalue(), exc
    return code, out.getvalue(), err.getvalue(), None


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


def problems(argv: list[str], allowed: set[int], refuse: str | None) -> list[str]:
    """What went wrong running ``argv``: a crash, a hang, an unclean error, or a silent pass."""
    code, out, err, exc = run_cli(argv)
    if exc is not None:
        kind = "hang" if isinstance(exc, Hang) else "crash"
        return [f"{kind}: {type(exc).__name__}: {str(exc)[:200]}"]
    found = []
    if code not in allowed | {2}:
        found.append(f"exit {code}")
    if "Traceback" in err:
        found.append("traceback on stderr")
    if code == 2:
        lines = err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("memgate"):
            found.append(f"error is not one 'memgate: ...' line: {err[:300]!r}")
    elif refuse is not None:
        found.append(f"accepted ({code}) a document holding {refuse}")
    if code == 0 and "--json" in argv:
        try:
            _strict_json(out)
        except ValueError as error:
            found.append(f"--json output is not strict JSON: {error}")
    return found


def check_document(
    seed_name: str, mutations: list[Mutation], text_op: tuple[str, Any] | None, other: str, workdir: Path
) -> list[str]:
    """Every problem the CLI shows with one mutated document, through show and diff (against a
    clean document of kind ``other``)."""
    document, text, broken = mutate(SEEDS[seed_name], mutations, text_op)
    kind = "report" if seed_name == "report" else "baseline"
    refuse = "an invalid text" if broken else must_refuse(document, kind)
    path = workdir / f"{seed_name}.json"
    path.write_text(text, encoding="utf-8")
    reference = workdir / f"{other}-reference.json"
    reference.write_text(SEEDS[other], encoding="utf-8")
    found = problems(["show", "--json", str(path)], {0}, refuse)
    found += problems(["diff", str(reference), str(path)], {0, 1}, refuse)
    return found


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="memgate-fuzz-") as name:
        yield Path(name)


def test_the_seeds_are_accepted(workdir: Path) -> None:
    """The mutations start from documents the CLI reads: otherwise every check is vacuous."""
    for name in SEEDS:
        for other in ("baseline", "report"):
            assert check_document(name, [], None, other, workdir) == [], name
        assert must_refuse(json.loads(SEEDS[name]), "report" if name == "report" else "baseline") is None


# Examples per seed. diff compares a clean baseline with the mutated document, so that only
# the mutated document pays for the growth fits (a report's runs are summarised when read).
EXAMPLES = {"baseline": 130, "report": 100, "example": 50}


@pytest.mark.calibration
@pytest.mark.parametrize("seed_name", sorted(SEEDS))
def test_mutated_documents_are_read_or_refused_cleanly(seed_name: str, workdir: Path) -> None:
    other = "baseline"

    @settings(SETTINGS, max_examples=EXAMPLES[seed_name])
    @given(st.lists(MUTATIONS, min_size=1, max_size=3), TEXT_OPS)
    def fuzz(mutations: list[Mutation], text_op: tuple[str, Any] | None) -> None:
        assert check_document(seed_name, mutations, text_op, other, workdir) == []

    fuzz()


# --- config values ---------------------------------------------------------------------------

TRICKY_TEXT = [
    "nan",
    "inf",
    "-inf",
    "1e999",
    "1e300 TiB",
    "0",
    "0 B",
    "-1",
    "0%",
    "nan%",
    "150%",
    "auto",
    "off",
    "true",
    "",
    "  ",
    "{python.x}",
    "{python[0]}",
    "a\0b",
    "9" * 5000,
    "1_000",
    "10s",
    "nan s",
]
CONFIG_VALUES = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.text(max_size=12),
    st.integers(),
    st.sampled_from([10**400, 10**12, 2**63, -(2**63), 0, 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=6), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
SOURCES = st.sampled_from(["cli", "pyproject", "ini"])


def _sane(config: GateConfig) -> list[str]:
    """What a resolved config must never hold, whatever it was given."""
    bad = []
    for name in ("alpha", "peak_tolerance", "rss_peak_tolerance"):
        if not math.isfinite(getattr(config, name)):
            bad.append(name)
    for name in ("peak_min_bytes", "growth_tolerance", "rss_peak_min_bytes", "rss_growth_tolerance"):
        if not 0 <= getattr(config, name) <= INT64:
            bad.append(name)
    for name in ("min_runs", "runs", "baseline_runs", "max_runs"):
        if not 1 <= getattr(config, name) <= 1000:
            bad.append(name)
    timeout = config.timeout
    if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= 7 * 24 * 3600):
        bad.append("timeout")
    if config.memory_limit is not None and not MiB <= config.memory_limit <= INT64:
        bad.append("memory_limit")
    cap = config.hard_cap
    if isinstance(cap, float) and not 0 < cap <= 1:
        bad.append("hard_cap")
    if isinstance(cap, int) and not MiB <= cap <= INT64:
        bad.append("hard_cap")
    for name in ("baseline", "report"):
        path = getattr(config, name)
        if path is not None and "\0" in str(path):
            bad.append(name)
    return bad


def resolve(given: dict[str, tuple[str, Any]]) -> GateConfig | None:
    """``resolve_config`` on ``given`` (key -> (source, value)); None for a ConfigError.
    Command line and ini values arrive as text, as pytest hands them over."""
    sources: dict[str, dict[str, Any]] = {"cli": {}, "pyproject": {}, "ini": {}}
    for key, (source, value) in given.items():
        text_only = source != "pyproject"
        sources[source][key] = value if not text_only or isinstance(value, str) else str(value)
    try:
        return resolve_config(
            sources["cli"],
            sources["pyproject"],
            sources["ini"],
            rootdir=Path("/project"),
            pyproject_path=None,
        )
    except ConfigError as exc:
        assert str(exc).startswith("memgate:"), exc
        assert len(str(exc).splitlines()) == 1, exc
        return None


@pytest.mark.calibration
@settings(SETTINGS, max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(sorted(OPTIONS_BY_KEY)), st.tuples(SOURCES, CONFIG_VALUES), min_size=1, max_size=3
    )
)
def test_config_values_resolve_or_are_config_errors(given_values: dict[str, tuple[str, Any]]) -> None:
    config = resolve(given_values)
    if config is not None:
        assert _sane(config) == [], (given_values, _sane(config))


MARKER_VALUES = st.one_of(
    CONFIG_VALUES,
    st.lists(st.one_of(st.integers(), st.sampled_from([10**400, 2**63, True])), max_size=4),
)


@pytest.mark.calibration
@settings(SETTINGS, max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "iterations",
                "warmup",
                "max_peak",
                "max_growth",
                "max_rss",
                "timeout",
                "sizes",
                "production_size",
                "max_exponent",
                "native_traces",
            ]
        ),
        MARKER_VALUES,
        min_size=1,
        max_size=3,
    )
)
def test_marker_arguments_parse_or_are_config_errors(kwargs: dict[str, Any]) -> None:
    try:
        spec = parse_marker("tests/test_x.py::test_y", (), kwargs)
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert 5 <= spec.iterations <= 1_000_000 and 0 <= spec.warmup <= 1_000_000
    if spec.timeout is not None:
        assert math.isfinite(spec.timeout) and spec.timeout > 0
    for budget in (spec.max_peak, spec.max_rss, spec.max_growth):
        assert budget is None or (math.isfinite(budget) and 0 <= budget <= INT64)
    assert all(0 < n <= INT64 for n in spec.sizes)
