from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_memgate.baseline import (
    BaselineEntry,
    load_baseline,
    parse_baseline,
    render_baseline,
    update_baseline,
)
from pytest_memgate.errors import BaselineError
from pytest_memgate.files import MAX_DOCUMENT_BYTES
from pytest_memgate.model import AllocSite, RunSummary
from pytest_memgate.validate import InvalidValue


def entry(peak: int = 10_000_000, growth: float = 0.0) -> BaselineEntry:
    runs = tuple(RunSummary(peak + i, 20_000_000, growth + 0.1234567 * i, 1.5, 100.0, 40.0) for i in range(3))
    site = AllocSite("handler", "app/api.py", 12, peak, 40, (("handler", "app/api.py", 12),))
    return BaselineEntry("memray", runs, {"iterations": 50}, {"commit": "abc"}, {}, (site,), ())


def test_round_trip_and_stable_text(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::b": entry(), "t::a": entry(5_000_000)}, "0.1")
    text = path.read_text()
    loaded = load_baseline(path)
    assert set(loaded.entries) == {"t::a", "t::b"}
    assert loaded.entries["t::a"].runs[0].peak_heap_bytes == 5_000_000
    assert loaded.entries["t::b"].peak_sites[0].location == "handler at app/api.py:12"
    # Rendering what was loaded gives the same text: diffs show only real changes.
    assert render_baseline(loaded.entries, "0.1") == text
    assert text.index('"t::a"') < text.index('"t::b"')
    assert '"heap_growth": 0.123' in text  # floats rounded for readable diffs


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "none.json").entries == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"scenarios": {', "is not valid JSON (line 1"),
        ("[]", "is not a memgate baseline"),
        ('{"schema_version": 99, "scenarios": {}}', "schema_version 99"),
        ('{"schema_version": 1, "scenarios": {"t": {"runs": []}}}', "scenario 't' is malformed"),
    ],
)
def test_corrupt_baseline_errors_say_what_to_do(text: str, message: str) -> None:
    with pytest.raises(BaselineError) as info:
        parse_baseline(text, Path("b.json"))
    assert message in str(info.value)


def test_update_never_overwrites_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("not json")
    with pytest.raises(BaselineError, match="left untouched"):
        update_baseline(path, {"t::a": entry()}, "0.1")
    assert path.read_text() == "not json"


def test_update_merges_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry(), "t::b": entry()}, "0.1")
    update_baseline(path, {"t::c": entry()}, "0.1", remove=("t::a",))
    assert set(load_baseline(path).entries) == {"t::b", "t::c"}


def _python(code: str, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)])


def test_a_write_killed_midway_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry()}, "0.1")
    before = path.read_text()
    # The writer is SIGKILLed after the new text is written but before it is renamed.
    code = f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pytest_memgate import baseline
        from test_baseline import entry
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        baseline.update_baseline(Path(sys.argv[1]), {{"t::b": entry(1)}}, "0.2")
    """
    killed = _python(code, path)
    assert killed.wait(timeout=60) == -9
    assert path.read_text() == before
    assert set(load_baseline(path).entries) == {"t::a"}


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    code = f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pytest_memgate import baseline
        from test_baseline import entry
        prefix = sys.argv[2]
        for i in range(25):
            baseline.update_baseline(Path(sys.argv[1]), {{f"{{prefix}}::{{i}}": entry(i + 1)}}, "0.1")
    """
    writers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path), name])
        for name in ("left", "right")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    names = set(load_baseline(path).entries)
    assert names == {f"{p}::{i}" for p in ("left", "right") for i in range(25)}
    json.loads(path.read_text())


