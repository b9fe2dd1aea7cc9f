"""The report as one self-contained HTML page: a table that sorts and filters, and charts.

A reviewer of a red build opens one file from the CI's artifacts and sees what grew, where,
and what memory did over time against the baseline, without re-running anything. The
page works offline: no CDN, no fonts, no images; a Content-Security-Policy forbids every
fetch, so nothing a report holds can make the page reach the network.

Charts are SVG drawn here from the data, not a charting library: nothing to vendor, pin
or update, a few kilobytes per chart, crisp at any zoom, printable, and the page's text
diffs well. Series are thinned to a few hundred points that keep each stretch's extremes,
so a peak survives and the file stays small.

Like every renderer it works on the public ``--memgate-report`` document only (a saved
report renders the same) and decides nothing: the sentences come from ``words.py`` through
the document's ``message``, ``text`` and ``notes``.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..units import format_size
from .markdown import (
    FAILING,
    HEADER,
    SiteChange,
    compared,
    counts,
    number,
    site_changes,
    summary_rows,
    verdict_cell,
    visible,
)

POINTS = 300  # points per drawn series: enough for any screen, small enough to send
OTHER_RUN_POINTS = 120  # the faint lines of runs after the first
SITES_SHOWN = 10
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
Point = tuple[float, float]


def _e(value: object) -> str:
    """Escaped for HTML text and attribute values, control characters spelled out."""
    return html.escape(visible(value), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


# --- data --------------------------------------------------------------------------------


def thin(points: Sequence[Point], limit: int) -> list[Point]:
    """At most about ``limit`` points: each stretch keeps its lowest and highest point in
    order, so a line drawn through them shows every spike and trough of the original."""
    if len(points) <= limit:
        return list(points)
    buckets = max(limit // 2, 1)
    width = len(points) / buckets
    out: list[Point] = []
    for i in range(buckets):
        chunk = points[int(i * width) : max(int((i + 1) * width), int(i * width) + 1)]
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend(sorted({low, high}, key=lambda p: p[0]))
    return out


def _records(scenario: Mapping[str, Any]) -> list[Mapping[str, Any]]:
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


# --- axes and plots ----------------------------------------------------------------------


def _nice_step(span: float, count: int = 5) -> float:
    raw = span / max(count, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _byte_unit(high: float) -> tuple[float, str]:
    unit, name = 1.0, "B"
    for next_name in ("KiB", "MiB", "GiB", "TiB"):
        if abs(high) / unit < 1024:
            break
        unit, name = unit * 1024, next_name
    return unit, name


@dataclass
class Axis:
    low: float
    high: float
    ticks: list[tuple[float, str]]
    log: bool = False

    def fraction(self, value: float) -> float:
        if self.log:
            value, low, high = (math.log10(max(v, 1e-300)) for v in (value, self.low, self.high))
        else:
            low, high = self.low, self.high
        return 0.5 if high == low else (value - low) / (high - low)


def linear_axis(
    values: Iterable[float], *, unit: str = "", zero: bool = True, span: float = 0.0, tight: bool = False
) -> Axis:
    """Round ticks over the data (and zero); ``unit="bytes"`` labels them in KiB/MiB/GiB.
    ``span`` is the least range shown: a few bytes of jitter should look flat, not wild."""
    data = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    low, high = min(data), max(data)
    if zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high - low < span:
        middle = (high + low) / 2
        low, high = middle - span / 2, middle + span / 2
    if high == low:
        high = low + (abs(low) or 1.0)
    scale, name = _byte_unit(max(abs(low), abs(high))) if unit == "bytes" else (1.0, unit)
    step = _nice_step((high - low) / scale) * scale
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    if tight:  # the axis ends with the data; the ticks stay round
        first, last = low, high
    ticks = []
    value = math.ceil(first / step - 1e-9) * step
    while value <= last + step * 1e-6:
        label = f"{value / scale:.6g}"
        ticks.append((value, f"{label} {name}".strip()))
        value += step
    return Axis(first, last, ticks)


def log_axis(values: Iterable[float], *, unit: str = "") -> Axis:
    """Decade ticks (sizes) or powers of 4 (bytes), so a power law is a straight line."""
    data = [v for v in values if math.isfinite(v) and v > 0] or [1.0, 10.0]
    base = 4.0 if unit == "bytes" else 10.0
    low = base ** math.floor(math.log(min(data), base) + 1e-9)  # log(1000, 10) is 2.9999999999999996
    high = base ** math.ceil(math.log(max(data), base) - 1e-9)
    if high <= low:
        high = low * base
    ticks = []
    value = low
    while value <= high * 1.0001:
        ticks.append((value, format_size(value) if unit == "bytes" else _count(value)))
        value *= base
    return Axis(low, high, ticks, log=True)


def _count(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


@dataclass
class Plot:
    """An SVG chart in a 640x260 view box; CSS scales it to the page's width."""

    x: Axis
    y: Axis
    title: str
    width: int = 640
    height: int = 260
    left: int = 78
    right: int = 14
    top: int = 12
    bottom: int = 36
    x_label: str = ""
    parts: list[str] = field(default_factory=list)

    def px(self, value: float) -> float:
        return self.left + self.x.fraction(value) * (self.width - self.left - self.right)

    def py(self, value: float) -> float:
        return self.height - self.bottom - self.y.fraction(value) * (self.height - self.top - self.bottom)

    def _xy(self, points: Iterable[Point]) -> str:
        return " ".join(f"{_f(self.px(x))},{_f(self.py(y))}" for x, y in points)

    def line(self, points: Sequence[Point], css: str) -> None:
        if len(points) >= 2:
            self.parts.append(f'<polyline class="{css}" points="{self._xy(points)}"/>')
        elif points:
            self.dots(points, css)

    def area(self, points: Sequence[Point], css: str) -> None:
        """The region under a series, down to zero (or the axis' floor)."""
        if len(points) < 2:
            return
        base = max(self.y.low, 0.0) if not self.y.log else self.y.low
        outline = [(points[0][0], base), *points, (points[-1][0], base)]
        self.parts.append(f'<path class="{css}" d="M{self._xy(outline).replace(" ", "L")}Z"/>')

    def polygon(self, points: Sequence[Point], css: str) -> None:
        self.parts.append(f'<path class="{css}" d="M{self._xy(points).replace(" ", "L")}Z"/>')

    def dots(self, points: Iterable[Point], css: str, radius: float = 2.5) -> None:
        self.parts.extend(
            f'<circle class="{css}" cx="{_f(self.px(x))}" cy="{_f(self.py(y))}" r="{radius}"/>'
            for x, y in points
        )

    def hline(self, value: float, css: str, label: str) -> None:
        y = _f(self.py(value))
        right = self.width - self.right
        self.parts.append(f'<line class="{css}" x1="{self.left}" x2="{right}" y1="{y}" y2="{y}"/>')
        self.parts.append(
            f'<text class="tag" x="{right - 4}" y="{_f(self.py(value) - 4)}">{_e(label)}</text>'
        )

    def band(self, low: float, high: float, css: str) -> None:
        top, bottom = self.py(high), self.py(low)
        self.parts.append(
            f'<rect class="{css}" x="{self.left}" y="{_f(top)}" '
            f'width="{self.width - self.left - self.right}" height="{_f(max(bottom - top, 0.5))}"/>'
        )

    def vband(self, low: float, high: float, css: str) -> None:
        left, right = self.px(low), self.px(high)
        self.parts.append(
            f'<rect class="{css}" x="{_f(left)}" y="{self.top}" width="{_f(max(right - left, 0.5))}" '
            f'height="{self.height - self.top - self.bottom}"/>'
        )

    def render(self) -> str:
        grid = []
        for value, label in self.y.ticks:
            y = _f(self.py(value))
            grid.append(
                f'<line class="grid" x1="{self.left}" x2="{self.width - self.right}" y1="{y}" y2="{y}"/>'
            )
            grid.append(f'<text class="ytick" x="{self.left - 6}" y="{y}">{_e(label)}</text>')
        for value, label in self.x.ticks:
            x = _f(self.px(value))
            grid.append(
                f'<text class="xtick" x="{x}" y="{self.height - self.bottom + 16}">{_e(label)}</text>'
            )
        bottom = self.height - self.bottom
        grid.append(
            f'<line class="axis" x1="{self.left}" x2="{self.width - self.right}" '
            f'y1="{bottom}" y2="{bottom}"/>'
        )
        if self.x_label:
            grid.append(
                f'<text class="xlabel" x="{self.width - self.right}" y="{self.height - 2}">'
                f"{_e(self.x_label)}</text>"
            )
        return (
            f'<svg viewBox="0 0 {self.width} {self.height}" role="img" aria-label="{_e(self.title)}">'
            f"<title>{_e(self.title)}</title>{''.join(grid)}{''.join(self.parts)}</svg>"
        )


