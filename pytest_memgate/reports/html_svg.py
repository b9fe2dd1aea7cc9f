"""SVG drawing for the HTML report: axes with round ticks, a plot that maps data to a view box.

Charts are SVG drawn here from the data, not a charting library: nothing to vendor, pin
or update, a few kilobytes per chart, crisp at any zoom, printable, and the page's text
diffs well. Series are thinned to a few hundred points that keep each stretch's extremes,
so a peak survives and the file stays small.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..units import format_size
from .words import printable

Point = tuple[float, float]


def esc(value: object) -> str:
    """Escaped for HTML text and attribute values, control characters spelled out."""
    return html.escape(printable(value, layout=True), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


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
            f'<text class="tag" x="{right - 4}" y="{_f(self.py(value) - 4)}">{esc(label)}</text>'
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
            grid.append(f'<text class="ytick" x="{self.left - 6}" y="{y}">{esc(label)}</text>')
        for value, label in self.x.ticks:
            x = _f(self.px(value))
            grid.append(
                f'<text class="xtick" x="{x}" y="{self.height - self.bottom + 16}">{esc(label)}</text>'
            )
        bottom = self.height - self.bottom
        grid.append(
            f'<line class="axis" x1="{self.left}" x2="{self.width - self.right}" '
            f'y1="{bottom}" y2="{bottom}"/>'
        )
        if self.x_label:
            grid.append(
                f'<text class="xlabel" x="{self.width - self.right}" y="{self.height - 2}">'
                f"{esc(self.x_label)}</text>"
            )
        return (
            f'<svg viewBox="0 0 {self.width} {self.height}" role="img" aria-label="{esc(self.title)}">'
            f"<title>{esc(self.title)}</title>{''.join(grid)}{''.join(self.parts)}</svg>"
        )


def figure(plot: Plot, legend: Sequence[tuple[str, str]], note: str = "") -> str:
    keys = "".join(f'<span class="key"><i class="sw {css}"></i>{esc(text)}</span>' for css, text in legend)
    extra = f'<span class="key">{esc(note)}</span>' if note else ""
    caption = f"<figcaption><b>{esc(plot.title)}</b> {keys}{extra}</figcaption>"
    return f'<figure class="chart">{caption}{plot.render()}</figure>'