@pytest.mark.parametrize(
    ("environ", "name", "source"),
    [
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"},
            "main",
            "GitHub Actions GITHUB_REF_NAME",
        ),
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_HEAD_REF": "feat/x", "GITHUB_REF_NAME": "9/merge"},
            "feat/x",
            "GitHub Actions GITHUB_HEAD_REF",
        ),
        (
            {"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "release/1.2"},
            "release/1.2",
            "GitLab CI CI_COMMIT_BRANCH",
        ),
        (
            {"GITLAB_CI": "true", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix", "CI_COMMIT_BRANCH": "main"},
            "fix",
            "GitLab CI CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        ),
        ({"BUILDKITE": "true", "BUILDKITE_BRANCH": "main"}, "main", "Buildkite BUILDKITE_BRANCH"),
        ({"CIRCLECI": "true", "CIRCLE_BRANCH": "dev"}, "dev", "CircleCI CIRCLE_BRANCH"),
        ({"JENKINS_URL": "http://ci", "GIT_BRANCH": "origin/main"}, "main", "Jenkins GIT_BRANCH"),
        (
            {"JENKINS_URL": "http://ci", "CHANGE_BRANCH": "pr-7", "BRANCH_NAME": "PR-7"},
            "pr-7",
            "Jenkins CHANGE_BRANCH",
        ),
    ],
)
def test_branch_from_ci_variables(environ: dict[str, str], name: str, source: str, tmp_path: Path) -> None:
    from pytest_memgate.branches import current_branch

    branch = current_branch(tmp_path, environ)
    assert (branch.name, branch.source) == (name, source)


def test_branch_globs() -> None:
    from pytest_memgate.branches import matching_glob

    assert matching_glob("release/2.1", ["main", "release/*"]) == "release/*"
    assert matching_glob("main", ["main", "release/*"]) == "main"
    assert matching_glob("mainline", ["main"]) is None
    assert matching_glob(None, ["*"]) is None


def test_no_branch_outside_git_and_ci(tmp_path: Path) -> None:
    from pytest_memgate.branches import current_branch

    assert current_branch(tmp_path, {}).name is None


def test_baseline_file_is_readable_by_the_team(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "b.json"
    update_baseline(path, {"t::a": entry()}, "0.1")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# --- never blind: every figure read from a baseline is checked -----------------------------

FIX = (
    "restore it from git, or run pytest --memgate --memgate-update to move it aside and record "
    "afresh; the file was left untouched"
)
CLEAN_RUN = {
    "heap_growth": 1.0,
    "heap_growth_se": 2.0,
    "peak_heap_bytes": 10_000_000,
    "peak_rss_bytes": 20_000_000,
    "rss_growth": 10.0,
    "rss_growth_se": 50.0,
}


def baseline_text(run: dict[str, str], entry: dict[str, str] | None = None) -> str:
    """A six-run baseline whose run 3 has ``run``'s raw JSON values, and whose entry has
    ``entry``'s (any text at all, so that what json.dumps cannot write can be tried)."""
    raw_runs = []
    for i in range(6):
        values = {k: json.dumps(v + i if isinstance(v, int) else v) for k, v in CLEAN_RUN.items()}
        if i == 3:
            values.update(run)
        raw_runs.append("{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}")
    fields = {"backend": '"memray"', "runs": "[" + ", ".join(raw_runs) + "]"}
    fields.update(entry or {})
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    return '{"schema_version": 1, "memgate_version": "0.1", "scenarios": {"t.py::test_a": {' + body + "}}}"


def test_baseline_text_helper_is_valid() -> None:
    entry = parse_baseline(baseline_text({}), Path("b.json")).entries["t.py::test_a"]
    assert len(entry.runs) == 6 and entry.runs[3].heap_growth == 1.0


@pytest.mark.parametrize(
    ("run", "key", "problem"),
    [
        ({"heap_growth": "NaN"}, "runs[3].heap_growth", "NaN"),
        ({"heap_growth": "Infinity"}, "runs[3].heap_growth", "Infinity"),
        ({"heap_growth": "1e999"}, "runs[3].heap_growth", "1e999"),  # Python's json reads inf
        ({"rss_growth": "-1e999"}, "runs[3].rss_growth", "-Infinity"),
        ({"heap_growth": "1" + "0" * 400}, "runs[3].heap_growth", "past the range of a float"),
        ({"peak_heap_bytes": "1" + "0" * 30}, "runs[3].peak_heap_bytes", "beyond any 64-bit"),
        ({"peak_heap_bytes": "-5"}, "runs[3].peak_heap_bytes", "cannot be negative"),
        ({"heap_growth_se": "-1.5"}, "runs[3].heap_growth_se", "cannot be negative"),
        ({"peak_heap_bytes": '"123"'}, "runs[3].peak_heap_bytes", "'123', not a number"),
        ({"heap_growth": '"1.5"'}, "runs[3].heap_growth", "not a number"),
        ({"heap_growth": "true"}, "runs[3].heap_growth", "a boolean"),
        ({"peak_rss_bytes": "false"}, "runs[3].peak_rss_bytes", "a boolean"),
        ({"peak_heap_bytes": "1.5"}, "runs[3].peak_heap_bytes", "not a whole number"),
        ({"peak_heap_bytes": "null"}, "runs[3].peak_heap_bytes", "null, not a number"),
        ({"rss_growth_se": "[1]"}, "runs[3].rss_growth_se", "a list, not a number"),
        ({"peak_heap_bytes": "0", "heap_growth": "100.0"}, "runs[3].peak_heap_bytes", "cannot have grown"),
    ],
)
def test_a_bad_figure_in_one_run_is_an_error_naming_file_scenario_and_key(
    run: dict[str, str], key: str, problem: str
) -> None:
    """Before, most of these were read as numbers (or crashed with OverflowError); the
    non-finite ones switched a comparison off."""
    with pytest.raises(BaselineError) as info:
        parse_baseline(baseline_text(run), Path(".memgate/b.json"))
    message = str(info.value)
    assert ".memgate/b.json" in message
    assert problem in message
    assert FIX in message
    assert len(message.splitlines()) == 1
    if "Infinity" not in problem and "NaN" not in problem and "1e999" not in problem:
        assert "scenario 't.py::test_a'" in message and key in message, message
    else:  # refused while decoding, which names the place as a path
        assert 'scenarios["t.py::test_a"].' + key in message, message


def test_a_missing_run_figure_names_its_key() -> None:
    text = baseline_text({}).replace('"rss_growth": 10.0, ', "", 1)
    with pytest.raises(
        BaselineError, match=r"scenario 't.py::test_a' is malformed: runs\[0\].rss_growth is missing"
    ):
        parse_baseline(text, Path("b.json"))


def test_a_zero_heap_peak_is_accepted_when_nothing_grew() -> None:
    """A scenario that allocates nothing has a heap peak of 0 (the statistics compare it with
    an offset); only a heap that also grew is impossible."""
    text = baseline_text({"peak_heap_bytes": "0", "heap_growth": "0.0"})
    assert parse_baseline(text, Path("b.json")).entries["t.py::test_a"].runs[3].peak_heap_bytes == 0
    # RSS levels are relative to the RSS at the run's start and may end below it.
    text = baseline_text({"peak_rss_bytes": "-4096"})
    assert parse_baseline(text, Path("b.json")).entries["t.py::test_a"].runs[3].peak_rss_bytes == -4096


def site_list(**raw: str) -> str:
    fields = {"function": '"f"', "filename": '"a.py"', "lineno": "1", "size_bytes": "1", "count": "1"}
    fields.update(raw)
    return "[{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}]"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"runs": "[]"}, "runs is an empty list"),
        ({"runs": "{}"}, "runs is an object, not a list"),
        ({"runs": "null"}, "runs is null, not a list"),
        ({"backend": "5"}, "backend is 5, not text"),
        ({"backend": '""'}, "backend is empty"),
        ({"spec": "[]"}, "spec is a list, not an object"),
        ({"spec": '{"trace_python_allocators": "false"}'}, "spec.trace_python_allocators is 'false'"),
        ({"environment": '{"packages": ["numpy"]}'}, "environment.packages is a list"),
        ({"environment": '{"python": ["3.11"]}'}, "environment.python is a list"),
        ({"recorded": '"yesterday"'}, "recorded is 'yesterday', not an object"),
        ({"peak_sites": site_list(size_bytes="-1")}, "peak_sites[0].size_bytes is -1"),
        ({"peak_sites": site_list(stack='[["f", "a.py"]]')}, "peak_sites[0].stack[0] has 2 items"),
        ({"retained_sites": site_list(function="7")}, "retained_sites[0].function is 7, not text"),
        ({"retained_sites": site_list(count="2.5")}, "retained_sites[0].count is 2.5, not a whole number"),
    ],
)
def test_a_bad_entry_field_is_an_error_naming_it(entry: dict[str, str], problem: str) -> None:
    with pytest.raises(BaselineError) as info:
        parse_baseline(baseline_text({}, entry), Path("b.json"))
    assert "scenario 't.py::test_a' is malformed: " + problem in str(info.value)
    assert FIX in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"schema_version": 1, "scenarios": []}', "'scenarios' is a list, not an object"),
        ('{"schema_version": 1, "scenarios": null}', "'scenarios' is null, not an object"),
        ('{"schema_version": 1, "scenarios": "x"}', "'scenarios' is 'x', not an object"),
        ('{"schema_version": true, "scenarios": {}}', "schema_version true (a boolean)"),
        ('{"schema_version": 1, "memgate_version": [1], "scenarios": {}}', "memgate_version is a list"),
        ('{"schema_version": 1, "scenarios": {}, "scenarios": {}}', "duplicate key 'scenarios'"),
        ('{"schema_version": 1, "scenarios": {"a": ' + "[" * 200 + "]" * 200 + "}}", "nests more than 64"),
        ('{"schema_version": 1, "scenarios": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}", "nests deeper"),
    ],
)
def test_a_bad_document_is_an_error(text: str, problem: str) -> None:
    with pytest.raises(BaselineError) as info:
        parse_baseline(text, Path("b.json"))
    assert problem in str(info.value)
    assert "b.json" in str(info.value)


