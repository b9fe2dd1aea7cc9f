"""pytest hooks, each a few lines that hand over to ``GateSession``.

The gate's modules (statistics with scipy, the session, the reports) are imported only
once ``--memgate`` is on: a plain pytest run pays nothing for the plugin being installed.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .config import OPTIONS, GateConfig, read_pyproject_table, resolve_config
from .errors import MemgateError
from .marker import MARKER_HELP, MARKER_NAME, ScenarioSpec, parse_marker

if TYPE_CHECKING:
    from .session import GateSession

SPECS = pytest.StashKey[dict[str, ScenarioSpec]]()
GATE: pytest.StashKey[GateSession] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memgate", "memory regression gate")
    for option in OPTIONS:
        # argparse %-formats help strings: a bare "90%" would break `pytest --help`.
        text = option.help.replace("%", "%%")
        if option.is_flag:
            group.addoption(option.flag, action="store_true", default=None, dest=option.dest, help=text)
        else:
            default = str(option.default).replace("%", "%%")
            group.addoption(
                option.flag,
                default=None,
                dest=option.dest,
                metavar="VALUE",
                help=f"{text} (default: {default})",
            )
        parser.addini(option.ini_name, option.help, default=None)


def _pyproject_path(config: pytest.Config) -> Path:
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    return config.rootpath / "pyproject.toml"


def load_gate_config(config: pytest.Config) -> GateConfig:
    pyproject_path = _pyproject_path(config)
    return resolve_config(
        {o.key: config.getoption(o.dest) for o in OPTIONS},
        read_pyproject_table(pyproject_path),
        {o.key: config.getini(o.ini_name) for o in OPTIONS},
        rootdir=config.rootpath,
        pyproject_path=pyproject_path,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[SPECS] = {}
    try:
        gate_config = load_gate_config(config)
        if gate_config.enabled or gate_config.update or gate_config.accept:
            from .backends import choose_backend
            from .session import GateSession

            config.stash[GATE] = GateSession(gate_config, choose_backend(gate_config.backend))
    except MemgateError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_sessionstart(session: pytest.Session) -> None:
    gate = session.config.stash.get(GATE, None)
    if gate is not None:
        try:
            gate.baseline  # noqa: B018 - a corrupt baseline stops the run before any work
        except MemgateError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    specs = config.stash[SPECS]
    for item in items:
        marker = item.get_closest_marker(MARKER_NAME)
        if marker is not None:
            try:
                specs[item.nodeid] = parse_marker(item.nodeid, marker.args, marker.kwargs)
                gate = config.stash.get(GATE, None)
                if gate is not None:
                    gate.resolve_spec(item.nodeid, specs[item.nodeid])  # '40%' needs a limit
                    if inspect.iscoroutinefunction(getattr(item, "obj", None)):
                        raise MemgateError(
                            f"memgate: {item.nodeid}: async scenarios are not supported yet; "
                            "call the coroutine with asyncio.run() inside a plain test"
                        )
            except MemgateError as exc:
                raise pytest.UsageError(str(exc)) from None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count what will run (after -k/-m deselection): the false-alarm rate is shared by it."""
    gate = session.config.stash.get(GATE, None)
    if gate is not None:
        specs = session.config.stash[SPECS]
        gate.collected = {item.nodeid for item in session.items if item.nodeid in specs}
        gate.scenario_count = len(gate.collected)


SIZE_FIXTURE = "memload_size"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``memload(sizes=[...])``: one scenario per payload size, fed through ``memload_size``."""
    marker = metafunc.definition.get_closest_marker(MARKER_NAME)
    if marker is None or "sizes" not in marker.kwargs or SIZE_FIXTURE not in metafunc.fixturenames:
        return
    try:
        spec = parse_marker(metafunc.definition.nodeid, marker.args, marker.kwargs)
    except MemgateError as exc:
        raise pytest.UsageError(str(exc)) from None
    metafunc.parametrize(SIZE_FIXTURE, spec.sizes, ids=[f"n={n}" for n in spec.sizes])


@pytest.fixture
def memload_size(request: pytest.FixtureRequest) -> int:
    """The payload size of this run of a ``memload(sizes=[...])`` scenario."""
    param = getattr(request, "param", None)
    if param is None:
        raise pytest.UsageError(
            f"memgate: {request.node.nodeid} uses the memload_size fixture but its memload marker "
            "has no sizes=[...]; add e.g. memload(sizes=[10_000, 100_000, 1_000_000])"
        )
    return int(param)


def _family(item: pytest.Function) -> tuple[str, int] | None:
    """(family id, size) of a sized scenario: its node id without the size parameter."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or SIZE_FIXTURE not in callspec.params:
        return None
    size = int(callspec.params[SIZE_FIXTURE])
    return item.nodeid.replace(f"n={size}-", "").replace(f"-n={size}", "").replace(f"[n={size}]", ""), size


def pytest_deselected(items: list[pytest.Item]) -> None:
    gate = items[0].config.stash.get(GATE, None) if items else None
    if gate is not None:
        gate.deselected.update(item.nodeid for item in items)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    gate = pyfuncitem.config.stash.get(GATE, None)
    spec = pyfuncitem.config.stash[SPECS].get(pyfuncitem.nodeid)
    if gate is None or spec is None:
        return None
    from .reports.terminal import failure_text
    from .verdict import Failure

    result = gate.measure(pyfuncitem.nodeid, spec, _body(pyfuncitem), family=_family(pyfuncitem))
    failure = gate.failure(result)
    if failure is not None:
        pytest.fail(failure_text(result, strict_new=failure is Failure.STRICT_NEW), pytrace=False)
    return True


def _body(item: pytest.Function) -> functools.partial[object]:
    """The test function with its arguments bound: one call is one unit of work.

    ``item.funcargs`` also holds autouse fixtures the function does not take, so the
    function's own parameters pick what to pass (bound methods have no ``self`` here).
    """
    names = [n for n in inspect.signature(item.obj).parameters if n in item.funcargs]
    return functools.partial(item.obj, **{name: item.funcargs[name] for name in names})


def pytest_sessionfinish(session: pytest.Session) -> None:
    gate = session.config.stash.get(GATE, None)
    if gate is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes, once
        workeroutput["memgate"] = json.dumps(gate.export())
        return
    try:
        gate.write_baseline()
        if gate.config.report_path is not None:
            from .reports.json import build_report, write_report

            write_report(gate.config.report_path, build_report(gate.report()))
    except MemgateError as exc:
        session.config.get_terminal_writer().line(str(exc), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    gate = node.config.stash.get(GATE, None)
    payload = getattr(node, "workeroutput", {}).get("memgate")
    if gate is not None and payload:
        gate.merge(json.loads(payload))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    gate = terminalreporter.config.stash.get(GATE, None)
    if gate is None:
        return
    from .reports.terminal import summary_lines

    terminalreporter.write_sep("=", "memgate")
    for line in summary_lines(gate.report()):
        terminalreporter.write_line(line)
