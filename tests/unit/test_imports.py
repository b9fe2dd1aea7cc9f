"""The package's structure: no import cycle, and every module in docs/development.md's module table.

Imports inside functions count too: a function-level import that climbs back is the same
circle, only deferred.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pytest_memgate"


def modules(package: Path) -> dict[str, Path]:
    """Dotted name of every module under ``package`` (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(found: dict[str, Path]) -> dict[str, set[str]]:
    """Which modules of the package each module imports, anywhere in its code."""
    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    target = next((c for c in (f"{base}.{alias.name}", base) if c in found), None)
                    if target is not None and target != name:
                        edges[name].add(target)
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name in found and a.name != name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each circle a depth-first walk meets; a package handing on its own children is none."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if target.startswith(module + ".") or module.startswith(target + "."):
                continue
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif not state.get(target):
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(edges):
        if not state.get(module):
            visit(module, [module])
    return found


def test_no_module_imports_itself_round_a_cycle() -> None:
    circles = cycles(imports(modules(PACKAGE)))
    assert circles == [], "\n".join(" -> ".join(c) for c in circles)


def test_the_statistics_stand_on_the_ground_floor() -> None:
    """Pure statistics take their types from the records and findings they make, never
    through the result model that sits above them."""
    edges = imports(modules(PACKAGE))
    ground = {"pytest_memgate.model", "pytest_memgate.findings", "pytest_memgate.validate"}
    statistics = {"pytest_memgate.stats", "pytest_memgate.slopes", "pytest_memgate.powerlaw"}
    assert edges["pytest_memgate.stats"] <= ground
    for module in statistics:
        assert edges[module] <= ground | statistics, module
    assert edges["pytest_memgate.metrics"] <= ground | statistics


def test_the_check_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\n")
    (package / "b.py").write_text("def thing():\n    from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert cycles(imports(modules(package))) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_the_module_table_names_every_module() -> None:
    page = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    start = page.index("| module | its one job |")
    table = page[start : page.index("\n\n", start)]
    named = {n for row in table.splitlines()[2:] for n in re.findall(r"`([^`]+)`", row.split("|")[1])}
    missing = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py"
        and str(path.relative_to(PACKAGE)) not in named
        and f"{path.relative_to(PACKAGE).parts[0]}/" not in named
    ]
    assert missing == [], f"add these to the module table in docs/development.md: {missing}"
