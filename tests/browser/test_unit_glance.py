"""A dean on a phone in Chromium: home → the college at a glance (and its report's web view)
→ a department → a course → a section's records → one record. Every page fits 360 px
without sideways scrolling, the charts are shown (loaded, within the column) and their
smallest text is readable.

``EVALSYS_SCREENSHOTS=docs/screenshots`` also saves the college page at 390 px, in Chinese,
as ``unit-phone.png`` (the screenshot in docs/).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from evalsys.aggregation.service import aggregate_term
from tests.browser.conftest import log_in
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "what Chromium adds (layout at 360 px, the charts drawn, the links followed) does not"
    " depend on the database; the figures and the access run on both in"
    " tests/org/test_unit_glance.py"
)

NAMES = {"CS-SE": "软件工程系", "CS-AI": "人工智能系"}
TITLES = {"SE1": "数据结构", "SE2": "操作系统", "SE3": "软件工程导论", "AI1": "机器学习"}
#: The smallest text a chart may show, in CSS pixels at 360 px.
SMALLEST_PX = 10.5


@pytest.fixture
def world(uni, session, settings):
    for code, name in NAMES.items():
        uni.units[code].name = name
        session.add(uni.units[code])
    for code, title in TITLES.items():
        uni.courses[code].title = title
        session.add(uni.courses[code])
    uni.factory.user("dean", "dean@CS", name="计算机学院院长")
    session.commit()
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    return uni


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url}: {width} px wide in a {inner} px viewport"


def _charts_readable(page) -> int:
    """Every chart is loaded, within the column, and its smallest text is readable; returns
    how many charts the page shows."""
    charts = page.evaluate(
        """() => [...document.querySelectorAll('main img.chart')].map(img => ({
             src: img.getAttribute('src'), complete: img.complete,
             natural: img.naturalWidth, width: img.getBoundingClientRect().width,
             right: img.getBoundingClientRect().right, alt: img.alt}))"""
    )
    inner = page.evaluate("window.innerWidth")
    for chart in charts:
        assert chart["complete"] and chart["natural"] > 0, "a chart did not load"
        assert chart["alt"].strip()
        assert chart["right"] <= inner + 0.5
        svg = base64.b64decode(chart["src"].split(",", 1)[1]).decode()
        view_width = float(re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ', svg)[1])
        sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
        assert sizes, "the chart has text"
        scale = chart["width"] / view_width
        assert min(sizes) * scale >= SMALLEST_PX, (min(sizes), scale, page.url)
    return len(charts)


def test_dean_reads_a_college_at_a_glance_and_drills_down_to_records_on_a_phone(
    live_server, world, browser
):
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server, "dean", Factory.PASSWORD)
        page.goto(f"{live_server}/")
        page.locator("main a[href='/units/CS']").first.click()
        page.wait_for_url(lambda url: url.split("?")[0].endswith("/units/CS"))
        # The headline first: records, mean, flags — before the first table.
        assert page.locator("[data-glance=n]").is_visible()
        assert page.locator("[data-glance=flags]").is_visible()
        assert _charts_readable(page) == 3
        assert page.locator("figure.glance-chart figcaption").first.is_visible()
        # The full tables are folded away, one tap from the figures.
        assert not page.locator("table.stats").first.is_visible()
        page.locator("details.all-figures > summary").click()
        assert page.locator("table.stats").first.is_visible()
        _fits(page)

        # The report's web view: readable charts, long tables folded, no sideways scroll.
        page.locator("main a[href$='/CS.html']").click()
        page.wait_for_url(lambda url: url.endswith("/CS.html"))
        assert _charts_readable(page) >= 4
        assert not page.locator("table.dims").first.is_visible()
        _fits(page)
        page.go_back()

        page.locator("table.children-stats a[href^='/units/CS-SE?']").click()
        page.wait_for_url(lambda url: "/units/CS-SE" in url)
        assert page.locator("h1").inner_text() == NAMES["CS-SE"]
        assert _charts_readable(page) >= 2
        _fits(page)

        page.locator("main a[href^='/units/CS-SE/courses/SE1?']").first.click()
        page.wait_for_url(lambda url: "/courses/SE1" in url)
        assert page.locator("h1").inner_text() == TITLES["SE1"]
        assert _charts_readable(page) == 1  # the course over the two terms
        _fits(page)

        section = page.locator("main a[href^='#records-']").first
        code = section.inner_text()
        section.click()
        records = page.locator(f"section.section-records:has(h3:has-text('{code}')) a")
        assert records.count() >= 1
        records.first.click()
        page.wait_for_url(lambda url: re.search(r"/feedback/\d+$", url) is not None)
        assert code in page.locator("main").inner_text()
        _fits(page)
    finally:
        context.close()


def test_the_unit_page_on_a_phone_in_chinese(live_server, world, browser):
    """390 px, Chinese: the page fits, and (with EVALSYS_SCREENSHOTS) its picture for docs/."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        log_in(page, live_server, "dean", Factory.PASSWORD)
        page.goto(f"{live_server}/units/CS")
        assert "本学期记录数" in page.locator("main").inner_text()
        _fits(page)
        assert _charts_readable(page) == 3
        out = os.environ.get("EVALSYS_SCREENSHOTS")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(out) / "unit-phone.png"), full_page=True)
            page.goto(f"{live_server}/units/CS-SE/courses/SE1")
            page.screenshot(path=str(Path(out) / "course-phone.png"), full_page=True)
    finally:
        context.close()
