"""The HTML report in a real browser: it loads offline, draws, sorts, filters and fits a phone.

One Chromium for the module (about a second to start); each check opens the file afresh.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.report_document import EVIL, report_document, scenario

from pytest_memgate.reports.html import render_html

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("browser")
    document = report_document(root)
    path = root / "memgate-report.html"
    path.write_text(render_html(document, flamegraphs={EVIL: "memgate-captures/leak.html"}), encoding="utf-8")
    return path, document


@pytest.fixture
def page(browser: Any, report: tuple[Path, dict[str, Any]]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def open_report(page: Any, path: Path) -> dict[str, list[str]]:
    """Load the file and collect what the page said and asked for while loading."""
    seen: dict[str, list[str]] = {"errors": [], "requests": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return seen


def test_the_page_loads_offline_with_no_error(page: Any, report: tuple[Path, dict[str, Any]]) -> None:
    path, _ = report
    seen = open_report(page, path)
    page.wait_for_timeout(200)  # anything late (a font, an image) would be requested by now
    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()]


def test_every_measured_scenario_has_drawn_its_charts(page: Any, report: tuple[Path, dict[str, Any]]) -> None:
    path, document = report
    open_report(page, path)
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll("section.scenario")).map(section => {
            const shapes = Array.from(section.querySelectorAll("svg polyline, svg path, svg circle"));
            const sized = shapes.filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; });
            return [section.dataset.id, section.querySelectorAll("svg").length, sized.length];
        })"""
    )
    measured = [s for s in document["scenarios"] if any(r.get("timeline") for r in s["run_records"])]
    assert len(drawn) == len(document["scenarios"]) and len(measured) == len(drawn) - 1
    for _, svgs, shapes in drawn:
        assert svgs == 0 or shapes >= svgs  # every chart drew something with an area or a length
    assert sum(1 for _, svgs, _ in drawn if svgs >= 2) == len(measured)


def _column(page: Any, index: int) -> list[str]:
    return list(
        page.eval_on_selector_all(
            "#summary tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('data-v'))"
        )
    )


def test_clicking_a_header_sorts_the_rows(page: Any, report: tuple[Path, dict[str, Any]]) -> None:
    path, _ = report
    open_report(page, path)
    before = _column(page, 2)
    page.click("#summary th:nth-child(3) button")  # heap peak
    ascending = _column(page, 2)
    assert sorted(ascending, key=float) == ascending != before
    assert page.get_attribute("#summary th:nth-child(3)", "aria-sort") == "ascending"
    page.click("#summary th:nth-child(3) button")
    assert _column(page, 2) == sorted(before, key=float, reverse=True)
    page.click("#summary th:nth-child(1) button")  # by id, as text
    ids = _column(page, 0)
    assert ids == sorted(ids, key=str.lower) or ids == sorted(ids)


def test_the_filters_hide_rows_and_sections(page: Any, report: tuple[Path, dict[str, Any]]) -> None:
    path, document = report
    open_report(page, path)
    visible = "els => els.filter(e => !e.hidden).length"
    page.fill("#q", "test_sizes")
    assert page.eval_on_selector_all("#summary tbody tr", visible) == 3
    assert page.eval_on_selector_all("section.scenario", visible) == 3
    page.fill("#q", "")
    page.select_option("#verdict", "failing")
    failing = sum(1 for s in document["scenarios"] if s["fails"])
    assert page.eval_on_selector_all("#summary tbody tr", visible) == failing


