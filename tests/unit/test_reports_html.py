"""The HTML report: a page that parses, draws every scenario, escapes the document and stays small.

The document is ``helpers.report_document``'s: a real session's report of a leak, a flat
scenario, a sized family and a crash, as the plugin builds it.
"""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers.report_document import (
    CRASH,
    EVIL,
    FLAT,
    PLANTED,
    PRODUCTION,
    SIZES,
    scenario,
    sized,
)

from pytest_memgate.reports.html import OTHER_RUN_POINTS, POINTS, render_html, thin
from pytest_memgate.reports.words import printable
from pytest_memgate.units import format_size


class Page(HTMLParser):
    """The page as the tests look at it: tags must nest, and what sits where is collected."""

    VOID = frozenset(
        {"meta", "link", "input", "br", "img", "hr", "line", "circle", "rect", "polyline", "path"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: dict[str, dict[str, list[str]]] = {}  # data-id -> geometry of its charts
        self.section: str | None = None
        self.summary_rows: list[str] = []
        self.in_summary = False
        self.attributes: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.attributes.extend((k, v or "") for k, v in attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "section":
            self.section = a.get("data-id")
            self.sections[self.section or ""] = {"points": [], "d": [], "circles": [], "svgs": []}
        if tag == "table" and a.get("id") == "summary":
            self.in_summary = True
        if tag == "tr" and self.in_summary and "data-id" in a:
            self.summary_rows.append(a["data-id"])
        if self.section is not None:
            geometry = self.sections[self.section]
            if tag == "svg":
                geometry["svgs"].append(a.get("viewbox", ""))
            if tag == "polyline":
                geometry["points"].append(a.get("points", ""))
            if tag == "path":
                geometry["d"].append(a.get("d", ""))
            if tag == "circle":
                geometry["circles"].append(a.get("cx", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "section":
            self.section = None
        if tag == "table":
            self.in_summary = False


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    return page


def section_of(text: str, nodeid: str) -> str:
    """The scenario's ``<section>`` of the page."""
    start = text.index('<section class="scenario v-')
    start = text.index(f'data-id="{html.escape(printable(nodeid, layout=True), quote=True)}"', start)
    return text[start : text.index("</section>", start)]


def test_the_page_parses_with_one_row_and_one_section_per_scenario(document: dict[str, Any]) -> None:
    text = render_html(document)
    page = parse(text)
    ids = [s["id"] for s in document["scenarios"]]
    assert len(ids) == 6
    shown = [printable(i, layout=True) for i in ids]  # control characters are spelled out, even in attributes
    assert page.summary_rows == shown
    assert list(page.sections) == shown
    assert page.scripts == 1  # ours; the evil id's <script> is text
    assert text.startswith("<!DOCTYPE html>")


def test_every_measured_scenario_has_a_chart_drawn_from_its_data(document: dict[str, Any]) -> None:
    page = parse(render_html(document))
    for s in document["scenarios"]:
        geometry = page.sections[printable(s["id"], layout=True)]
        if not any(r.get("timeline") for r in s["run_records"]):
            assert s["id"] == CRASH and geometry["svgs"] == []
            continue
        assert len(geometry["svgs"]) >= 2, s["id"]  # the run over time and the floor
        drawn = [p for p in geometry["points"] if len(p.split()) >= 2]
        assert drawn and all(re.fullmatch(r"[-\d.]+,[-\d.]+( [-\d.]+,[-\d.]+)+", p) for p in drawn)
        assert all(len(p.split()) <= POINTS + 2 for p in geometry["points"])  # thinned to a few hundred


def test_the_page_shows_the_baseline_the_sites_and_the_findings(document: dict[str, Any]) -> None:
    text = render_html(document)
    leak = section_of(text, EVIL)
    assert 'class="base-band"' in leak and "baseline peak" in leak
    assert 'class="fan"' in leak  # the interval of the growth change
    assert "app/cache.py:58" in leak
    assert "Still allocated after the 20 measured calls (run 1)" in leak
    growth = next(f for f in scenario(document, EVIL)["findings"] if f["metric"] == "heap growth")
    assert growth["regressed"] and growth["text"].split(" (")[0] in leak


def test_a_sized_family_is_drawn_on_log_axes_with_its_fit_and_production_point(
    document: dict[str, Any],
) -> None:
    last = scenario(document, sized(SIZES[-1]))
    scaling = last["scaling"]
    assert scaling["sizes"] == list(SIZES) and scaling["production_size"] == PRODUCTION
    page = parse(render_html(document))
    geometry = page.sections[printable(sized(SIZES[-1]), layout=True)]
    assert len(geometry["svgs"]) == 3
    runs = sum(len(scenario(document, sized(n))["run_records"]) for n in SIZES)
    text = render_html(document)
    section = section_of(text, sized(SIZES[-1]))
    assert "Heap peak against payload size (log-log)" in section
    assert section.count('class="prod-dot"') == 1
    assert section.count('class="heap-dot"') >= runs
    assert f"fitted n^{scaling['exponent']:.2f}" in section
    assert f"baseline n^{scaling['baseline_exponent']:.2f}" in section
    # The other sizes draw no scaling chart: the fit is set on the family's last size.
    assert len(page.sections[sized(SIZES[0])]["svgs"]) == 2


def test_everything_from_the_document_is_escaped(document: dict[str, Any]) -> None:
    text = render_html(document, flamegraphs={EVIL: 'flame "<x>".html'})
    assert "<script>alert" not in text and "\x1b" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\\x1b[31m" in text
    assert 'href="flame%20%22%3Cx%3E%22.html"' in text
    parse(text)


def test_the_page_reaches_for_nothing_outside_itself(document: dict[str, Any]) -> None:
    links = {
        EVIL: "memgate-captures/leak.html",
        FLAT: "https://example.invalid/x.html",
        sized(SIZES[0]): "/abs/flame.html",
        sized(SIZES[1]): "../up.html",
        CRASH: "javascript:alert(1)",
    }
    text = render_html(document, flamegraphs=links)
    assert "http://" not in text and "https://" not in text and "javascript:" not in text
    assert "default-src 'none'" in text  # the page may not fetch anything, whatever it holds
    page = parse(text)
    refs = [v for k, v in page.attributes if k in ("href", "src", "action", "xlink:href")]
    assert "memgate-captures/leak.html" in refs
    assert all(ref.startswith("#") or ref == "memgate-captures/leak.html" for ref in refs), refs
    assert not any(k == "src" for k, _ in page.attributes)


def test_no_absolute_path_or_environment_value_of_the_machine(
    document: dict[str, Any], tmp_path: Path
) -> None:
    assert document["baseline_path"] == ".memgate/baseline.json"  # relative to the rootdir
    text = render_html(document)
    assert str(tmp_path) not in text and str(tmp_path) not in json.dumps(document)
    assert "/usr/lib/python3/site-packages" in json.dumps(document)  # a site, shown as given
    for key in ("python", "platform", "machine", "memray"):
        value = str(document["environment"].get(key) or "")
        assert not value or f">{value}<" not in text


def test_the_file_stays_small(document: dict[str, Any]) -> None:
    """Six scenarios with 1,500-sample timelines and several runs each: well under 1 MB."""
    size = len(render_html(document).encode())
    assert size < 300_000, size


def test_thinning_keeps_every_extreme_in_order() -> None:
    points = [(float(i), float((i * 37) % 101)) for i in range(5000)]
    points[2345] = (2345.0, 1e9)
    points[4000] = (4000.0, -1e9)
    kept = thin(points, 300)
    assert len(kept) <= 300
    assert (2345.0, 1e9) in kept and (4000.0, -1e9) in kept
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert thin(points[:10], OTHER_RUN_POINTS) == points[:10]


def test_baseline_sites_are_shown_when_the_document_has_them(document: dict[str, Any]) -> None:
    """``scenario["baseline"]`` may carry the baseline's sites (``peak_sites``/``retained_sites``)."""
    doc = copy.deepcopy(document)
    leak = scenario(doc, EVIL)
    leak["baseline"]["retained_sites"] = [
        {"function": "quote", "filename": PLANTED[0], "lineno": PLANTED[1], "size_bytes": 512, "count": 4}
    ]
    text = render_html(doc)
    section = section_of(text, EVIL)
    section = section[section.index("Still allocated after") :]
    assert "<th>baseline</th><th>change</th>" in section[: section.index("</table>")]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"scenarios": []},
        {"scenarios": [{"id": "a.py::t", "verdict": "pass"}]},
        {
            "scenarios": [
                {"id": "a.py::t", "verdict": "new", "runs": 1, "peak_bytes": None, "run_records": [{}]}
            ]
        },
        {
            "scenarios": [
                {
                    "id": "a.py::t",
                    "verdict": "pass",
                    "runs": 1,
                    "scaling": {"family": "a.py::t", "sizes": [1, 2], "exponent": None},
                    "run_records": [{"timeline": [[0, 1, 2]], "heap_floor_bytes": [5, 5, 5]}],
                }
            ]
        },
    ],
)
def test_sparse_documents_render(doc: dict[str, Any]) -> None:
    parse(render_html(doc))


def test_invisible_marks_that_reorder_text_are_spelled_out() -> None:
    """A right-to-left override (U+202E) in an id would make it read as another name."""
    text = render_html({"scenarios": [{"id": "t.py::test_a\u202e\u2028x", "verdict": "pass", "runs": 0}]})
    assert "\u202e" not in text and "\u2028" not in text
    assert "t.py::test_a\\u202e\\u2028x" in text


def test_the_verdict_reads_in_short_sentences_with_counts_in_words(document: dict[str, Any]) -> None:
    """One sentence per finding that decided the verdict (the tests stay under Findings),
    ``1 run`` rather than ``1 run(s)``, and the chart says why its RSS reads higher than the
    RSS peak the gate compares."""
    text = render_html(document)
    leak = section_of(text, EVIL)
    verdict = leak[
        leak.index('<div class="verdict">') : leak.index("</div>", leak.index('<div class="verdict">'))
    ]
    sentences = re.findall(r"<p[^>]*>(.*?)</p>", verdict)
    assert sentences[0].startswith("Heap growth per call went from +") and sentences[0].endswith(
        "baseline runs."
    )
    assert sentences[1].startswith("RSS growth per call went from +")
    assert sentences[2].startswith("Also past its tolerance, not yet proven: heap peak grew from ")
    assert sentences[-1] == "The tests behind each are under Findings."
    assert not any("one-sided" in s for s in sentences)
    assert "1 run(s)" not in text and "run(s)" not in leak
    single = next(s for s in document["scenarios"] if s["runs"] == 1 and s["verdict"] == "pass")
    assert " · 1 run · " in section_of(text, single["id"])
    rss = format_size(scenario(document, EVIL)["rss_peak_bytes"])
    assert (
        f"RSS here includes the tracker&#x27;s own memory; the RSS peak ({rss}) the gate compares is "
        "measured in a separate run without the tracker" in leak
    )
