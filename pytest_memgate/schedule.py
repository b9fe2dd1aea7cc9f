"""When to look at a scenario's runs, and when to stop: the adaptive run loop, pure.

The session hands in how to get the next run and how to judge the runs so far; this
module decides only how many runs that takes, so the loop the gate really runs is the
one the calibration tests replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .results import LevelTest, Metric, Outcome, Verdict

R = TypeVar("R")


def look_schedule(runs: int, max_runs: int, first: int | None = None) -> list[int]:
    """Run counts at which the verdict is looked at: 1, 2, 4, 8 by default.

    ``first`` (``min_runs``) is an early look for clear passes: with a baseline's spread
    to compare against, one run can show that a heap stayed put. ``runs`` is the fewest
    runs a regression needs (see ``settled``). Each look spends part of the false-alarm
    rate, so after that the gate doubles the runs rather than looking after every one.
    """
    looks = [first] if first is not None and first < runs else []
    looks.append(runs)
    while looks[-1] < max_runs:
        looks.append(min(max_runs, looks[-1] * 2))
    return looks


def settled(verdict: Verdict, runs_done: int, confirm: int, last: bool) -> bool:
    """Whether the gate may stop here.

    A pass may stop after a single run, but a regression (or an improvement) must be seen
    in ``confirm`` runs: one run cannot tell a shifted scenario from one odd run (a resize
    or a collection at an unlucky moment), and a gate that fails builds on one odd run gets
    switched off.
    """
    if last:
        return True
    if verdict.outcome in (Outcome.REGRESSION, Outcome.IMPROVED):
        return runs_done >= confirm
    return not verdict.needs_more_runs


def stopped_for_futility(verdict: Verdict, runs_done: int, looks: Sequence[int]) -> bool:
    """Whether the runs ended before the last look on findings still open (see
    ``Finding.futile``): only a futility stop passes with open findings that early."""
    return (
        runs_done < looks[-1]
        and verdict.outcome in (Outcome.PASS, Outcome.IMPROVED)
        and any(f.ambiguous for f in verdict.findings)
    )


def held_back(verdict: Verdict) -> frozenset[Metric]:
    """Metrics whose increase is proven at this look but held back for confirmation: the
    current runs sit above the baseline's main level, which odd runs of an unchanged
    scenario could still explain (``verdict._judge_level``). Each later run confirms or
    clears them."""
    return frozenset(
        f.metric
        for f in verdict.findings
        if isinstance(f.evidence, LevelTest)
        and f.past_tolerance
        and not f.regressed
        and f.evidence.comparison.p_increase < f.evidence.alpha
    )


# Confirming runs may go on past the last look, up to this many times its runs: how many
# runs on a level the baseline never showed rule out odd runs depends on the session's
# size (``stats.odd_runs_needed``: 4 for one scenario, 12 for 200), and a deterministic
# increase that stopped at the last look would pass as inconclusive.
CONFIRM_BEYOND = 2


def confirming_runs(verdict: Verdict, metrics: frozenset[Metric]) -> int:
    """Runs in all that would confirm the held-back ``metrics`` if every one stays on its
    level (``LevelTest.unseen_runs``; 0 when none says)."""
    return max(
        (
            f.evidence.unseen_runs
            for f in verdict.findings
            if f.metric in metrics and isinstance(f.evidence, LevelTest)
        ),
        default=0,
    )


def run_until_settled(
    next_run: Callable[[], R],
    looks: Sequence[int],
    decide: Callable[[Sequence[R], bool], Verdict],
    *,
    confirm: int,
    failed: Callable[[R, int], Verdict | None] = lambda run, number: None,
    batch: Callable[[int], Sequence[R]] | None = None,
) -> tuple[list[R], Verdict]:
    """Take runs until a look settles the verdict or the last look is reached.

    ``decide(runs, final)`` judges the runs so far (``final`` at the last look, where
    ambiguity becomes inconclusive); ``failed(run, number)`` returns a verdict for a run
    that did not finish, which ends the loop at once.

    ``batch(count)`` takes ``count`` independent runs at once (in parallel), for the runs
    up to the next look: nothing is judged between looks unless an increase is held back
    for confirmation (then each run may settle it, and runs are taken one at a time), so
    the verdict is the one the runs taken singly would give. A batch may come back short
    only when its last run failed.

    An increase still held back at the last look takes confirming runs past it, up to the
    runs the odd-run rule needs (at most ``CONFIRM_BEYOND`` times the last look's): if
    every one stays on the level, the regression is confirmed; otherwise the last look's
    verdict (inconclusive) stands.
    """
    if not looks:
        raise ValueError("a look schedule needs at least one look")
    runs: list[R] = []
    verdict: Verdict | None = None
    pending: frozenset[Metric] = frozenset()
    ready: list[R] = []
    limit = looks[-1]
    while len(runs) < limit:
        if not ready:
            upcoming = min((look for look in looks if look > len(runs)), default=limit)
            count = 1 if pending or batch is None else upcoming - len(runs)
            ready = list(batch(count)) if batch is not None else [next_run()]
            if not ready:
                raise RuntimeError("a batch of runs came back empty")
        run = ready.pop(0)
        runs.append(run)
        stopped = failed(run, len(runs))
        if stopped is not None:
            return runs, stopped
        at_look = len(runs) in looks
        if not at_look and not pending:
            continue
        last = len(runs) >= looks[-1]
        if not at_look:
            # A confirming run spends no false-alarm rate: it can only confirm an increase
            # that a look already proved, never raise a new one.
            judged = decide(runs, last)
            if judged.outcome is Outcome.REGRESSION and pending & {f.metric for f in judged.regressed}:
                verdict = judged
                break
            pending = held_back(judged) & pending
            if last and not pending:
                break  # past the last look, a cleared increase leaves its verdict standing
            continue
        verdict = decide(runs, last)
        pending = held_back(verdict)
        if last and pending:
            needed = confirming_runs(verdict, pending)
            if len(runs) < needed <= CONFIRM_BEYOND * looks[-1]:
                limit = needed
                continue
        if settled(verdict, len(runs), confirm, last):
            break
    assert verdict is not None  # the last look always decides
    return runs, verdict
