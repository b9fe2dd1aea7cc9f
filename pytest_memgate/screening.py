"""The cheap first look: whether one cheap run (``backends.memray.measure_cheap``) is a clear
pass against the baseline's cheap runs, or why the full runs must judge the scenario.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from .model import RunSummary
from .results import Doubt, LevelTest, Metric, Outcome, RateTest, ScreenDoubt, Verdict
from .verdict import Policy

# The cheap first look (``screen_doubt``): pymalloc serves objects of up to 512 bytes, so a
# block more a call is at most that many bytes more a call; the block slope's upper end is
# its estimate plus this many standard errors.
PYMALLOC_MAX_BLOCK = 512
SCREEN_Z = 3.0


def screen_doubt(
    verdict: Verdict, current: Sequence[RunSummary], baseline: Sequence[RunSummary], policy: Policy
) -> ScreenDoubt | None:
    """Why a cheap first look (``backends.memray.measure_cheap``) is not a clear pass; None
    when it is.

    A cheap run's heap floor counts ``malloc``'s bytes, which do not include the small
    Python objects pymalloc keeps in its arenas. pymalloc's block count sees each of them,
    so the look passes only when the blocks a call, at their upper end, could add no more
    than the growth tolerance over the baseline's, even at 512 bytes a block. A heap figure
    that fell past its tolerance goes on too: the full runs can prove the improvement,
    and a release branch then records it, so the baseline tightens instead of keeping room
    for the old figure. Anything less clear goes to the full runs, which judge it; this
    never fails a scenario, so it spends none of the false-alarm rate (it can only cost
    power, which the detection benchmark measures)."""
    if verdict.outcome is not Outcome.PASS or verdict.needs_more_runs:
        return ScreenDoubt(Doubt.UNCLEAR)
    for finding in verdict.findings:
        evidence = finding.evidence
        fell = isinstance(evidence, (LevelTest, RateTest)) and evidence.fell
        if finding.metric in (Metric.HEAP_PEAK, Metric.HEAP_GROWTH) and fell:
            return ScreenDoubt(Doubt.IMPROVEMENT, finding)
    base = [r.blocks_growth for r in baseline if r.blocks_growth is not None]
    slopes = [(r.blocks_growth, r.blocks_growth_se or 0.0) for r in current if r.blocks_growth is not None]
    if not base or not slopes or len(slopes) < len(current):
        return ScreenDoubt(Doubt.BLOCKS, None, math.inf, math.inf)
    typical = statistics.median(base)
    high = max(slope + SCREEN_Z * se for slope, se in slopes)
    if (high - typical) * PYMALLOC_MAX_BLOCK > policy.growth_tolerance:
        return ScreenDoubt(Doubt.BLOCKS, None, high - typical, (high - typical) * PYMALLOC_MAX_BLOCK)
    return None
