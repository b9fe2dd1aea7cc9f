"""``memgate``: read baselines and reports outside pytest.

``memgate show PATH`` prints what a baseline or a ``--memgate-report`` file holds;
``memgate diff OLD NEW`` compares two of them with the statistics and the project's
``[tool.memgate]`` tolerances the plugin gates on; ``report``, ``accept``, ``prune`` and
``rename`` render a report and change a baseline; ``merge`` combines CI shards' reports or
baselines. One module per job: ``documents`` reads and checks the files, ``view`` shows
them, ``diff`` compares them, ``edit`` changes a baseline, ``merge`` combines shards,
``app`` parses the command line and dispatches. Nothing here imports pytest.
"""

from __future__ import annotations

from .app import COMMANDS, build_parser, build_parsers, main, parse_arguments
from .diff import POLICY_KEYS, diff_scenario, load_project_config, tolerances_text
from .documents import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, Document, Scenario, load_document
from .view import report_lines, show_lines

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "POLICY_KEYS",
    "Document",
    "Scenario",
    "build_parser",
    "build_parsers",
    "diff_scenario",
    "load_document",
    "load_project_config",
    "main",
    "parse_arguments",
    "report_lines",
    "show_lines",
    "tolerances_text",
]