def leaking_runs() -> tuple[RunSummary, ...]:
    """Two runs of a 16 KiB/call heap leak whose peak stayed put: only the growth check sees it."""
    return tuple(
        RunSummary(10_000_000 + i, 20_000_000 + 4096 * i, 16384.0 + i, 2.0, 10.0, 50.0) for i in range(2)
    )


def verdict_against(baseline_runs: tuple[RunSummary, ...]) -> str:
    from pytest_memgate.config import GateConfig
    from pytest_memgate.marker import ScenarioSpec
    from pytest_memgate.verdict import Policy, decide

    policy = Policy.from_config(GateConfig(), tests=4)
    return decide(leaking_runs(), baseline_runs, ScenarioSpec(), policy).outcome.value


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_one_non_finite_growth_in_six_runs_is_an_error_not_a_passing_leak(bad: str) -> None:
    """Issue 13: one non-finite heap_growth among six clean baseline runs switched the growth
    comparison off, so a 16 KiB/call leak passed (1e999, which Python's json reads as
    infinity, reached the statistics and made the leak 'inconclusive', which passes)."""
    clean = parse_baseline(baseline_text({}), Path("b.json")).entries["t.py::test_a"]
    assert verdict_against(clean.runs) == "regression"
    with pytest.raises(BaselineError, match=r"runs\[3\]\.heap_growth"):
        parse_baseline(baseline_text({"heap_growth": bad}), Path("b.json"))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**400, "1.5", True, None])
