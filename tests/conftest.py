"""Shared test setup: pytester is enabled in pyproject's addopts."""

from typing import Any

import pytest

# The statistics import scipy on first use. Import it here, before any in-process pytester
# run: pytester takes scipy's modules out of sys.modules again after a run that imported
# them, and numpy's extension modules cannot be loaded a second time in one process.
import scipy.special
import scipy.stats  # noqa: F401
from helpers.report_document import report_document


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real session's report document (``helpers.report_document``), once per module."""
    return report_document(tmp_path_factory.mktemp("report"))
