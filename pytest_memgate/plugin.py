"""pytest hooks, each a few lines that hand over to ``GateSession``.

The gate's modules (statistics with scipy, the session, the reports) are imported only
once ``--memgate`` is on: a plain pytest run pays nothing for the plugin being installed.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from .config import OPTIONS, GateConfig, native_pytest_table, read_pyproject_table, resolve_config
from .errors import ConfigError, MemgateError
from .marker import MARKER_HELP, MARKER_NAME, parse_marker
from .notices import MemgateWarning

if TYPE_CHECKING:
    from .results import Outcome, ScenarioResult
    from .session import GateSession

GATE: pytest.StashKey[GateSession] = pytest.StashKey()
RESULT: pytest.StashKey[ScenarioResult] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memgate", "memory regression gate")
    for option in OPTIONS:
        # argparse %-formats help strings: a bare "90%" would break `pytest --help`.
        text = option.help.replace("%", "%%")
        if option.is_flag:
            group.addoption(option.flag, action="store_true", default=None, dest=option.dest, help=text)
        else:
            default = option.default_text.replace("%", "%%")
            group.addoption(
                option.flag,
                default=None,
                dest=option.dest,
                metavar="VALUE",
                help=f"{text} (default: {default})",
            )
        # Flags are booleans in every configuration format; the other options take text
        # ("auto", "3%", "256 KiB") or a TOML number or list (see ``ini_values``).
        kind: Literal["bool", "string"] = "bool" if option.is_flag else "string"
        parser.addini(option.ini_name, option.help, type=kind, default=None)


def _pyproject_path(config: pytest.Config) -> Path:
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    return config.rootpath / "pyproject.toml"


def ini_values(config: pytest.Config) -> dict[str, Any]:
    """Each ``memgate_*`` ini value, ``None`` where unset. An ini file and
    ``[tool.pytest.ini_options]`` give text (flags as booleans, their declared type); pytest
    9's native ``[tool.pytest]`` table keeps TOML's types, which a text option refuses, so
    a number, boolean or list there is read from the table as it stands and checked by the
    option's own parser like a ``[tool.memgate]`` value."""
    values: dict[str, Any] = {}
    native: dict[str, Any] | None = None
    for option in OPTIONS:
        try:
            values[option.key] = config.getini(option.ini_name)
        except (TypeError, ValueError, pytest.UsageError) as exc:  # UsageError: pytest 9.2 and later
            if native is None:
                native = native_pytest_table(config.inipath)
            if option.ini_name not in native:
                fix = "give true or false" if option.is_flag else "give the value as text"
                raise ConfigError(
                    f"memgate: ini option {option.ini_name} in {config.inipath}: {exc}; {fix}"
                ) from None
            values[option.key] = native[option.ini_name]
    return values


def load_gate_config(config: pytest.Config) -> GateConfig:
    pyproject_path = _pyproject_path(config)
    resolved = resolve_config(
        {o.key: config.getoption(o.dest) for o in OPTIONS},
        read_pyproject_table(pyproject_path),
        ini_values(config),
        rootdir=config.rootpath,
        pyproject_path=pyproject_path,
    )
    return dataclasses.replace(resolved, invocation_dir=config.invocation_params.dir)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        gate_config = load_gate_config(config)
        if gate_config.enabled or gate_config.update or gate_config.accept:
            from .backends import choose_backend
            from .limits import xdist_workers
            from .session import GateSession

            # Each xdist worker runs two measuring children at once: the cap's share divides by them.
            numprocesses = getattr(config.option, "numprocesses", None)
            workers = xdist_workers(worker=hasattr(config, "workerinput"), numprocesses=numprocesses)
            config.stash[GATE] = GateSession(
                gate_config, choose_backend(gate_config.backend), xdist_workers=workers
            )
            config.pluginmanager.register(MeasureHook(config), "memgate-measure")
        else:
            _warn_ignored_options(config)
    except MemgateError as exc:
        raise pytest.UsageError(str(exc)) from None


