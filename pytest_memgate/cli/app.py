"""``memgate``: the command line, its parsers and the dispatch to each command.

This package never imports pytest: it has to work where only the files are. The
statistics (numpy and scipy) are imported by the commands that use them, so ``--help``
and error messages come back at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import OPTIONS_BY_KEY, Option
from ..errors import MemgateError
from ..reports.comment import COMMENT_LIMIT
from ..reports.compare import COLUMNS, DEFAULT_COLUMNS, SORTS, parse_columns
from ..units import format_size
from .comment import cmd_comment
from .diff import POLICY_KEYS, cmd_diff, percent_text
from .documents import EXIT_ERROR, EXIT_OK
from .edit import cmd_accept, cmd_prune, cmd_rename
from .merge import cmd_merge
from .view import cmd_report, cmd_show

# --- the command line --------------------------------------------------------------------


def _option_type(option: Option) -> Callable[[str], Any]:
    """Parse a flag with the option table's parser, so the CLI and the plugin agree."""

    def parse(value: str) -> Any:
        try:
            return option.parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.key  # argparse names the type in its messages
    return parse


# How the policy flags read (names, parsing and defaults come from the option table).
_FRACTION_KEYS = ("peak_tolerance", "rss_peak_tolerance")
_SIZE_KEYS = ("peak_min_bytes", "growth_tolerance", "rss_peak_min_bytes", "rss_growth_tolerance")


def _default_text(option: Option) -> str:
    if option.key in _FRACTION_KEYS:
        return percent_text(option.default)
    if option.key in _SIZE_KEYS:
        return format_size(option.default)
    return f"{option.default:g}"


def _add_policy_flags(parser: argparse.ArgumentParser) -> None:
    for key in POLICY_KEYS:
        option = OPTIONS_BY_KEY[key]
        text = f"{option.help} (default: {key} in [tool.memgate], else {_default_text(option)})"
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            type=_option_type(option),
            default=None,
            metavar="SIZE" if key in _SIZE_KEYS else "FRACTION" if key in _FRACTION_KEYS else "VALUE",
            help=text.replace("%", "%%"),  # argparse %-formats help strings
        )


def _columns(text: str) -> tuple[str, ...]:
    try:
        return parse_columns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=None,
        help="the pyproject.toml whose [tool.memgate] applies (default: the nearest one from the "
        "current directory upwards, as pytest finds it)",
    )


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number of characters")
    return number


Command = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "show": cmd_show,
    "diff": cmd_diff,
    "report": cmd_report,
    "accept": cmd_accept,
    "prune": cmd_prune,
    "rename": cmd_rename,
    "merge": cmd_merge,
    "comment": cmd_comment,
}