def test_non_finite_growth_from_any_path_is_refused(bad: object) -> None:
    """Payloads that never went through a JSON file (xdist workers, a child's record) are
    checked by the same constructors: NaN here used to make the same leak pass."""
    runs: list[dict[str, object]] = [dict(CLEAN_RUN, peak_heap_bytes=10_000_000 + i) for i in range(6)]
    runs[3]["heap_growth"] = bad
    raw = {"backend": "memray", "runs": runs}
    with pytest.raises(ValueError, match=r"runs\[3\]\.heap_growth") as info:
        BaselineEntry.from_dict(raw)
    assert isinstance(info.value, InvalidValue)


def test_parse_baseline_round_trips_what_the_gate_writes() -> None:
    entries = {
        "t::a": entry(),
        "t::zero": BaselineEntry("memray", (RunSummary(0, -4096, 0.0, 0.0, -3.5, 1.0),)),
    }
    text = render_baseline(entries, "0.1")
    assert render_baseline(parse_baseline(text, Path("b.json")).entries, "0.1") == text


# --- baseline paths --------------------------------------------------------------------------

FINGERPRINT = {
    "python": "3.11.7",
    "implementation": "CPython",
    "platform": "linux",
    "machine": "x86_64",
    "backend": "memray",
}


def test_placeholders_expand() -> None:
    from pytest_memgate.environment import expand_baseline_path

    path = expand_baseline_path(
        Path(".memgate/{python}-{implementation}-{platform}-{machine}-{backend}.json"), FINGERPRINT
    )
    assert path == Path(".memgate/3.11-cpython-linux-x86_64-memray.json")
    assert expand_baseline_path(Path(".memgate/{{literal}}-{python}.json"), FINGERPRINT) == Path(
        ".memgate/{literal}-3.11.json"
    )
    assert expand_baseline_path(Path(".memgate/b.json"), FINGERPRINT) == Path(".memgate/b.json")


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{python.x}", "'{python.x}'"),  # str.format followed the attribute
        ("{python[x]}", "'{python[x]}'"),  # TypeError escaped as a traceback
        ("{python.__class__}", "'{python.__class__}'"),  # silently became "<class 'str'>"
        ("{python[0]}", "'{python[0]}'"),  # silently became "3"
        ("{python!r}", "'{python!r}'"),
        ("{python:>10}", "'{python:>10}'"),
        ("{pyhton}", "'{pyhton}'"),
        ("{}", "'{}'"),
        ("{0}", "'{0}'"),
        ("{python", "not a valid template"),
        ("x}{python}", "not a valid template"),
    ],
)
def test_a_bad_placeholder_is_a_clean_error_naming_it_and_the_valid_ones(template: str, named: str) -> None:
    from pytest_memgate.config import resolve_config
    from pytest_memgate.environment import expand_baseline_path
    from pytest_memgate.errors import ConfigError

    with pytest.raises(BaselineError) as info:
        expand_baseline_path(Path(f".memgate/{template}.json"), FINGERPRINT)
    message = str(info.value)
    assert named in message
    assert "{python}, {implementation}, {platform}, {machine}, {backend}" in message
    # ... and the same template is refused when the configuration is read, before any run.
    with pytest.raises(ConfigError) as config_info:
        resolve_config({}, {"baseline": f".memgate/{template}.json"}, {}, rootdir=Path("/project"))
    assert named in str(config_info.value)


