"""Backend selection, allocation sites, and the tracemalloc fallback measured in-process."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

import pytest_memgate
import pytest_memgate.backends as backends
from pytest_memgate.backends import choose_backend, get_backend, janitor
from pytest_memgate.backends.sites import EXTERNAL, UNNAMED, make_sites, match_sites, short_path
from pytest_memgate.backends.tracemalloc import FunctionNames, TracemallocBackend
from pytest_memgate.errors import BackendUnavailable
from pytest_memgate.model import RunRecord, RunRequest, RunStatus

GATE = str(Path(pytest_memgate.__file__).resolve().parent)
LIB = os.sep.join(("", "venv", "lib", "python3.11", "site-packages"))
STDLIB = os.path.dirname(os.__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))  # as the module's code names it


# --- choosing a backend -------------------------------------------------------------------


def test_auto_falls_back_to_tracemalloc_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "memray_unavailable_reason", lambda: "memray cannot be imported (no)")
    choice = choose_backend("auto")
    assert choice.name == "tracemalloc"
    assert choice.reason == "fallback: memray cannot be imported (no)"


def test_memray_requested_where_it_cannot_run_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "memray_unavailable_reason", lambda: "memray does not support sunos5")
    with pytest.raises(BackendUnavailable, match="requested but memray does not support sunos5"):
        choose_backend("memray")


def test_tracemalloc_requested_needs_no_memray(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> str | None:
        raise AssertionError("memray was looked for")

    monkeypatch.setattr(backends, "memray_unavailable_reason", fail)
    assert choose_backend("tracemalloc").name == "tracemalloc"


def test_auto_picks_memray_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "memray_unavailable_reason", lambda: None)
    assert choose_backend("auto") == backends.BackendChoice("memray", "default")


def test_unknown_backend_name_is_an_error() -> None:
    with pytest.raises(BackendUnavailable, match="unknown backend 'heapy'"):
        get_backend("heapy")


# --- paths and sites ----------------------------------------------------------------------


@pytest.mark.parametrize("root", ["/proj", "/proj/"])
def test_short_path_is_relative_to_the_given_root(root: str) -> None:
    assert short_path("/proj/app/api.py", root) == "app/api.py"
    assert short_path("/project/app/api.py", root) == "<external>/api.py"  # a prefix, not the root
    assert short_path("/elsewhere/job.py", root) == "<external>/job.py"


def test_paths_outside_the_project_keep_nothing_of_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["", "/opt", "/opt/vendor", "relative/entry", "/"])
    assert short_path("/opt/vendor/acme/x.py", "/proj") == "<external>/acme/x.py"  # the nearest entry
    assert short_path("/opt/tool.py", "/proj") == "<external>/tool.py"
    assert short_path("/home/alice/tmp/x.py", "/proj") == "<external>/x.py"  # "/" is no entry to use
    assert short_path("/home/alice/tmp/x.py", "/") == "<external>/x.py"  # nor a project root
    assert short_path("<frozen runpy>", "/proj") == "<frozen runpy>"
    assert short_path("<string>", "/proj") == "<string>"


def test_short_path_sees_a_symlinked_root(tmp_path: Path) -> None:
    (tmp_path / "real" / "app").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert short_path(str(tmp_path / "real" / "app" / "api.py"), str(tmp_path / "link")) == "app/api.py"
    assert short_path(str(tmp_path / "link" / "app" / "api.py"), str(tmp_path / "real")) == "app/api.py"


def test_short_path_shortens_libraries_and_the_stdlib() -> None:
    assert short_path(f"{LIB}/requests/models.py", "/proj") == "requests/models.py"
    assert short_path(os.path.join(STDLIB, "json", "decoder.py"), "/proj") == "json/decoder.py"


def test_short_path_without_a_root_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert short_path(os.path.join(os.getcwd(), "app", "api.py"), None) == "app/api.py"


def test_make_sites_reports_the_users_line_without_the_gate_or_the_harness() -> None:
    stack = [
        ("loads", f"{LIB}/json5/lib.py", 10),
        ("handler", "/proj/app/api.py", 12),
        ("measure", f"{GATE}/backends/memray.py", 60),
        ("pytest_pyfunc_call", f"{LIB}/_pytest/python.py", 150),
    ]
    raw = [
        (stack, 1000, 2),
        (stack[1:], 500, 1),  # the same user line, allocated directly
        ([("other", "/proj/app/jobs.py", 3)], 200, 1),
        ([("settle", f"{GATE}/backends/calls.py", 9), *stack[1:]], 10**6, 1),  # the gate's own
        ([("measure", f"{GATE}/backends/memray.py", 60), stack[3]], 10**6, 1),  # gate and harness only
    ]
    sites = make_sites(raw, root="/proj", limit=10)
    assert [(s.function, s.filename, s.lineno, s.size_bytes, s.count) for s in sites] == [
        ("handler", "app/api.py", 12, 1500, 3),
        ("other", "app/jobs.py", 3, 200, 1),
    ]
    assert sites[0].stack == (("loads", "json5/lib.py", 10), ("handler", "app/api.py", 12))
    assert make_sites(raw, root="/proj", limit=1) == sites[:1]


def test_a_site_whose_line_moved_is_still_the_same_site() -> None:
    """A line added above a function moves every line in it by one: its sites are matched by
    file and function, each to the line moved by the same shift, never twice."""
    caller = ("test_cache", "tests/test_cache.py", 30)
    before = [
        ("quote", "shop/cache.py", 52, [("quote", "shop/cache.py", 52), caller]),
        ("quote", "shop/cache.py", 57, [("quote", "shop/cache.py", 57), caller]),
        ("load", "shop/db.py", 9, [("load", "shop/db.py", 9)]),
    ]
    after = [
        ("quote", "shop/cache.py", 58, [("quote", "shop/cache.py", 58), (caller[0], caller[1], 31)]),
        ("quote", "shop/cache.py", 53, [("quote", "shop/cache.py", 53), (caller[0], caller[1], 31)]),
        ("load", "shop/db.py", 9, [("load", "shop/db.py", 9)]),  # this file did not change
        ("render", "shop/cache.py", 90, []),  # a function the baseline never saw
        ("quote", "shop/cache.py", 70, []),  # a third site of quote: the baseline has no more
    ]
    assert match_sites(after, before) == [1, 0, 2, None, None]
    assert match_sites(after, []) == [None] * 5
    # a new, bigger line in the function does not take the moved line's place
    new_first = [("quote", "shop/cache.py", 61, []), ("quote", "shop/cache.py", 53, [])]
    assert match_sites(new_first, before[:1]) == [None, 0]
    # beside a line that stayed, another line of the function is new code, not a moved one
    assert match_sites([before[0], ("quote", "shop/cache.py", 60, [])], before[:2]) == [0, None]
    # a line added in the middle moves the lines below it together
    middle = [before[0], ("quote", "shop/cache.py", 58, []), ("quote", "shop/cache.py", 61, [])]
    assert match_sites(middle, [*before[:2], ("quote", "shop/cache.py", 60, [])]) == [0, 1, 2]


def test_the_same_line_wins_and_the_stack_breaks_ties() -> None:
    before = [
        ("make", "app.py", 10, [("make", "app.py", 10), ("from_api", "api.py", 4)]),
        ("make", "app.py", 12, [("make", "app.py", 12), ("from_cli", "cli.py", 8)]),
    ]
    assert match_sites([before[1], before[0]], before) == [1, 0]
    moved = [
        ("make", "app.py", 20, [("make", "app.py", 20), ("from_cli", "cli.py", 8)]),
        ("make", "app.py", 21, [("make", "app.py", 21), ("from_api", "api.py", 4)]),
    ]
    assert match_sites(moved, before) == [1, 0]  # by caller, not by order or distance


def test_no_site_or_stack_frame_carries_an_absolute_path() -> None:
    stack = [("load", "/home/alice/tmp/x.py", 4), ("handler", "/proj/app/api.py", 12)]
    (site,) = make_sites([(stack, 100, 1)], root="/proj", limit=5)
    assert (site.function, site.filename, site.lineno) == ("load", "<external>/x.py", 4)
    assert site.stack == (("load", "<external>/x.py", 4), ("handler", "app/api.py", 12))


def test_make_sites_names_only_the_frames_that_came_unnamed() -> None:
    asked: list[tuple[str, int]] = []

    def function_of(filename: str, lineno: int) -> str:
        asked.append((filename, lineno))
        return "named"

    raw = [
        ([(UNNAMED, "/proj/a.py", 1), ("known", "/proj/b.py", 2), (UNNAMED, f"{GATE}/runner.py", 3)], 8, 1)
    ]
    (site,) = make_sites(raw, root="/proj", limit=5, function_of=function_of)
    assert site.stack == (("named", "a.py", 1), ("known", "b.py", 2))
    assert asked == [("/proj/a.py", 1)]  # never about the gate's own frames


# --- the tracemalloc fallback -------------------------------------------------------------


def test_function_names_come_from_the_source(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        textwrap.dedent(
            """\
            CACHE = []


            def outer(items=[1]):
                data = [x for x in items]

                @staticmethod
                def inner():
                    return bytearray(10)

                return inner, data


            class Store:
                rows = []

                async def load(self): return [1]
            """
        )
    )
    names = FunctionNames()
    path = str(source)
    assert [names(path, n) for n in range(1, 18)] == [
        "<module>", "<module>", "<module>",
        "<module>",  # the signature's defaults run in the enclosing scope
        "outer", "outer",
        "outer", "outer",  # a nested function's decorator and signature run in its parent
        "inner",
        "outer", "outer",
        "<module>", "<module>",
        "<module>", "Store", "Store",
        "load",  # a one-line body shares the signature's line
    ]  # fmt: skip
    assert names(path, 0) == UNNAMED
    assert names(path, 400) == UNNAMED
    assert names(str(tmp_path / "gone.py"), 1) == UNNAMED
    assert names("<frozen importlib._bootstrap>", 5) == UNNAMED
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n")
    assert names(str(broken), 2) == UNNAMED


_KEPT: list[bytearray] = []


def grow_cache() -> None:
    _KEPT.append(bytearray(64 * 1024))


@pytest.mark.skipif(tracemalloc.is_tracing(), reason="tracemalloc is already tracing this process")
def test_tracemalloc_backend_names_the_retaining_function(tmp_path: Path) -> None:
    request = RunRequest(warmup=1, iterations=5, backend="tracemalloc", project_root=ROOT)
    try:
        record = TracemallocBackend().measure(grow_cache, request, tmp_path)
    finally:
        _KEPT.clear()
    assert record.status is RunStatus.OK
    assert len(record.heap_floor_bytes) == 6
    top = record.retained_sites[0]
    assert (top.function, top.filename) == ("grow_cache", "tests/unit/test_backends.py")
    assert top.size_bytes >= 5 * 64 * 1024
    assert top.stack[0] == ("grow_cache", "tests/unit/test_backends.py", top.lineno)
    assert record.peak_sites == ()
    assert any("heap peak" in limitation for limitation in record.limitations)


@pytest.mark.skipif(tracemalloc.is_tracing(), reason="tracemalloc is already tracing this process")
def test_code_outside_the_project_leaves_no_machine_path_in_the_record(tmp_path: Path) -> None:
    source = tmp_path / "helper_outside.py"
    source.write_text("KEPT = []\n\n\ndef hoard():\n    KEPT.append(bytearray(64 * 1024))\n")
    spec = importlib.util.spec_from_file_location("helper_outside", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    request = RunRequest(warmup=1, iterations=5, backend="tracemalloc", project_root=ROOT)
    record = TracemallocBackend().measure(module.hoard, request, tmp_path)
    top = record.retained_sites[0]
    assert (top.function, top.filename) == ("hoard", f"{EXTERNAL}/helper_outside.py")
    assert str(tmp_path) not in json.dumps(record.to_dict())


def test_limitations_travel_as_json_and_old_records_load() -> None:
    record = RunRecord(RunStatus.OK, "tracemalloc", limitations=("cannot show the peak",))
    assert RunRecord.from_dict(record.to_dict()) == record
    old = record.to_dict()
    del old["limitations"]
    assert RunRecord.from_dict(old).limitations == ()


# --- the janitor --------------------------------------------------------------------------


def test_the_janitor_cleans_up_what_a_vanished_pytest_process_did_not_release(tmp_path: Path) -> None:
    keeper = janitor._spawn()
    assert keeper is not None
    kept, released = tmp_path / "memgate-run-kept", tmp_path / "memgate-run-released"
    for directory in (kept, released):
        directory.mkdir()
        (directory / "capture.bin").write_bytes(b"x" * 100)
    group = subprocess.Popen(["sleep", "60"], start_new_session=True)
    released_group = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        keeper.watch_dir(kept)
        keeper.watch_dir(released)
        keeper.release_dir(released)
        keeper.watch_group(group.pid)
        keeper.watch_group(released_group.pid)
        keeper.release_group(released_group.pid)
        assert keeper.alive()
        keeper.close_inherited()  # the pipe closes, as it does when the pytest process is killed
        assert group.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        # alive() is False as soon as the pipe is closed: wait for the process itself
        while os.waitpid(keeper.pid, os.WNOHANG)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not keeper.alive()  # it exits once done
        assert not kept.exists()
        assert released.exists()
        assert released_group.poll() is None
    finally:
        group.kill()
        released_group.kill()
        group.wait()
        released_group.wait()


def test_one_janitor_per_process_and_a_new_one_when_it_is_gone() -> None:
    first = janitor.current()
    assert first is not None
    assert janitor.current() is first
    os.kill(first.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while first.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = janitor.current()
    assert second is not None and second is not first
    assert second.alive()


# --- memray's floor readings: too few, or contradicted by what the run kept, tell nothing ---


class _Snapshot:
    def __init__(self, time_ms: float, heap: int) -> None:
        self.time, self.heap, self.rss = time_ms, heap, 50 * 1024**2


class _Allocation:
    def __init__(self, size: int, count: int) -> None:
        self.size, self.n_allocations = size, count

    def stack_trace(self, max_stacks: int = 40) -> list[tuple[str, str, int]]:
        return [("handler", "app/cache.py", 12)]


class _Capture:
    """A memray capture as ``FileReader`` presents it: snapshots and allocation records."""

    def __init__(self, snapshots: list[_Snapshot], retained: list[_Allocation]) -> None:
        self.snapshots, self.retained = snapshots, retained
        self.metadata = type("Metadata", (), {"peak_memory": 400_000})()

    def __call__(self, path: str) -> _Capture:
        return self

    def get_memory_snapshots(self) -> list[_Snapshot]:
        return self.snapshots

    def get_high_watermark_allocation_records(self, merge_threads: bool) -> list[_Allocation]:
        return self.retained

    def get_leaked_allocation_records(self, merge_threads: bool) -> list[_Allocation]:
        return self.retained

    def close(self) -> None:
        pass


CALLS = 8
# Quiet windows of 3 ms every 10 ms (calls at 0..8), as the memray backend times them.
STARTS = [1000.0 + 10 * i for i in range(CALLS + 1)]
ENDS = [start + 3 for start in STARTS]


def _read(monkeypatch: pytest.MonkeyPatch, capture: _Capture) -> RunRecord:
    memray_backend = pytest.importorskip("pytest_memgate.backends.memray")
    monkeypatch.setattr(memray_backend, "FileReader", capture)
    request = RunRequest(warmup=1, iterations=CALLS, backend="memray")
    return memray_backend._read_capture(Path("capture.bin"), request, STARTS, ENDS, 0.1)


def test_a_single_memray_snapshot_is_no_information_not_a_flat_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen at load 5-7: one timeline point, an all-zero floor, 378 KB retained in 26
    allocations, and the run went through as flat, growth 0 +- 0."""
    capture = _Capture([_Snapshot(995, 0)], [_Allocation(378_000, 26)])
    with pytest.raises(RuntimeError, match=r"floor readings in 0 of the 9 quiet windows.*too few"):
        _read(monkeypatch, capture)


def test_floor_readings_that_miss_what_the_run_kept_are_no_information(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reading in every window, all flat, while the run kept 378 KB: the two disagree."""
    snapshots = [_Snapshot(start + 1, 0) for start in STARTS]
    with pytest.raises(RuntimeError, match=r"kept 369 KiB .* last floor reading shows 0 B"):
        _read(monkeypatch, _Capture(snapshots, [_Allocation(378_000, 26)]))


def test_floor_readings_across_the_calls_that_agree_with_the_kept_memory_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leak = 4096
    snapshots = [_Snapshot(start + 1, 20_000 + leak * i) for i, start in enumerate(STARTS)]
    del snapshots[2:5]  # a late sampler loses some readings; the rest still span the calls
    record = _read(monkeypatch, _Capture(snapshots, [_Allocation(20_000 + leak * CALLS, CALLS)]))
    assert record.heap_floor_bytes[0] == 20_000 and record.heap_floor_bytes[-1] == 20_000 + leak * CALLS
