"""The compare view read at a glance: one row per scenario, each metric as baseline ->
current, its change and a mark, the failing rows marked. The terminal summary and
``memgate diff`` both draw it, so one change reads the same in both."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..findings import Finding, Metric
from ..units import format_percent, format_size

# The metrics a table can show, by the names ``--columns`` takes.
COLUMNS: dict[str, Metric] = {
    "heap-peak": Metric.HEAP_PEAK,
    "heap-growth": Metric.HEAP_GROWTH,
    "rss-peak": Metric.RSS_PEAK,
    "rss-growth": Metric.RSS_GROWTH,
}
DEFAULT_COLUMNS = ("heap-peak", "heap-growth", "rss-peak")
TITLES = {
    Metric.HEAP_PEAK: "heap peak",
    Metric.HEAP_GROWTH: "growth/call",
    Metric.RSS_PEAK: "RSS peak",
    Metric.RSS_GROWTH: "RSS growth/call",
}
_PER_CALL = (Metric.HEAP_GROWTH, Metric.RSS_GROWTH)

REGRESSED, UNPROVEN, IMPROVED = "!", "?", "v"
FAILING = "FAIL"
LEGEND = (
    f"marks: {REGRESSED} regression (proven), {UNPROVEN} past its tolerance, not proven, "
    f"{IMPROVED} improvement (proven); {FAILING}: the scenario fails"
)
SORTS = ("name", "verdict", "change")
# Most urgent first when sorted by verdict.
_URGENCY = (
    "regression",
    "error",
    "inconclusive",
    "not compared",
    "skipped",
    "improved",
    "new",
    "added",
    "removed",
)


@dataclass(frozen=True, slots=True)
class Cell:
    """One metric of one scenario: the two typical values, the change the test estimated."""

    metric: Metric
    baseline: float | None = None
    current: float | None = None
    change: float | None = None  # a ratio for peaks, a difference per call for growth
    mark: str = ""

    def span(self) -> str:
        """``1.25 -> 36.2 MiB``: the unit once when both sides share it."""
        signed = self.metric in _PER_CALL
        now = "-" if self.current is None else format_size(self.current, signed=signed)
        if self.baseline is None:
            return now
        was = format_size(self.baseline, signed=signed)
        was_number, _, was_unit = was.partition(" ")
        if now.partition(" ")[2] == was_unit:
            was = was_number
        return f"{was} -> {now}"

    def change_text(self) -> str:
        if self.change is None:
            return "-" + (f" {self.mark}" if self.mark else "")
        per_call = self.metric in _PER_CALL
        text = format_size(self.change, signed=True) if per_call else format_percent(self.change)
        return f"{text} {self.mark}" if self.mark else text

    def sort_value(self) -> float:
        """Changes of one metric side by side: relative for peaks, per call for growth."""
        if self.change is None:
            return float("-inf")
        return self.change if self.metric in _PER_CALL else self.change - 1.0


def mark_of(finding: Finding) -> str:
    if finding.regressed:
        return REGRESSED
    if finding.suspected:
        return UNPROVEN
    return IMPROVED if finding.improved else ""


def cells_from(findings: Iterable[Finding], current: Mapping[Metric, float | None]) -> dict[Metric, Cell]:
    """Each metric's cell from the findings that compared it: the baseline and the change as
    the test estimated them (the failure text shows the same numbers); a metric without a
    comparison (a new scenario) shows its current value alone."""
    cells = {metric: Cell(metric, current=value) for metric, value in current.items()}
    for finding in findings:
        comparison = finding.comparison
        if comparison is None or finding.metric not in COLUMNS.values():
            continue
        change = None if comparison.insufficient_data else comparison.ratio
        if finding.metric in _PER_CALL and change is not None:
            change = comparison.delta
        cells[finding.metric] = Cell(
            finding.metric,
            comparison.baseline,
            current.get(finding.metric, comparison.current),
            change,
            mark_of(finding),
        )
    return cells


@dataclass(frozen=True, slots=True)
class CompareRow:
    id: str
    verdict: str  # the words of the verdict column
    failing: bool
    cells: dict[Metric, Cell] = field(default_factory=dict)
    extra: tuple[str, ...] = ()  # columns after the metrics (the terminal's runs and shape)


def parse_columns(text: str) -> tuple[str, ...]:
    """``heap-peak,rss-growth`` or ``all``; a name not known is an error naming the known ones."""
    if text.strip() == "all":
        return tuple(COLUMNS)
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise ValueError(
            f"unknown column(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(COLUMNS)} "
            "(comma-separated) or all"
        )
    return names


def sort_rows(rows: Sequence[CompareRow], by: str, columns: Sequence[str]) -> list[CompareRow]:
    """``name``: by id; ``verdict``: failing and unclear first; ``change``: the biggest
    increase of the first column's metric first."""
    keys: dict[str, Callable[[CompareRow], tuple[object, ...]]] = {
        "name": lambda row: (row.id,),
        "verdict": lambda row: (_urgency(row), row.id),
        "change": lambda row: (-_change(row, COLUMNS[columns[0]]), row.id),
    }
    return sorted(rows, key=keys[by])


def _urgency(row: CompareRow) -> int:
    if row.failing:
        return -1
    word = row.verdict.split(" (")[0]
    return _URGENCY.index(word) if word in _URGENCY else len(_URGENCY)


def _change(row: CompareRow, metric: Metric) -> float:
    cell = row.cells.get(metric)
    return cell.sort_value() if cell is not None else float("-inf")


def table_rows(
    rows: Sequence[CompareRow], columns: Sequence[str], extra_header: Sequence[str] = ()
) -> list[tuple[str, ...]]:
    """The header and one row per scenario, for ``format_table``; a first column marks the
    failing rows when there are any."""
    metrics = [COLUMNS[name] for name in columns]
    flagged = any(row.failing for row in rows)
    header: list[str] = ["scenario", "verdict"]
    for metric in metrics:
        header += [TITLES[metric], "vs base"]
    out = [(*([""] if flagged else []), *header, *extra_header)]
    for row in rows:
        cells: list[str] = [*([FAILING if row.failing else ""] if flagged else []), row.id, row.verdict]
        for metric in metrics:
            cell = row.cells.get(metric, Cell(metric))
            cells += [cell.span(), cell.change_text()]
        out.append((*cells, *row.extra))
    return out
