"""What a verdict comes to in the session: an environment that fails its comparison, a
baseline entry that could not be compared, and the one rule for when a scenario fails its
pytest test.
"""

from __future__ import annotations

import enum
from dataclasses import replace

from .config import GateConfig
from .results import Outcome, Reason, Verdict


def environment_error(verdict: Verdict) -> Verdict:
    """``env_mismatch = "fail"``: a scenario not compared for its environment fails."""
    if verdict.outcome is Outcome.ERROR:
        return verdict
    return Verdict(Outcome.ERROR, (Reason.ENVIRONMENT,), verdict.findings)


class Failure(str, enum.Enum):
    VERDICT = "verdict"  # a regression, an error, or an inconclusive verdict under "fail"
    STRICT_NEW = "strict_new"  # no baseline, and --memgate-strict


def scenario_failure(
    outcome: Outcome, config: GateConfig, *, accepted: bool, updating: bool
) -> Failure | None:
    """The one rule for whether a scenario fails its pytest test.

    An accepted increase passes (it is recorded with its reason); errors always fail;
    ``inconclusive = "fail"`` fails unclear verdicts; ``--memgate-strict`` fails scenarios
    with no baseline unless this very run records them.
    """
    if outcome is Outcome.ERROR:
        return Failure.VERDICT
    if accepted:
        return None
    if outcome is Outcome.REGRESSION:
        return Failure.VERDICT
    if outcome is Outcome.INCONCLUSIVE and config.inconclusive == "fail":
        return Failure.VERDICT
    if outcome is Outcome.NEW and config.strict and not updating:
        return Failure.STRICT_NEW
    return None


def not_compared(verdict: Verdict) -> Verdict:
    """A scenario whose baseline entry could not be compared (another environment, backend
    or tracing mode) is visibly skipped, not "new": budgets and errors still count."""
    if verdict.outcome is not Outcome.NEW:
        return verdict
    return replace(verdict, outcome=Outcome.SKIPPED)
