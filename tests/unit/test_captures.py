"""Kept captures and flame graphs without a real run: where captures go, what a failing
renderer leaves (a warning and a report without the link), and texts cut of the machine's paths.
The end-to-end checks with real memray runs are in tests/integration/test_outputs.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pytest_memgate.backends import memray as memray_backend
from pytest_memgate.captures import (
    CAPTURE_NAME,
    CaptureKeeper,
    render_flamegraphs,
    safe_name,
    without_machine_paths,
)
from pytest_memgate.child import raised_text
from pytest_memgate.config import GateConfig
from pytest_memgate.marker import ScenarioSpec
from pytest_memgate.outputs import kept_paths, write_flamegraphs, write_outputs
from pytest_memgate.results import Outcome, ScenarioResult, Verdict

LEAK = "tests/test_app.py::test_cache[n=1000]"
FLAT = "tests/test_app.py::test_flat"


def test_scenario_file_names_are_safe_and_distinct() -> None:
    names = {safe_name(n) for n in (LEAK, FLAT, "t.py::test_x[a/b]", "t.py::test_x[a_b]", "../../etc")}
    assert len(names) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9._=-]+", name) and not name.startswith(".") for name in names)


def test_the_backend_leaves_its_capture_where_the_runner_looks() -> None:
    assert memray_backend.CAPTURE_NAME == CAPTURE_NAME


def test_without_a_keep_dir_only_a_regression_keeps_its_capture(tmp_path: Path) -> None:
    keeper = CaptureKeeper.from_config(GateConfig(html=Path("out/r.html"), rootdir=tmp_path))
    assert keeper is not None and keeper.keep_dir is None
    assert keeper.flame_dir == tmp_path / "out" / "r-flamegraphs"
    passed = keeper.staging(FLAT)
    passed.write_bytes(b"capture")
    assert keeper.settle(passed, regressed=False) is None
    assert not passed.parent.exists()  # the temporary directory went with it
    regressed = keeper.staging(LEAK)
    regressed.write_bytes(b"capture")
    kept = keeper.settle(regressed, regressed=True)
    assert kept == str(tmp_path / "out" / "r-flamegraphs" / f"{safe_name(LEAK)}.bin")
    assert Path(kept).read_bytes() == b"capture" and not regressed.parent.exists()
    never_ran = keeper.staging(FLAT)  # every run failed: nothing to keep, nothing left behind
    assert keeper.settle(never_ran, regressed=True) is None and not never_ran.parent.exists()


def test_a_keep_dir_keeps_every_scenario_and_no_stale_capture(tmp_path: Path) -> None:
    assert CaptureKeeper.from_config(GateConfig(rootdir=tmp_path)) is None  # nothing asked for
    keeper = CaptureKeeper.from_config(GateConfig(keep_captures=Path("caps"), rootdir=tmp_path))
    assert keeper is not None and keeper.flame_dir is None
    staged = keeper.staging(FLAT)
    assert staged.parent == tmp_path / "caps"
    staged.parent.mkdir()
    staged.write_bytes(b"this session's")
    assert keeper.settle(staged, regressed=False) == str(staged)
    again = keeper.staging(FLAT)  # the next session's runs all fail: the old capture is not theirs
    assert not again.exists() and keeper.settle(again, regressed=False) is None


def test_a_capture_rides_with_its_result_to_the_controller() -> None:
    result = ScenarioResult(FLAT, ScenarioSpec(), "memray", (), (), Verdict(Outcome.NEW), capture="/x/c.bin")
    assert ScenarioResult.from_dict(result.to_dict()).capture == "/x/c.bin"
    assert ScenarioResult.from_dict({**result.to_dict(), "capture": None}).capture is None


def test_a_flame_graph_that_cannot_be_rendered_is_a_warning_and_the_report_is_written(
    tmp_path: Path,
) -> None:
    config = GateConfig(html=Path("out/r.html"), report=Path("out/r.json"), rootdir=tmp_path)
    corrupt = tmp_path / "out" / "r-flamegraphs" / "leak.bin"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a memray capture")
    rendered, files, warnings = write_flamegraphs(
        config, {LEAK: str(corrupt), FLAT: str(tmp_path / "gone.bin")}, {LEAK}
    )
    assert rendered == {} and files == []
    assert len(warnings) == 2
    assert all(w.startswith("memgate: warning: no flame graph for ") for w in warnings)
    assert all("the HTML report was written without its link" in w for w in warnings)
    assert any(LEAK in w and "memray flamegraph failed" in w for w in warnings)
    assert any(FLAT in w and "capture is gone" in w for w in warnings)
    assert all(str(tmp_path) not in w for w in warnings)
    assert kept_paths(config, str(corrupt), None) == ("out/r-flamegraphs/leak.bin", None)
    document = {"scenarios": [{"id": LEAK, "verdict": "regression", "reasons": ["growth"], "runs": 2}]}
    written, errors = write_outputs(config, document, {}, flamegraphs={})
    assert errors == [] and [what for what, _ in written] == ["report", "html"]
    page = (tmp_path / "out" / "r.html").read_text()
    assert LEAK in page and 'class="flame"' not in page


def test_a_renderer_that_fails_to_start_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = tmp_path / "c.bin"
    capture.write_bytes(b"x")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    rendered, warnings = render_flamegraphs({FLAT: (str(capture), False)}, tmp_path / "fg", tmp_path)
    assert rendered == {} and "memray could not be started" in warnings[0]
    assert not (tmp_path / "fg").exists()


def test_texts_lose_the_paths_of_the_machine(tmp_path: Path) -> None:
    import json

    stdlib_file = json.__file__
    text = f"{tmp_path}/app/x.py; {stdlib_file}; {sys.prefix}/bin/tool; {Path.home()}/notes.txt"
    cut = without_machine_paths(text, tmp_path)
    assert cut == "app/x.py; json/__init__.py; <external>/bin/tool; ~/notes.txt"


def test_a_raised_scenario_s_traceback_names_files_as_the_project_sees_them(tmp_path: Path) -> None:
    source = tmp_path / "app" / "loader.py"
    source.parent.mkdir()
    source.write_text("def load(path):\n    return open(path)\n")
    namespace: dict[str, object] = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    try:
        try:
            namespace["load"](str(tmp_path / "data" / "input.json"))  # type: ignore[operator]
        except OSError as exc:
            raise RuntimeError("loading failed") from exc
    except RuntimeError as exc:
        text = raised_text(exc, str(tmp_path))
    assert text.startswith("RuntimeError: loading failed")
    assert 'File "app/loader.py", line 2, in load' in text
    assert "'data/input.json'" in text  # the message of the cause, cut too
    assert str(tmp_path) not in text and sys.prefix not in text