def build_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``memgate`` parser, and each command's own (``parse_arguments`` uses them alone)."""
    parser = argparse.ArgumentParser(
        prog="memgate",
        description="Inspect and compare pytest-memgate baselines and --memgate-report files.",
        epilog="Exit codes: 0 ok, 1 a regression was found (diff, report, merge), 2 usage or file error.",
    )
    parser.add_argument("--version", action="version", version=f"memgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    show = sub.add_parser(
        "show",
        help="print the scenarios of a baseline or report",
        description="Print one row per scenario of a baseline or a --memgate-report file: "
        "medians of heap peak, heap growth per call, RSS peak and RSS growth per call.",
    )
    show.add_argument(
        "path",
        type=Path,
        nargs="?",
        metavar="PATH",
        help="baseline or --memgate-report JSON file (default: the project's baseline, as the plugin "
        "finds it from [tool.memgate] of the nearest pyproject.toml, else .memgate/baseline.json)",
    )
    show.add_argument("--json", action="store_true", help="print the normalized data as JSON instead")
    _add_config_flag(show)

    diff = sub.add_parser(
        "diff",
        help="compare two baselines or reports with the gate's statistics",
        description="Compare NEW's runs against OLD's runs for every scenario in both, with the "
        "tests the plugin uses and the tolerances of the project's [tool.memgate] (the nearest "
        "pyproject.toml, or --config), which the flags below override. Files may be baselines, "
        "reports, or one of each. Exits 1 when any scenario regressed.",
    )
    diff.add_argument(
        "old",
        type=Path,
        nargs="?",
        metavar="OLD",
        help="the reference baseline or report (default: the project's baseline, as the plugin finds "
        "it; given alone, a path is NEW)",
    )
    diff.add_argument(
        "new",
        type=Path,
        nargs="?",
        metavar="NEW",
        help="the baseline or report to judge (default: the report path of [tool.memgate])",
    )
    diff.add_argument(
        "--columns",
        type=_columns,
        default=DEFAULT_COLUMNS,
        metavar="LIST",
        help=f"the table's metrics, comma-separated, from {', '.join(COLUMNS)}, or all "
        f"(default: {','.join(DEFAULT_COLUMNS)})",
    )
    diff.add_argument(
        "--sort",
        choices=SORTS,
        default="name",
        help="the table's order: name (the id), verdict (failing and unclear first), or change "
        "(the biggest increase of the first column first); default: name",
    )
    _add_config_flag(diff)
    _add_policy_flags(diff)

    report = sub.add_parser(
        "report",
        help="render a --memgate-report file for people",
        description="Print a report's table, the message of every scenario that did not simply "
        "pass, and the allocation sites of those that failed or were unclear. Exits 1 when the "
        "run failed a scenario's test (its `fails`; a report without it: a regression or an "
        "error).",
    )
    report.add_argument("path", type=Path, metavar="REPORT", help="a --memgate-report JSON file")
    report.add_argument(
        "--format",
        choices=("text", "md", "html"),
        default="text",
        help="text (default), md (Markdown for a pull-request comment) or html (a self-contained page)",
    )
    report.add_argument(
        "--output", "-o", type=Path, default=None, metavar="PATH", help="write here, not stdout"
    )

    accept = sub.add_parser(
        "accept",
        help="record an intended increase from a report into the baseline",
        description="Write the figures a --memgate-report measured for the named scenarios into "
        "the baseline, with the reason, the previous figures, the branch and commit, and whether "
        "the working tree had uncommitted changes. A report usually holds fewer runs than "
        "baseline_runs: the entry and the output say so, and a re-record with "
        "pytest --memgate --memgate-update gives the entry its full runs. An exact id "
        "(test_x[20000]) names itself; in a glob * and ? are wildcards and brackets are literal.",
    )
    accept.add_argument("baseline", type=Path, metavar="BASELINE")
    accept.add_argument("report", type=Path, metavar="REPORT")
    accept.add_argument("scenarios", nargs="+", metavar="ID_OR_GLOB")
    accept.add_argument("--reason", required=True, help="why the scenario may use more memory")
    _add_config_flag(accept)

    prune = sub.add_parser(
        "prune",
        help="remove scenarios that no longer exist from a baseline",
        description="Remove the named scenarios (exact ids, or globs in which * and ? are "
        "wildcards and brackets are literal), or with --keep-report every scenario that a report "
        "of a full run does not contain.",
    )
    prune.add_argument("baseline", type=Path, metavar="BASELINE")
    prune.add_argument("scenarios", nargs="*", metavar="ID_OR_GLOB")
    prune.add_argument("--keep-report", type=Path, metavar="REPORT", default=None)
    prune.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")

    rename = sub.add_parser(
        "rename",
        help="carry a renamed scenario's baseline over",
        description="Move the baseline entry OLD to NEW (e.g. after renaming a test). A test's "
        "name without parameters moves its whole parametrized family: OLD[...] to NEW[...].",
    )
    rename.add_argument("baseline", type=Path, metavar="BASELINE")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.add_argument("--force", action="store_true", help="replace existing NEW entries")

    merge = sub.add_parser(
        "merge",
        help="combine the reports, or the baselines, of CI shards into one",
        description="With -o: combine the --memgate-report files of the shards of one CI run "
        "into one report, which `memgate report` renders; exits 1 when a shard's run failed a "
        "scenario's test (its `fails`), or when a scenario of the suite is in no shard's "
        "report (an error in the merged report), so CI fails once, at the end. Refuses (exit "
        "2) shards from different environments, commits or pytest-memgate versions, a scenario "
        "in two shards, and shards judged over different suite sizes. With --baseline: write "
        "into BASELINE (the baseline the shards started from) the entries each shard's "
        "--memgate-update changed; refuses entries two shards changed differently and entries "
        "from different environments.",
    )
    merge.add_argument("shards", nargs="+", type=Path, metavar="SHARD", help="a shard's report or baseline")
    merge.add_argument(
        "--output", "-o", type=Path, default=None, metavar="MERGED", help="write the merged report here"
    )
    merge.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="BASELINE",
        help="merge shard baselines into this baseline file (written atomically, under its lock)",
    )
    comment = sub.add_parser(
        "comment",
        help="the body of a pull-request comment, posted again only when verdicts change",
        description="Print the Markdown of a --memgate-report file as a pull-request comment: a "
        "hidden marker to find it again, a digest of the verdicts, the table and the failures, "
        f"cut to GitHub's limit of {COMMENT_LIMIT:,} characters (the comment says so when it is "
        "cut). With --previous-body, print nothing when that comment already shows the same "
        "verdicts, so a CI job edits its comment only when they change. Exits 0 unless a file "
        "cannot be read.",
    )
    comment.add_argument("path", type=Path, metavar="REPORT", help="a --memgate-report JSON file")
    comment.add_argument(
        "--previous-body",
        metavar="FILE",
        default=None,
        help="the body of the comment posted before (missing or empty: there was none)",
    )
    comment.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="PATH",
        help="write here, not stdout (empty: nothing to post)",
    )
    comment.add_argument(
        "--report-only", action="store_true", help="say that the gate does not fail the pull request"
    )
    comment.add_argument("--details-url", metavar="URL", default=None, help="link to the run's artifacts")
    comment.add_argument(
        "--max-chars",
        type=_positive,
        default=COMMENT_LIMIT,
        metavar="N",
        help=f"longest body (default: {COMMENT_LIMIT}, GitHub's limit)",
    )
    subparsers = {"show": show, "diff": diff, "report": report, "accept": accept, "prune": prune}
    subparsers.update(rename=rename, merge=merge, comment=comment)
    return parser, subparsers


def build_parser() -> argparse.ArgumentParser:
    return build_parsers()[0]


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Options may come before, between or after a command's positionals
    (``prune B --dry-run 'x*'``): argparse's subparsers alone cannot intermix them."""
    parser, subparsers = build_parsers()
    if argv and argv[0] in subparsers:
        args = subparsers[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)  # --help, --version, or a usage error


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (the console script exits with it)."""
    try:
        args = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_ERROR)
    try:
        return COMMANDS[args.command](args)
    except MemgateError as exc:
        print(str(exc), file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`memgate show B | head`): nothing to say
        with contextlib.suppress(OSError, ValueError):  # nor at exit, when Python flushes stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:  # a baseline in a read-only place, a file that vanished
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"memgate: cannot access{where}: {exc.strerror or exc}; check the path and its permissions",
            file=sys.stderr,
        )
    return EXIT_ERROR