def _warn_ignored_options(config: pytest.Config) -> None:
    """Gate options on the command line (flags, or ``-o memgate_*``) while the gate is off
    do nothing: a run with ``--memgate-html x.html`` alone must not pass silently without
    the report. A warning, not an error: a plain run keeps working."""
    given = [o.flag for o in OPTIONS if o.key != "enabled" and config.getoption(o.dest) is not None]
    names = {o.ini_name for o in OPTIONS if o.key != "enabled"}
    overrides = config.getoption("override_ini", default=None) or []
    given += [f"-o {name}" for name in (item.split("=", 1)[0].strip() for item in overrides) if name in names]
    if given:
        ignored = "they are ignored" if len(given) > 1 else "it is ignored"
        config.issue_config_time_warning(
            MemgateWarning(
                f"memgate: {', '.join(given)} given without --memgate: the gate is off and {ignored}; "
                "add --memgate (or enabled = true in [tool.memgate]) to measure the memload scenarios"
            ),
            stacklevel=2,
        )


def pytest_sessionstart(session: pytest.Session) -> None:
    gate = session.config.stash.get(GATE, None)
    if gate is not None:
        config = session.config
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        progress = None
        if terminal is not None and config.get_verbosity() >= 0 and not hasattr(config, "workerinput"):
            from .reports.progress import LiveTerminal, ProgressPrinter

            live = LiveTerminal(terminal, config.pluginmanager.get_plugin("capturemanager"))
            progress = ProgressPrinter(live, config.get_verbosity())
        try:
            gate.start(whole_suite=collects_whole_suite(config), progress=progress)
        except MemgateError as exc:
            raise pytest.UsageError(str(exc)) from None


def collects_whole_suite(config: pytest.Config) -> bool:
    """Whether this run collects every test of the suite (``-k``, ``-m`` and ``--deselect``
    deselect after collection and are told apart by pytest_deselected). Node ids on the
    command line collect only those tests, and ``--lf`` with failures on record leaves the
    passed tests of a file uncollected: in such a run a baseline entry is not stale for
    being absent."""
    if any("::" in str(arg) for arg in config.args):
        return False
    if config.getoption("lf", default=False):
        last_failed = config.pluginmanager.get_plugin("lfplugin")
        return last_failed is None or not getattr(last_failed, "lastfailed", None)
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate = config.stash.get(GATE, None)
    for item in items:
        marker = item.get_closest_marker(MARKER_NAME)
        if marker is not None:
            try:
                spec = parse_marker(item.nodeid, marker.args, marker.kwargs)
                if gate is not None:
                    path, line, _ = item.location
                    gate.collect(item.nodeid, spec, (path, (line or 0) + 1))
            except MemgateError as exc:
                from .reports.words import printable  # the message holds the test's id

                raise pytest.UsageError(printable(exc)) from None
            family = _family(item) if isinstance(item, pytest.Function) else None
            if family is not None and _distributed(config):
                # Under --dist loadgroup every size of a family runs on one worker, which
                # judges its scaling in the test; otherwise the controller judges it at the end.
                item.add_marker(pytest.mark.xdist_group(f"memgate:{family[0]}"))


def _distributed(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) or hasattr(config, "workerinput")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Count each memload scenario as it is collected, before -k, -m or pytest-split deselect
    any: every CI shard then shares the false-alarm rate over the whole suite."""
    gate = item.config.stash.get(GATE, None)
    if gate is not None and item.get_closest_marker(MARKER_NAME) is not None:
        gate.count(item.nodeid)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note what will run (after deselection), for stale entries and the suite size check."""
    gate = session.config.stash.get(GATE, None)
    if gate is not None:
        try:
            gate.select(item.nodeid for item in session.items)
        except MemgateError as exc:
            raise pytest.UsageError(str(exc)) from None


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
        gate.deselect(item.nodeid for item in items)


