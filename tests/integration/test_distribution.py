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


def _run(
    args: list[str], *, cwd: Path, timeout: float = 900, tag: str = ""
) -> subprocess.CompletedProcess[str]:
    """A command without this checkout on PYTHONPATH, so only what it installed is imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("MEMGATE")}
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "TAG"):
        env.pop(name, None)
    if tag:
        env["TAG"] = tag
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
    """The release workflow's own build step, ``.ci/build-dist`` with the tag a release of
    this version would have: ``python -m build`` (the wheel is built from the sdist, so the
    sdist must hold everything the wheel needs), ``twine check --strict`` and
    ``check-wheel-contents``. Any of them failing fails the script."""
    for module in ("build", "twine", "check_wheel_contents"):
        pytest.importorskip(module, reason=f"`{module}` is not installed: pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("dist")
    result = _run(
        ["bash", str(ROOT / ".ci" / "build-dist"), str(out)], cwd=ROOT, tag=f"v{pytest_memgate.__version__}"
    )
    _check(result)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    yield sdist, wheel


def test_release_workflow_builds_with_the_script_tested_here() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: the workflow is not parsed")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert any(str(step.get("run", "")).startswith("bash .ci/build-dist") for step in steps)
    assert workflow["jobs"]["publish"]["permissions"] == {"id-token": "write"}


def test_the_wheel_holds_the_package_its_types_and_license(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    assert wheel.name == f"pytest_memgate-{pytest_memgate.__version__}-py3-none-any.whl"
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
            "--memgate-html",
            "report.html",
        ],
        cwd=project,
    )
    output = _check(result)
    assert "test_export.py::test_export_memory" in output
    assert "memgate: 1 pass" in output
    shown = _check(_run([str(venv / "bin" / "memgate"), "show", "report.json"], cwd=project))
    (row,) = [line for line in shown.splitlines() if line.startswith("test_export.py::test_export_memory")]
    assert row.split()[1] == "pass", shown
    # the page's styles, script and charts come from the package's own modules
    page = (project / "report.html").read_text()
    assert "<svg" in page and "test_export.py::test_export_memory" in page
    body = _check(_run([str(venv / "bin" / "memgate"), "comment", "report.json"], cwd=project))
    assert body.startswith("<!-- memgate-comment -->") and "## memgate: 1 pass" in body
