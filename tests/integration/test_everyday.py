"""The plugin must not get in the way of ordinary pytest use."""

from __future__ import annotations

import pytest

from pytest_memgate.config import OPTIONS


def test_pytest_help_lists_every_option(pytester: pytest.Pytester) -> None:
    """argparse %-formats help strings: one bare '%' in an option's text broke --help."""
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    out = result.stdout.str()
    for option in OPTIONS:
        assert option.flag in out, option.flag
    assert "90% of the memory limit" in out