class MeasureHook:
    """Takes a memload test's call over and measures it instead (and, on the xdist
    controller, collects the results the workers send).

    Registered in ``pytest_configure`` (only with ``--memgate``), after the plugins that
    setuptools loads: among ``tryfirst`` implementations the last registered runs first,
    so a plugin that runs coroutine tests itself (anyio) cannot run a scenario unmeasured.
    """

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On the xdist controller: take each scenario's result as its report arrives. A
        payload that cannot be read (a worker of another version, a corrupted message) makes
        that scenario an error naming the problem; the controller and the others go on. A
        failed or skipped phase with no result says why its scenario was never measured."""
        payload = getattr(report, "memgate_result", None)
        gate = self.config.stash.get(GATE, None)
        if gate is None:
            return
        if payload is None:
            if report.failed or report.skipped:
                gate.not_measured(report.nodeid, *_why_unmeasured(report))
            return
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "a worker")
        gate.arrived(report.nodeid, payload, str(worker))

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        gate = pyfuncitem.config.stash.get(GATE, None)
        if gate is None or pyfuncitem.nodeid not in gate.specs:
            return None
        from .bodies import make_body
        from .failing import Failure
        from .reports.junit import junit_properties
        from .reports.terminal import failure_text
        from .reports.words import printable, verdict_message
        from .results import Outcome

        body = make_body(pyfuncitem.obj, pyfuncitem.funcargs)
        result = gate.measure_collected(pyfuncitem.nodeid, body, family=_family(pyfuncitem))
        pyfuncitem.stash[RESULT] = result
        pyfuncitem.user_properties.extend(junit_properties(result))
        if result.outcome is Outcome.SKIPPED:
            message = verdict_message(result.verdict, result.notes)
            warnings.warn(MemgateWarning(f"{printable(pyfuncitem.nodeid)}: {message}"), stacklevel=1)
        failure = gate.failure(result)
        if failure is not None:
            pytest.fail(failure_text(result, strict_new=failure is Failure.STRICT_NEW), pytrace=False)
        return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    gate = session.config.stash.get(GATE, None)
    if gate is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes, once
        workeroutput["memgate"] = json.dumps(gate.export(results=False))
        return
    from .session import Ending

    option = session.config.option
    ending = gate.end(
        account=not (
            option.collectonly or getattr(option, "setuponly", False) or getattr(option, "setupplan", False)
        )
    )
    if ending is Ending.ERRORS:  # shown after the table; an internal error, not a regression
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    elif ending is Ending.LATE_FAILURES and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On an xdist worker, a scenario's result rides on its call report to the controller
    as soon as it is measured: a worker that crashes later loses nothing already done."""
    report = yield
    result = item.stash.get(RESULT, None)
    if result is not None and call.when == "call" and hasattr(item.config, "workerinput"):
        report.memgate_result = json.dumps(result.to_dict())
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    gate = node.config.stash.get(GATE, None)
    payload = getattr(node, "workeroutput", {}).get("memgate")
    if gate is not None and payload:
        gate.worker_ended(getattr(getattr(node, "gateway", None), "id", "an xdist worker"), payload)


def _why_unmeasured(report: pytest.TestReport) -> tuple[Outcome, str]:
    """(outcome, why) of a scenario whose test ended with no measurement: pytest's own
    words for a skip, else an error naming the phase that failed and its exception."""
    from .reports.words import printable
    from .results import Outcome

    longrepr = report.longrepr
    if report.skipped:
        reason = getattr(report, "wasxfail", None) or (
            longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        )
        reason = printable(str(reason).removeprefix("Skipped: "))[:300]
        return Outcome.SKIPPED, f"not run: skipped by pytest ({reason or 'no reason given'})"
    if str(report.when) == "???":  # how pytest-xdist reports the test a worker died in
        return Outcome.ERROR, "never measured: its xdist worker crashed while running it"
    crash = getattr(getattr(longrepr, "reprcrash", None), "message", None)
    lines = str(longrepr).strip().splitlines()
    cause = printable(crash or (lines[-1] if lines else "no details"))[:300]
    phase = "its setup (a fixture) errored" if report.when == "setup" else f"its {report.when} failed"
    return Outcome.ERROR, f"never measured: {phase}: {cause}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    gate = terminalreporter.config.stash.get(GATE, None)
    if gate is None or terminalreporter.config.option.collectonly:
        return
    from .reports.terminal import summary_lines

    terminalreporter.write_sep("=", "memgate")
    for line in summary_lines(gate.report()):
        terminalreporter.write_line(line)
    for line in gate.warnings:  # flame graphs that could not be rendered: the reports stand
        terminalreporter.write_line(line, yellow=True)
    for command in gate.annotations:  # GitHub Actions reads these from the log
        terminalreporter.write_line(command)