def test_the_failing_filter_and_mark_follow_the_gate_not_the_verdict(
    page: Any, report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """An accepted increase is a regression that passes its test: not failing, not marked."""
    _, document = report
    accepted = copy.deepcopy(document)
    scenario(accepted, EVIL).update(fails=False, failure=None)
    path = tmp_path / "accepted.html"
    path.write_text(render_html(accepted), encoding="utf-8")
    open_report(page, path)
    page.select_option("#verdict", "failing")
    rows = page.eval_on_selector_all(
        "#summary tbody tr",
        """rows => rows.map(r => ({
          id: r.getAttribute("data-id"), shown: !r.hidden, mark: getComputedStyle(r.cells[0]).boxShadow,
        }))""",
    )
    failing = [s["id"] for s in accepted["scenarios"] if s["fails"]]
    assert EVIL not in failing and failing
    assert [r["id"] for r in rows if r["shown"]] == failing
    assert [r["id"] for r in rows if r["mark"] != "none"] == failing


def test_at_a_phones_width_only_the_tables_scroll(browser: Any, report: tuple[Path, dict[str, Any]]) -> None:
    path, _ = report
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(path.as_uri(), wait_until="load")
        widths = phone.evaluate(
            """() => {
              const right = e => e.getBoundingClientRect().right;
              return {
                page: document.documentElement.scrollWidth,
                body: document.body.scrollWidth,
                view: window.innerWidth,
                table: document.querySelector("#summary").scrollWidth,
                box: document.querySelector("#summary").parentElement.clientWidth,
                svg: Math.max(...Array.from(document.querySelectorAll("svg"), right)),
              };
            }"""
        )
        # A phone widens its layout viewport to content that overflows: it must stay at 390.
        assert widths["view"] == PHONE["width"], widths
        assert widths["page"] <= widths["view"] and widths["body"] <= widths["view"], widths
        assert widths["svg"] <= widths["view"], widths  # charts scale down with their viewBox
        assert widths["table"] > widths["box"], widths  # the table is wider, and scrolls in its box
    finally:
        context.close()


def _open_at(browser: Any, path: Path, width: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    opened.goto(path.as_uri(), wait_until="load")
    return context, opened


def test_at_a_desktops_width_the_whole_table_shows(browser: Any, report: tuple[Path, dict[str, Any]]) -> None:
    """At 1400 px no column is cut off: long ids wrap in their cell instead of pushing the
    shape column out of the box."""
    path, _ = report
    context, desktop = _open_at(browser, path, 1400)
    try:
        sizes = desktop.evaluate(
            """() => {
              const t = document.querySelector("#summary");
              const last = t.tHead.rows[0].cells[t.tHead.rows[0].cells.length - 1];
              return {table: t.scrollWidth, box: t.parentElement.clientWidth,
                      shape: last.getBoundingClientRect().right, view: window.innerWidth,
                      header: last.textContent};
            }"""
        )
        assert sizes["header"] == "shape"
        assert sizes["table"] <= sizes["box"], sizes  # nothing to scroll to
        assert sizes["shape"] <= sizes["view"], sizes
    finally:
        context.close()


def test_at_a_phones_width_the_failing_rows_show_their_verdict(
    browser: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    """At 400 px the id wraps and the verdict column stays in view, and a failing row is
    marked on its id cell, so which rows fail reads without scrolling."""
    path, document = report
    context, phone = _open_at(browser, path, 400)
    try:
        rows = phone.eval_on_selector_all(
            "#summary tbody tr",
            """rows => rows.map(r => ({
              fails: r.classList.contains("fails"),
              right: r.cells[1].getBoundingClientRect().right,
              mark: getComputedStyle(r.cells[0]).boxShadow,
            }))""",
        )
        view = phone.evaluate("() => window.innerWidth")
        failing = [r for r in rows if r["fails"]]
        assert len(failing) == sum(s["fails"] for s in document["scenarios"])
        assert all(r["right"] <= view for r in rows), (rows, view)
        assert all(r["mark"] != "none" for r in failing) and all(
            r["mark"] == "none" for r in rows if r not in failing
        )
    finally:
        context.close()


def test_the_verdict_over_the_charts_reads_in_short_sentences(
    page: Any, report: tuple[Path, dict[str, Any]]
) -> None:
    path, document = report
    open_report(page, path)
    seen = page.eval_on_selector_all(
        "section.scenario",
        """sections => sections.map(s => ({
          verdict: s.dataset.verdict,
          lines: Array.from(s.querySelectorAll(".verdict p"), p => p.innerText),
          caption: (s.querySelector("figure figcaption") || {}).innerText || "",
        }))""",
    )
    regressions = [s for s in seen if s["verdict"] == "regression"]
    assert len(regressions) == sum(s["verdict"] == "regression" for s in document["scenarios"])
    for section in regressions:  # one sentence per finding that decided it, and where the tests are
        lines = section["lines"]
        assert len(lines) >= 2 and lines[-1] == "The tests behind each are under Findings.", lines
        assert all(line.endswith(".") and "; one-sided" not in line for line in lines), lines
    assert max(len(s["lines"]) for s in regressions) >= 3  # the leak: two proven, one not yet
    charted = [s for s in seen if "RSS with the tracker's own memory" in s["caption"]]
    assert charted and all("measured in a separate run without the tracker" in s["caption"] for s in charted)
