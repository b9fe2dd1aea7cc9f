"""The HTML report's charts, each drawn from one scenario of the public report document:
memory over the run, the heap floor per call with the fitted growth, and the peak against
payload size for ``sizes=[...]`` families."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from ..units import format_size
from .document import compared, number
from .html_svg import Plot, Point, figure, linear_axis, log_axis, thin

POINTS = 300  # points per drawn series: enough for any screen, small enough to send
OTHER_RUN_POINTS = 120  # the faint lines of runs after the first


def run_records(scenario: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in scenario.get("run_records") or () if isinstance(r, Mapping)]


def _timeline(record: Mapping[str, Any]) -> tuple[list[Point], list[Point]]:
    """(heap, RSS) over seconds from the run's first sample."""
    heap: list[Point] = []
    rss: list[Point] = []
    samples = [p for p in record.get("timeline") or () if isinstance(p, (list, tuple)) and len(p) == 3]
    start = number(samples[0][0]) if samples else None
    for t, h, r in samples:
        seconds = number(t)
        if seconds is None or start is None:
            continue
        if (value := number(h)) is not None:
            heap.append((seconds - start, value))
        if (value := number(r)) is not None:
            rss.append((seconds - start, value))
    return heap, rss


def _floor(record: Mapping[str, Any]) -> list[Point]:
    return [
        (float(i), value)
        for i, raw in enumerate(record.get("heap_floor_bytes") or ())
        if (value := number(raw)) is not None
    ]


