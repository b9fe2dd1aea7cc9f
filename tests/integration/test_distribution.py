"""The released files: an sdist and a wheel that pass the index's checks, and a wheel that runs
the gate from a fresh virtualenv, so a module or data file left out of the package fails here
rather than on a user's machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_memgate

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(args: list[str], *, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """A command without this checkout on PYTHONPATH, so only what it installed is imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("MEMGATE")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """``python -m build``: the sdist, then the wheel built from the sdist (so the sdist
    must hold everything the wheel needs), as the release workflow builds them."""
    pytest.importorskip("build", reason="`build` is not installed: pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("dist")
    _check(_run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT))
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    yield sdist, wheel


def test_distributions_pass_the_index_checks(dists: tuple[Path, Path]) -> None:
    pytest.importorskip("twine", reason="`twine` is not installed: pip install -e '.[test]'")
    checker = shutil.which("check-wheel-contents")
    if checker is None:
        pytest.skip("`check-wheel-contents` is not installed: pip install -e '.[test]'")
    sdist, wheel = dists
    assert wheel.name == f"pytest_memgate-{pytest_memgate.__version__}-py3-none-any.whl"
    _check(_run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)], cwd=ROOT))
    _check(_run([checker, str(wheel)], cwd=ROOT))
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"pytest_memgate-{pytest_memgate.__version__}.dist-info"
    assert "pytest_memgate/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert f"Version: {pytest_memgate.__version__}\n" in metadata
    # every module of the checkout ships
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pytest_memgate").rglob("*.py")}
    assert modules <= names, sorted(modules - names)


def test_installed_wheel_runs_the_gate(dists: tuple[Path, Path], tmp_path: Path) -> None:
    """A plain virtualenv (not --system-site-packages, which would see the editable install)
    with only the wheel and its dependencies runs one of the examples' scenarios against the
    committed baseline. One scenario, not all four: the wheel is what is tested here, and the
    examples' full gate run takes about 90 s on its own."""
    _, wheel = dists
    venv = tmp_path / "venv"
    _check(_run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path))
    python = venv / "bin" / "python"
    _check(_run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path))
    project = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", project, ignore=shutil.ignore_patterns(".pytest_cache", "__pycache__"))

    where = _check(
        _run([str(python), "-c", "import pytest_memgate; print(pytest_memgate.__file__)"], cwd=project)
    )
    assert Path(where.strip()).is_relative_to(venv), where
    assert f"memgate {pytest_memgate.__version__}" in _check(
        _run([str(venv / "bin" / "memgate"), "--version"], cwd=project)
    )

    result = _run(
        [
            str(python),
            "-m",
            "pytest",
            "--memgate",
            "test_export.py",
            "-p",
            "no:cacheprovider",
            "--memgate-report",
            "report.json",
        ],
        cwd=project,
    )
    output = _check(result)
    assert "test_export.py::test_export_memory" in output
    assert "memgate: 1 pass" in output
    shown = _check(_run([str(venv / "bin" / "memgate"), "show", "report.json"], cwd=project))
    (row,) = [line for line in shown.splitlines() if line.startswith("test_export.py::test_export_memory")]
    assert row.split()[1] == "pass", shown
