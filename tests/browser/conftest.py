"""Headless Chromium for the HTML report: Playwright's Python package drives Debian's browser.

Playwright's own browser download cannot run here (it fetches from its own host), so the
page opens in the system's ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run``
installs it where apt-get works). Without the package or the browser the tests skip and say
which is missing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

# The report document is built by the unit tests' helper, which drives a real GateSession.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: opens the HTML report in headless Chromium (skips without it)"
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright): no browser test"
    )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): no browser test")
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, timeout=30_000)
        except sync_api.Error as exc:
            pytest.skip(f"{CHROMIUM} would not start headless: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()
