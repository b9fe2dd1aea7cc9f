"""One error family, so the plugin and the CLI map failures to messages in one place."""

from __future__ import annotations


class MemgateError(Exception):
    """Base of every error the gate raises on purpose; its text is meant for users."""


class ConfigError(MemgateError):
    """A bad option, ``[tool.memgate]`` entry or ``memload`` argument."""


class BaselineError(MemgateError):
    """A baseline file that cannot be read or written; the file is never touched."""


class CorruptBaseline(BaselineError):
    """A baseline file whose content is not a baseline: ``--memgate-update`` moves it aside."""


class BackendUnavailable(MemgateError):
    """The requested measurement backend cannot run here."""
