"""Output files in odd places: a FIFO as the step summary, ``-o /dev/stdout``, a full disk
while keeping a capture, and output directories that lead out of the project by a link."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_memgate import captures
from pytest_memgate.captures import CaptureKeeper, check_output_dirs, safe_name
from pytest_memgate.config import GateConfig
from pytest_memgate.errors import ConfigError
from pytest_memgate.files import write_atomic
from pytest_memgate.outputs import write_outputs
from pytest_memgate.plugin import MemgateWarning

LEAK = "tests/test_app.py::test_cache"
DOCUMENT: dict[str, Any] = {"scenarios": [], "suite_size": 0}


def unblocked(fifo: Path, call: Callable[[], Any]) -> Any:
    """``call()`` in a thread, its result or its exception; if it is still blocked on ``fifo``
    after a while, a reader is opened to free it and the test fails: it must never wait."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        with open(fifo, "rb") as reader:
            reader.read()
        thread.join()
        pytest.fail(f"blocked on the FIFO {fifo}, which no process reads")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def test_a_fifo_as_the_step_summary_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "summary"
    os.mkfifo(fifo)
    config = GateConfig(rootdir=tmp_path)
    files, errors = unblocked(
        fifo, lambda: write_outputs(config, DOCUMENT, {"GITHUB_STEP_SUMMARY": str(fifo)})
    )
    assert files == []
    assert errors == [
        f"memgate: could not write the GitHub step summary {fifo}: it is a FIFO that no process "
        "reads; check the path, its permissions and the free space. The GitHub step summary was "
        "not written."
    ]


def test_output_to_a_device_or_a_read_fifo_is_written_through_the_link(tmp_path: Path) -> None:
    """``-o /dev/stdout``: /dev/stdout is a link to the stream; renaming a file over it would
    replace the link (as root, in /dev) with a regular file."""
    link = tmp_path / "stdout"
    link.symlink_to(os.devnull)
    write_atomic(link, "report\n")
    assert link.is_symlink() and os.readlink(link) == os.devnull and link.is_char_device()
    assert [p.name for p in tmp_path.iterdir()] == ["stdout"]  # no temporary file left
    fifo = tmp_path / "pipe"  # `memgate report ... -o /dev/stdout | less`
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, without waiting for a writer
    try:
        write_atomic(fifo, "report\n")
        assert os.read(reader, 100) == b"report\n"
    finally:
        os.close(reader)
    assert fifo.is_fifo()
    with pytest.raises(OSError, match="FIFO that no process reads"):  # and no hang
        unblocked(fifo, lambda: write_atomic(fifo, "report\n"))


def full_disk(src: str, dst: str) -> str:
    """shutil.move across file systems on a full disk: the target is created, then the copy fails."""
    Path(dst).write_bytes(b"")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)


def test_a_capture_that_cannot_be_kept_leaves_no_empty_file_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "move", full_disk)
    # --memgate-keep-captures: the runner moves the run's capture there
    work = tmp_path / "work"
    work.mkdir()
    (work / captures.CAPTURE_NAME).write_bytes(b"capture")
    keep = tmp_path / "caps" / f"{safe_name(LEAK)}.bin"
    with pytest.warns(MemgateWarning, match=r"could not keep the memray capture .*No space left on device"):
        captures.keep_capture(work / captures.CAPTURE_NAME, keep)
    assert not keep.exists()
    # the HTML report's flame-graph directory: the session moves a regression's capture there
    keeper = CaptureKeeper.from_config(GateConfig(html=Path("out/r.html"), rootdir=tmp_path))
    assert keeper is not None
    staged = keeper.staging(LEAK)
    staged.write_bytes(b"capture")
    with pytest.warns(MemgateWarning, match=r"could not keep the memray capture .*No space left on device"):
        assert keeper.settle(staged, regressed=True) is None
    assert list((tmp_path / "out" / "r-flamegraphs").iterdir()) == []


@pytest.mark.parametrize("option", ["keep_captures", "html"])
def test_an_output_directory_linked_out_of_the_project_is_refused(tmp_path: Path, option: str) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    linked = project / ("caps" if option == "keep_captures" else "out")
    linked.symlink_to(outside, target_is_directory=True)
    value = Path("caps") if option == "keep_captures" else Path("out/r.html")
    config = GateConfig(rootdir=project, **{option: value})
    with pytest.raises(
        ConfigError, match=r"leads out of the project to .* through a symbolic link"
    ) as caught:
        check_output_dirs(config)
    assert str(outside) in str(caught.value) and "remove the link" in str(caught.value)
    # inside the project, or given outside it: as asked
    check_output_dirs(GateConfig(rootdir=project, **{option: Path("elsewhere") / value}))
    check_output_dirs(GateConfig(rootdir=project, **{option: outside / value}))