def _figure(plot: Plot, legend: Sequence[tuple[str, str]], note: str = "") -> str:
    keys = "".join(f'<span class="key"><i class="sw {css}"></i>{_e(text)}</span>' for css, text in legend)
    extra = f'<span class="key">{_e(note)}</span>' if note else ""
    caption = f"<figcaption><b>{_e(plot.title)}</b> {keys}{extra}</figcaption>"
    return f'<figure class="chart">{caption}{plot.render()}</figure>'


# --- the charts --------------------------------------------------------------------------


def _budget(scenario: Mapping[str, Any], name: str) -> float | None:
    spec = scenario.get("spec") or {}
    value = spec.get(name)
    return number(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _within_view(value: float | None, data_high: float) -> bool:
    return value is not None and value <= max(data_high, 1.0) * 2


def timeline_chart(scenario: Mapping[str, Any]) -> str:
    """Heap and RSS of the first run over time, the other runs' heap faint behind them, the
    baseline's peak as a band, and the ``max_peak`` budget when it is in view."""
    records = [r for r in _records(scenario) if r.get("timeline")]
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
    note = ""
    if budget is not None:
        if _within_view(budget, high):
            plot.hline(budget, "budget", f"max_peak {format_size(budget)}")
            legend.append(("budget", "budget"))
        else:
            note = f"max_peak {format_size(budget)} (above the chart)"
    return _figure(plot, legend, note)


def floor_chart(scenario: Mapping[str, Any]) -> str:
    """The heap after each measured call (the floor) with the growth the gate fitted, the
    baseline's growth from the same start, and the interval of the change as a fan."""
    records = [r for r in _records(scenario) if len(r.get("heap_floor_bytes") or ()) >= 2]
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
    return _figure(plot, legend)


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
                    number(r.get("peak_heap_bytes")) for r in _records(scenario) if r.get("status") == "ok"
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
    return _figure(plot, legend)


# --- tables and text ---------------------------------------------------------------------


def _sites_table(changes: Sequence[SiteChange], iterations: int | None) -> str:
    if not changes:
        return ""
    with_baseline = any(c.baseline_bytes is not None for c in changes)
    head = ["size", "allocations", "function", "where"]
    if changes[0].kind == "retained" and iterations:
        head.insert(1, "per call")
    if with_baseline:
        head += ["baseline", "change"]
    rows = []
    for change in changes[:SITES_SHOWN]:
        site = change.site
        stack = " < ".join(f"{f[0]} {f[1]}:{f[2]}" for f in site.get("stack") or () if len(f) == 3)
        cells = [format_size(change.size_bytes)]
        if "per call" in head and iterations:
            cells.append(format_size(change.size_bytes / iterations))
        cells.append(str(site.get("count", "")))
        cells += [str(site.get("function", "")), change.location]
        if with_baseline:
            base = change.baseline_bytes
            cells += [
                "-" if base is None else format_size(base),
                format_size(change.growth_bytes, signed=True),
            ]
        title = f' title="{_e(stack)}"' if stack else ""
        tds = "".join(
            f"<td{title if head[i] == 'where' else ''}>{_e(cell)}</td>" for i, cell in enumerate(cells)
        )
        rows.append(f"<tr>{tds}</tr>")
    heading = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table class="sites"><thead><tr>{heading}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _runs_table(scenario: Mapping[str, Any]) -> str:
    records = _records(scenario)
    if not records:
        return ""
    rows = []
    for i, r in enumerate(records, 1):
        error = str(r.get("error") or "").strip().splitlines()
        cells = (
            str(i),
            str(r.get("status", "")),
            format_size(number(r.get("peak_heap_bytes")) or 0),
            format_size(number(r.get("peak_rss_bytes")) or 0),
            f"{number(r.get('measured_s')) or 0:.2f} s",
            error[0] if error else "",
        )
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "status", "heap peak", "RSS peak", "measured", "error"))
    return (
        f'<details><summary>Runs ({len(records)})</summary><div class="scroll"><table class="runs">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _finding_state(finding: Mapping[str, Any]) -> tuple[str, str]:
    if finding.get("regressed"):
        return "bad", "regressed"
    if finding.get("improved"):
        return "good", "improved"
    if finding.get("ambiguous"):
        return "unclear", "not settled"
    return "ok", "within tolerance"


def _relative_href(name: str) -> str | None:
    """A link to a file beside the report, or None: never a URL or an absolute path."""
    if not name or _SCHEME.match(name) or name.startswith(("/", "\\")) or ".." in name.split("/"):
        return None
    return quote(name.replace("\\", "/"), safe="/-_.~")


def _section(
    document: Mapping[str, Any], scenario: Mapping[str, Any], index: int, flamegraph: str | None
) -> str:
    nodeid = str(scenario.get("id", ""))
    verdict = str(scenario.get("verdict", ""))
    parts = [
        f'<section class="scenario v-{_e(verdict)}" id="s{index}" data-id="{_e(nodeid)}" '
        f'data-verdict="{_e(verdict)}">',
        f'<h2><span class="badge v-{_e(verdict)}">{_e(verdict_cell(scenario))}</span> '
        f"<code>{_e(nodeid)}</code></h2>",
    ]
    facts = []
    if verdict != "error" or scenario.get("peak_bytes"):
        facts += [
            f"heap peak {format_size(number(scenario.get('peak_bytes')) or 0)}",
            f"growth {format_size(number(scenario.get('growth_bytes_per_call')) or 0, signed=True)}/call",
            f"RSS peak {format_size(number(scenario.get('rss_peak_bytes')) or 0)}",
        ]
    facts.append(f"{scenario.get('runs', 0)} run(s)")
    if scenario.get("shape"):
        facts.append(f"shape: {scenario['shape']}")
    baseline = scenario.get("baseline")
    if isinstance(baseline, Mapping):
        facts.append(
            f"baseline: {format_size(number(baseline.get('peak_bytes')) or 0)} peak, "
            f"{format_size(number(baseline.get('growth_bytes_per_call')) or 0, signed=True)}/call "
            f"over {baseline.get('runs', '?')} run(s)"
        )
    link = ""
    href = _relative_href(flamegraph) if flamegraph else None
    if href is not None:
        link = f' · <a class="flame" href="{_e(href)}">flame graph</a>'
    parts.append(f'<p class="facts">{" · ".join(_e(f) for f in facts)}{link}</p>')
    message = str(scenario.get("message") or "")
    if message:
        parts.append(f'<p class="message">{_e(message)}</p>')
    notes = [str(n) for n in scenario.get("notes") or ()]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    charts = [timeline_chart(scenario), floor_chart(scenario), scaling_chart(document, scenario)]
    drawn = [c for c in charts if c]
    if drawn:
        parts.append(f'<div class="charts">{"".join(drawn)}</div>')
    else:
        parts.append('<p class="empty">No measured series to chart.</p>')
    findings = [f for f in scenario.get("findings") or () if isinstance(f, Mapping)]
    if findings:
        items = []
        for f in findings:
            css, label = _finding_state(f)
            items.append(
                f'<li class="{css}"><b>{_e(f.get("metric", ""))}: {label}.</b> {_e(f.get("text", ""))}</li>'
            )
        parts.append(f'<h3>Findings</h3><ul class="findings">{"".join(items)}</ul>')
    records = _records(scenario)
    iterations = int(number(records[0].get("iterations")) or 0) if records else 0
    peak = _sites_table(site_changes(scenario, "peak"), None)
    if peak:
        parts.append(f"<h3>Largest allocations alive at the heap peak (run 1)</h3>{peak}")
    retained = _sites_table(site_changes(scenario, "retained"), iterations or None)
    if retained:
        parts.append(f"<h3>Still allocated after the {iterations} measured calls (run 1)</h3>{retained}")
    parts.append(_runs_table(scenario))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _summary_table(document: Mapping[str, Any]) -> str:
    head = "".join(f'<th><button type="button">{_e(h)}</button></th>' for h in HEADER)
    rows = []
    for index, row in enumerate(summary_rows(document), 1):
        cells = []
        for i, (cell, key) in enumerate(zip(row.cells, row.keys)):
            sort = key if isinstance(key, str) else ("-Infinity" if key == -math.inf else repr(key))
            text = f'<a href="#s{index}">{_e(cell)}</a>' if i == 0 else _e(cell)
            cells.append(f'<td data-v="{_e(sort)}">{text}</td>')
        rows.append(
            f'<tr class="v-{_e(row.verdict)}" data-id="{_e(row.id)}" data-verdict="{_e(row.verdict)}">'
            f"{''.join(cells)}</tr>"
        )
    return (
        f'<div class="scroll"><table id="summary"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _filters(document: Mapping[str, Any]) -> str:
    verdicts = dict.fromkeys(str(s.get("verdict", "")) for s in document.get("scenarios") or ())
    options = ['<option value="">all verdicts</option>']
    if any(v in FAILING for v in verdicts):
        options.append('<option value="failing">failing (regression, error)</option>')
    options += [f'<option value="{_e(v)}">{_e(v)}</option>' for v in verdicts]
    return (
        '<div class="controls"><label>Filter <input id="q" type="search" placeholder="scenario id" '
        'autocomplete="off"></label> <label>Verdict <select id="verdict">'
        f"{''.join(options)}</select></label></div>"
    )


def _meta(document: Mapping[str, Any]) -> str:
    parts = [f"memgate {document.get('memgate_version', '?')}", f"backend {document.get('backend', '?')}"]
    alpha = number(document.get("alpha"))
    if alpha is not None:
        parts.append(f"false-alarm rate {alpha:g} for the session")
    path = str(document.get("baseline_path") or "")
    if path and not path.startswith(("/", "\\", "~")) and not re.match(r"^[A-Za-z]:", path):
        parts.append(f"baseline {path}")
    return " · ".join(_e(p) for p in parts)


_CSS = """
:root{--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#fff;--bad:#cf222e;--good:#1a7f37;--warn:#9a6700;
--heap:#0969da;--rss:#e16f24;--base:#1a7f37;--fit:#8250df}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1180px;padding:12px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:0 0 .3em}h3{font-size:1em;margin:1em 0 .3em}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.meta,.facts,.empty,figcaption{color:var(--mute)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;overflow-wrap:normal;white-space:nowrap}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left}
td{font-variant-numeric:tabular-nums}
#summary th button{all:unset;cursor:pointer;font-weight:600}
#summary th[aria-sort=ascending] button::after{content:" \\25B2"}
#summary th[aria-sort=descending] button::after{content:" \\25BC"}
.controls{display:flex;flex-wrap:wrap;gap:8px 16px;margin:8px 0}
input,select{font:inherit;padding:2px 4px;max-width:100%}
.scenario{border-top:2px solid var(--line);margin-top:20px;padding-top:10px}
.badge{display:inline-block;padding:0 6px;border-radius:4px;background:#eaeef2;font-weight:600;font-size:.9em}
.badge.v-regression,.badge.v-error{background:var(--bad);color:#fff}
.badge.v-improved{background:var(--good);color:#fff}
.badge.v-inconclusive,.badge.v-skipped{background:#fff8c5;color:var(--warn)}
tr.v-regression td:nth-child(2),tr.v-error td:nth-child(2){color:var(--bad);font-weight:600}
.message{white-space:pre-wrap}
.findings li.bad{color:var(--bad)}.findings li.unclear{color:var(--warn)}.findings li.good{color:var(--good)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px}
figure{margin:0;min-width:0}figcaption{font-size:12px}
.key{display:inline-block;margin-right:10px;max-width:100%}
.sw{display:inline-block;width:14px;height:4px;margin:0 4px 3px 0;vertical-align:middle}
svg{width:100%;height:auto;display:block}
svg text{font:13px system-ui,sans-serif;fill:var(--mute)}
.ytick{text-anchor:end;dominant-baseline:middle}.xtick{text-anchor:middle}.xlabel,.tag{text-anchor:end}
.grid{stroke:#eef1f4}.axis{stroke:var(--line)}
polyline,.fit,.base-line,.budget,.prod{fill:none;stroke-width:1.6}
.heap{stroke:var(--heap)}.sw.heap{background:var(--heap)}
.heap-area{fill:var(--heap);opacity:.08}
.heap.other{stroke-width:1;opacity:.3}.sw.heap.other{opacity:.35}
.heap-dot{fill:var(--heap)}.sw.heap-dot{background:var(--heap)}
.rss{stroke:var(--rss)}.sw.rss{background:var(--rss)}
.base-band{fill:var(--base);opacity:.1}.sw.base-band{background:var(--base);opacity:.35;height:10px}
.base-line{stroke:var(--base);stroke-dasharray:6 4}.sw.base-line{background:var(--base)}
.fit{stroke:var(--fit);stroke-width:2}.sw.fit{background:var(--fit)}
.fit.extrapolated{stroke-dasharray:3 4}
.warm{fill:#8c959f;opacity:.12}.sw.warm{background:#8c959f;opacity:.4;height:10px}
.fan{fill:var(--fit);opacity:.15}.sw.fan{background:var(--fit);opacity:.3;height:10px}
.budget{stroke:var(--bad);stroke-dasharray:2 3}.sw.budget{background:var(--bad)}
.prod{stroke:var(--bad)}.prod-dot{fill:var(--bad)}.sw.prod-dot{background:var(--bad)}
a{color:var(--heap)}
@media print{.controls{display:none}.scroll{overflow:visible}details{display:block}}
"""

# Sorting and filtering: a few lines, no library. Keys are in data-v (numbers sort as numbers).
_JS = """
(function(){
var t=document.getElementById("summary");if(!t)return;
var heads=t.tHead.rows[0].cells,body=t.tBodies[0];
Array.prototype.forEach.call(heads,function(th,i){th.querySelector("button").addEventListener("click",function(){
var up=th.getAttribute("aria-sort")!=="ascending";
Array.prototype.forEach.call(heads,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",up?"ascending":"descending");
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(r,s){var x=r.cells[i].getAttribute("data-v"),y=s.cells[i].getAttribute("data-v");
var a=parseFloat(x),b=parseFloat(y),d=(isNaN(a)||isNaN(b))?x.localeCompare(y):(a===b?0:(a<b?-1:1));
return up?d:-d;});
rows.forEach(function(r){body.appendChild(r);});});});
var q=document.getElementById("q"),v=document.getElementById("verdict");
function show(){var text=q.value.toLowerCase(),want=v.value;
Array.prototype.forEach.call(document.querySelectorAll("[data-verdict]"),function(e){
var got=e.getAttribute("data-verdict"),fails=got==="regression"||got==="error";
e.hidden=!(e.getAttribute("data-id").toLowerCase().indexOf(text)>=0&&
(!want||got===want||(want==="failing"&&fails)));});}
q.addEventListener("input",show);v.addEventListener("change",show);
})();
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def render_html(document: Mapping[str, Any], *, flamegraphs: Mapping[str, str] | None = None) -> str:
    """One page for the whole report. ``flamegraphs`` maps a scenario id to a file name
    relative to the page (memray's flame graph kept beside it); anything else is not linked."""
    scenarios = [s for s in document.get("scenarios") or () if isinstance(s, Mapping)]
    links = flamegraphs or {}
    summary = counts(document)
    body = [
        "<header><h1>memgate report</h1>",
        f'<p class="meta">{_meta(document)}</p>',
        f"<p><b>{_e(summary)}</b></p></header>",
    ]
    if scenarios:
        body += [_filters(document), _summary_table(document)]
        body += [
            _section(document, s, i, links.get(str(s.get("id", "")))) for i, s in enumerate(scenarios, 1)
        ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>memgate report: {_e(summary)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )
