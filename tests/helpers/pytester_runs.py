"""Shared scenario and runner for the end-to-end tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

# Small but honest: three isolated runs of 3 warm-up + 20 measured calls each.
SCENARIO = """
import os
import pytest

LEAK = os.environ.get("PLANT") == "leak"
DOUBLE = os.environ.get("PLANT") == "double"
SMALL = os.environ.get("PLANT") == "small"  # small objects: inside pymalloc's arenas
_kept = []

@pytest.fixture
def payload():
    return [{{"id": i, "name": "user%d" % i, "tags": ["a", "b"]}} for i in range({size})]

@pytest.mark.memload(iterations=20, warmup=3)
def test_handler(payload):
    import json
    text = json.dumps(payload)
    if DOUBLE:
        second = json.dumps(payload)
        del second
    if LEAK:
        _kept.append(bytearray(2048))
    if SMALL:
        _kept.extend([bytes(300), bytes(300)])
    return len(text)
"""


# The planted leak's line in the written file (pytester drops SCENARIO's leading newline).
LEAK_LINE = next(i for i, line in enumerate(SCENARIO.splitlines()) if "bytearray(2048)" in line)


def write_scenario(pytester: pytest.Pytester, size: int = 6000) -> None:
    pytester.makepyfile(test_scenario=SCENARIO.format(size=size))


def lean(args: tuple[str, ...]) -> tuple[str, ...]:
    """The plugins an inner session loads: this one, and xdist when it is asked for.

    Plugin autoloading is off in inner sessions (``run``), because the environment's other
    plugins are not what these tests check and cost about 1.2 s per interpreter (hypothesis
    alone about 1 s), over a hundred times a suite. ``test_everyday.py`` runs the gate with
    every installed plugin loaded, as users do."""
    plugins = ["-p", "pytest_memgate.plugin"]
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        plugins += ["-p", "xdist.plugin"]
    return (*plugins, *args)


def run(pytester: pytest.Pytester, *args: str, plant: str = "", autoload: bool = False) -> pytest.RunResult:
    """pytest in a subprocess, with ``PLANT`` selecting the variant the scenario runs;
    ``autoload`` loads every installed plugin (pytest-asyncio, anyio) instead of ``lean``'s."""
    saved = {name: os.environ.get(name) for name in ("PLANT", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ["PLANT"] = plant
    os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        args = lean(args)
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Baselines recorded in this test process, by everything the recording read. Recording is
# six real runs; tests that set up the same project compare against one real recording
# instead of making their own, so each only pays for what it tests.
_RECORDED: dict[str, str] = {}
_ENV_PREFIXES = ("MEMGATE", "GITHUB", "GITLAB", "CI", "BUILDKITE", "GIT_", "PLANT", "PYTEST_XDIST")


def _project_key(path: Path) -> str:
    """Every file of the project (a git repository's too, so those never share) and every
    environment variable the gate reads: a test with other settings records its own."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if file.is_file() and ".memgate" not in parts and "__pycache__" not in parts:
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    for name in sorted(os.environ):
        if name.startswith(_ENV_PREFIXES):
            digest.update(f"{name}={os.environ[name]}\0".encode())
    return digest.hexdigest()


def record_baseline(
    pytester: pytest.Pytester, *, fresh: bool = False, files: dict[str, str] | None = None
) -> Path:
    """The project's baseline, recorded with ``--memgate-update`` (really, the first time a
    project like this one is recorded in this process; ``fresh`` always). ``files`` are the
    test modules (name: source) to record instead of the shared scenario."""
    if files is None:
        write_scenario(pytester)
    else:
        pytester.makepyfile(**files)
    baseline = pytester.path / ".memgate" / "baseline.json"
    key = _project_key(pytester.path)
    if not fresh and key in _RECORDED:
        baseline.parent.mkdir(exist_ok=True)
        baseline.write_text(_RECORDED[key])
        return baseline
    result = run(pytester, "--memgate", "--memgate-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert baseline.is_file()
    _RECORDED[key] = baseline.read_text()
    return baseline