def test_a_baseline_path_with_a_nul_byte_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="NUL byte"):
        load_baseline(tmp_path / "b\0.json")


# --- files that are traps ----------------------------------------------------------------------


def trap(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "baseline.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "oversize":
        with path.open("wb") as handle:  # sparse: no disk used
            handle.truncate(MAX_DOCUMENT_BYTES + 1)
    return path


TRAPS = ["fifo", "dev-zero", "directory", "oversize"]


@pytest.mark.parametrize("kind", TRAPS)
def test_a_trap_baseline_is_refused_not_read(tmp_path: Path, kind: str) -> None:
    """A FIFO would block the read forever, /dev/zero would be read until memory runs out."""
    path = trap(tmp_path, kind)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    message = str(info.value)
    assert str(path) in message
    assert ("not a regular file" in message) or ("more than any memgate file" in message)


@pytest.mark.parametrize("kind", TRAPS)
def test_memgate_show_refuses_a_trap_in_one_line(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_memgate.cli import main

    path = trap(tmp_path, kind)
    assert main(["show", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(path) in err
    assert "Traceback" not in err


def test_a_planted_lock_symlink_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    """The lock file is opened without following links: a link planted at ``b.json.lock``
    must not make the gate create (or truncate) a file elsewhere."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "created-by-memgate"
    project = tmp_path / "project" / ".memgate"
    project.mkdir(parents=True)
    path = project / "b.json"
    (project / "b.json.lock").symlink_to(target)
    with pytest.raises(BaselineError) as info:
        update_baseline(path, {"t::a": entry()}, "0.1")
    message = str(info.value)
    assert "b.json.lock" in message and "symbolic link" in message
    assert len(message.splitlines()) == 1
    assert not target.exists()
    assert not path.exists()
    assert list(outside.iterdir()) == []


def test_a_lock_path_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    os.mkfifo(tmp_path / "b.json.lock")
    with pytest.raises(BaselineError, match="not a regular file"):
        update_baseline(path, {"t::a": entry()}, "0.1")
    assert not path.exists()


# --- run records: what a measuring child, a report or an xdist worker hands over ----------------


def a_record() -> dict[str, object]:
    from pytest_memgate.model import RunRecord, RunStatus

    record = RunRecord(
        RunStatus.OK,
        "memray",
        warmup=2,
        iterations=4,
        peak_heap_bytes=4096,
        peak_rss_bytes=-8192,  # RSS may end below where the run began
        heap_floor_bytes=(0, 1024, 1024, 2048, 2048),
        rss_floor_bytes=(0, -4096, -4096, -8192, -8192),
        timeline=((0.0, 0, 0), (0.5, 4096, -8192)),
        peak_sites=(AllocSite("f", "a.py", 3, 4096, 2, (("f", "a.py", 3),)),),
        measured_s=0.5,
        wall_s=1.0,
        limitations=("cannot see native memory",),
    )
    return record.to_dict()


def test_a_record_round_trips() -> None:
    from pytest_memgate.model import RunRecord

    data = a_record()
    assert RunRecord.from_dict(data).to_dict() == data
    failed = {"status": "crashed", "backend": "memray", "error": "crashed with signal SIGSEGV"}
    assert RunRecord.from_dict(failed).peak_heap_bytes == 0


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("status", "exploded", "status is 'exploded', not one of ok, raised"),
        ("status", None, "status is null, not text"),
        ("peak_heap_bytes", -1, "peak_heap_bytes is -1; it cannot be negative"),
        ("peak_heap_bytes", math.nan, "peak_heap_bytes is NaN, not a finite number"),
        ("heap_floor_bytes", [0, True], "heap_floor_bytes[1] is true (a boolean), not a number"),
        ("rss_floor_bytes", "0123", "rss_floor_bytes is '0123', not a list"),  # was read digit by digit
        ("timeline", [[0.0, 1, 2], [-(2**63) - 1, 1, 2]], "timeline[1][0] is -9223372036854775809, beyond"),
        ("timeline", [[0.0, 1]], "timeline[0] has 2 items"),
        ("measured_s", math.inf, "measured_s is Infinity"),
        ("wall_s", -1.0, "wall_s is -1.0; it cannot be negative"),
        ("warmup", "10", "warmup is '10', not a number"),
        ("limitations", [1], "limitations[0] is 1, not text"),
        ("peak_sites", [{"function": "f"}], "peak_sites[0].filename is missing"),
    ],
)
def test_a_bad_record_field_is_refused_by_key(field: str, value: object, problem: str) -> None:
    from pytest_memgate.model import RunRecord

    data = a_record()
    data[field] = value
    with pytest.raises(InvalidValue) as info:
        RunRecord.from_dict(data)
    assert problem in str(info.value)
    assert problem in repr(info.value)  # messages built with !r show the same words


def test_a_zero_heap_peak_under_a_rising_floor_is_refused() -> None:
    from pytest_memgate.model import RunRecord

    data = dict(a_record(), peak_heap_bytes=0)
    with pytest.raises(InvalidValue, match="peak_heap_bytes is 0 while the heap floor rose"):
        RunRecord.from_dict(data)
    flat = dict(data, heap_floor_bytes=[0, 0, 0, 0, 0])  # a scenario that allocated nothing
    assert RunRecord.from_dict(flat).peak_heap_bytes == 0


# --- figures no machine could have measured ---------------------------------------------------


def _baseline_with_peaks(peaks: list[int]) -> str:
    runs = [dict(CLEAN_RUN, peak_heap_bytes=peak) for peak in peaks]
    entry = {"backend": "memray", "runs": runs}
    return json.dumps({"schema_version": 1, "memgate_version": "0.1", "scenarios": {"t.py::test_a": entry}})


@pytest.mark.parametrize(
    ("peaks", "key", "problem"),
    [
        # One run at 10**15: the +50% peak that followed was "inconclusive" and passed.
        ([2 * 1024**2] * 5 + [10**15], "runs[5].peak_heap_bytes", "more than any 64-bit process"),
        # Every run at 2**63 - 1: the same +50% peak read as "improved".
        ([2**63 - 1] * 6, "runs[0].peak_heap_bytes", "more than any 64-bit process"),
        # Within the address space, but 50 000 times its siblings: an edit, not a run.
        ([2 * 1024**2] * 5 + [10**11], "runs[5].peak_heap_bytes", "times the median of the other runs"),
    ],
)
def test_impossible_figures_are_refused_naming_the_run_and_key(
    tmp_path: Path, peaks: list[int], key: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_memgate.cli import main

    path = tmp_path / "baseline.json"
    path.write_text(_baseline_with_peaks(peaks), encoding="utf-8")
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    message = str(info.value)
    assert "scenario 't.py::test_a'" in message and key in message and problem in message, message
    assert main(["show", str(path)]) == 2  # the edit is no longer invisible there either
    assert capsys.readouterr().err.strip() == message


def test_runs_that_agree_within_orders_of_magnitude_are_kept() -> None:
    """Real spread (a run that peaked at a few times its siblings) is the statistics' business."""
    peaks = [1024, 4096, 2 * 1024**2, 2 * 1024**2, 20 * 1024**2, 200 * 1024**2]
    entry = parse_baseline(_baseline_with_peaks(peaks), Path("b.json")).entries["t.py::test_a"]
    assert [r.peak_heap_bytes for r in entry.runs] == peaks