def _budget(scenario: Mapping[str, Any], name: str) -> float | None:
    spec = scenario.get("spec") or {}
    value = spec.get(name)
    return number(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _within_view(value: float | None, data_high: float) -> bool:
    return value is not None and value <= max(data_high, 1.0) * 2


def timeline_chart(scenario: Mapping[str, Any]) -> str:
    """Heap and RSS of the first run over time, the other runs' heap faint behind them, the
    baseline's peak as a band, and the ``max_peak`` budget when it is in view."""
    records = [r for r in run_records(scenario) if r.get("timeline")]
    if not records:
        return ""
    heap, rss = _timeline(records[0])
    if not any(y for _, y in rss):
        rss = []  # a backend without RSS samples (tracemalloc) writes zeros
    others = [thin(_timeline(r)[0], OTHER_RUN_POINTS) for r in records[1:8]]
    heap, rss = thin(heap, POINTS), thin(rss, POINTS)
    baseline = number((scenario.get("baseline") or {}).get("peak_bytes"))
    budget = _budget(scenario, "max_peak")
    values = [y for series in (heap, rss, *others) for _, y in series]
    high = max(values, default=0.0)
    extra = [v for v in (baseline, budget if _within_view(budget, high) else None) if v is not None]
    plot = Plot(
        linear_axis([x for series in (heap, rss, *others) for x, _ in series], unit="s", tight=True),
        linear_axis([*values, *extra], unit="bytes"),
        "Heap and RSS over the run",
        x_label="seconds (run 1)",
    )
    legend = [("heap", "heap (run 1)")]
    if rss:
        legend.append(("rss", "RSS with the tracker's own memory"))
    # The timeline starts with the warm-up calls; the measured calls took its last measured_s.
    end = heap[-1][0] if heap else 0.0
    measured = number(records[0].get("measured_s"))
    if measured is not None and 0 < measured < end:
        plot.vband(0.0, end - measured, "warm")
        legend.append(("warm", "warm-up"))
    if baseline is not None:
        plot.band(0.0, baseline, "base-band")
        plot.hline(baseline, "base-line", f"baseline peak {format_size(baseline)}")
        legend.append(("base-band", "baseline peak"))
    for series in others:
        plot.line(series, "heap other")
    if others:
        legend.append(("heap other", "heap, other runs"))
    plot.area(heap, "heap-area")
    plot.line(heap, "heap")
    plot.line(rss, "rss")
    notes = []
    if budget is not None:
        if _within_view(budget, high):
            plot.hline(budget, "budget", f"max_peak {format_size(budget)}")
            legend.append(("budget", "budget"))
        else:
            notes.append(f"max_peak {format_size(budget)} (above the chart)")
    if rss:
        # The heap is measured under the tracker; the RSS figures the gate judges come from a
        # run of their own without it, so this line reads higher than the RSS peak beside it.
        rss_peak = number(scenario.get("rss_peak_bytes"))
        judged = f" ({format_size(rss_peak)})" if rss_peak else ""
        notes.append(
            f"RSS here includes the tracker's own memory; the RSS peak{judged} the gate compares is "
            "measured in a separate run without the tracker"
        )
    return figure(plot, legend, "; ".join(notes))


def floor_chart(scenario: Mapping[str, Any]) -> str:
    """The heap after each measured call (the floor) with the growth the gate fitted, the
    baseline's growth from the same start, and the interval of the change as a fan."""
    records = [r for r in run_records(scenario) if len(r.get("heap_floor_bytes") or ()) >= 2]
    if not records:
        return ""
    first = _floor(records[0])
    runs = [thin(_floor(r), OTHER_RUN_POINTS) for r in records[1:8]]
    calls = first[-1][0]
    slope = number(scenario.get("growth_bytes_per_call")) or 0.0
    start = statistics.median(y - slope * x for x, y in first)
    lines: list[tuple[str, list[Point]]] = [("fit", [(0.0, start), (calls, start + slope * calls)])]
    legend = [
        ("heap", "heap floor (run 1)"),
        ("fit", f"fitted growth {format_size(slope, signed=True)}/call"),
    ]
    base_slope = number((scenario.get("baseline") or {}).get("growth_bytes_per_call"))
    fan: list[Point] = []
    if base_slope is not None:
        lines.append(("base-line", [(0.0, start), (calls, start + base_slope * calls)]))
        legend.append(("base-line", f"baseline growth {format_size(base_slope, signed=True)}/call"))
        growth = compared(scenario, "heap growth")
        interval = [number(v) for v in (growth or {}).get("delta_ci") or ()]
        if len(interval) == 2 and None not in interval:
            low, high = (base_slope + d for d in interval if d is not None)
            fan = [(0.0, start), (calls, start + low * calls), (calls, start + high * calls)]
            legend.append(("fan", "95% interval of the growth"))
    if runs:
        legend.append(("heap other", "other runs"))
    values = [y for series in (first, *runs, *(p for _, p in lines), fan) for _, y in series]
    plot = Plot(
        linear_axis([0.0, calls], tight=True),
        linear_axis(values, unit="bytes", zero=False, span=max(64 * 1024, 0.02 * max(map(abs, values)))),
        "Heap floor after each measured call",
        x_label="measured calls",
    )
    if fan:
        plot.polygon(fan, "fan")
    for series in runs:
        plot.line(series, "heap other")
    shown = thin(first, POINTS)
    plot.line(shown, "heap")
    if len(shown) <= 120:
        plot.dots(shown, "heap-dot", 2.0)
    for css, points in lines:
        plot.line(points, css)
    return figure(plot, legend)


def _family_members(document: Mapping[str, Any], scaling: Mapping[str, Any]) -> list[Point]:
    """(size, heap peak) of every successful run of every size in the family."""
    family = str(scaling.get("family", ""))
    sizes = [int(n) for n in scaling.get("sizes") or () if number(n)]
    points: list[Point] = []
    for scenario in document.get("scenarios") or ():
        nodeid = str(scenario.get("id", ""))
        for n in sizes:
            stripped = nodeid.replace(f"n={n}-", "").replace(f"-n={n}", "").replace(f"[n={n}]", "")
            if stripped == family and stripped != nodeid:
                peaks = [
                    number(r.get("peak_heap_bytes")) for r in run_records(scenario) if r.get("status") == "ok"
                ]
                found = [p for p in peaks if p is not None and p > 0]
                if not found and (peak := number(scenario.get("peak_bytes"))):
                    found = [peak]
                points.extend((float(n), p) for p in found)
    return points


def scaling_chart(document: Mapping[str, Any], scenario: Mapping[str, Any]) -> str:
    """Peak against payload size on log-log axes: the runs, the fitted power law through
    their geometric mean, the baseline's exponent for comparison, and the production
    extrapolation with its 95% upper bound."""
    scaling = scenario.get("scaling")
    if not isinstance(scaling, Mapping):
        return ""
    exponent = number(scaling.get("exponent"))
    points = _family_members(document, scaling)
    production = number(scaling.get("production_size"))
    prod_peak = number(scaling.get("production_peak_bytes"))
    prod_upper = number(scaling.get("production_peak_upper_bytes"))
    if points:
        log_n = statistics.fmean(math.log(n) for n, _ in points)
        log_p = statistics.fmean(math.log(p) for _, p in points)
    elif production and prod_peak and exponent is not None:
        log_n, log_p = math.log(production), math.log(prod_peak)
    else:
        return ""
    sizes = [n for n, _ in points] or [production or 1.0]
    low_n, high_n = min(sizes), max(sizes)
    far_n = max(high_n, production or 0.0)

    def law(n: float, b: float) -> float:
        return math.exp(log_p + b * (math.log(n) - log_n))

    legend = [("heap-dot", "heap peak of each run")]
    curves: list[tuple[str, list[Point]]] = []
    if exponent is not None:
        curves.append(("fit", [(low_n, law(low_n, exponent)), (high_n, law(high_n, exponent))]))
        legend.append(("fit", f"fitted n^{exponent:.2f}"))
        if far_n > high_n:
            curves.append(
                ("fit extrapolated", [(high_n, law(high_n, exponent)), (far_n, law(far_n, exponent))])
            )
    base_exponent = number(scaling.get("baseline_exponent"))
    if base_exponent is not None:
        curves.append(("base-line", [(low_n, law(low_n, base_exponent)), (far_n, law(far_n, base_exponent))]))
        legend.append(("base-line", f"baseline n^{base_exponent:.2f} (slope only)"))
    values = [p for _, p in points] + [y for _, c in curves for _, y in c]
    values += [v for v in (prod_peak, prod_upper) if v]
    plot = Plot(
        log_axis([*sizes, far_n]),
        log_axis(values, unit="bytes"),
        "Heap peak against payload size (log-log)",
        x_label="payload size n",
    )
    for css, curve in curves:
        plot.line(curve, css)
    plot.dots(points, "heap-dot", 3.0)
    if production and prod_peak:
        if prod_upper and prod_upper > prod_peak:
            plot.line([(production, prod_peak), (production, prod_upper)], "prod")
        plot.dots([(production, prod_peak)], "prod-dot", 4.5)
        upper = f", 95% upper {format_size(prod_upper)}" if prod_upper else ""
        legend.append(("prod-dot", f"at production size {production:,.0f}: {format_size(prod_peak)}{upper}"))
    return figure(plot, legend)
