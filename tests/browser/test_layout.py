"""Every page fits a phone, and the menu leads each role where it may go.

Every GET page of the access matrix (``tests/security/test_access_matrix.py``), opened in
Chromium by a principal the matrix lets in, at 360 px and at 1366 px: it answers 200 and
the page never scrolls sideways (a wide table scrolls inside its own ``.table-wrap``). A
failure names the page, the width and the elements sticking out furthest.

The menu (``evalsys/navigation.py``): each role sees exactly its entries, every entry
opens (200, never a 403 or 404), the entry of the page shown carries
``aria-current="page"``, and on a phone the "Menu" button opens it from the keyboard.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from flask import Flask, url_for

from evalsys.aggregation.service import aggregate_term
from tests.factories import Factory
from tests.fixtures.security_world import PRINCIPALS, SecurityWorld
from tests.security.test_access_matrix import ACCESS, _fill, _url_values, endpoint_of

pytestmark = pytest.mark.once(
    "layout is the rendered HTML and CSS in Chromium, which no database changes; the pages'"
    " data runs on both through the access matrix"
)

WIDTHS = (360, 1366)

#: Who opens each page: the first of these the row lets in (the widest view of most pages),
#: except where a page is about its reader (PREFER).
ORDER = ("anon", "root", "admin", "dean", "head", "leader", "supervisor", "tutor", "teacher")
PREFER = {
    "feedback.mine": "supervisor",
    "feedback.teaching": "teacher",
    "planner.mine": "supervisor",
    "loop.mine": "teacher",
}

#: The menu each principal should see (``data-nav`` keys), as the views decide who may open
#: what: a key here whose page refuses the principal, or a page missing here that the
#: principal uses, fails.
MENUS = {
    "root": "home record records feedback reports loop unit:U users terms rubrics import "
    "schedule audit",
    "admin": "home record records feedback reports loop unit:CS users terms",
    "supervisor": "home record assignments records",
    "leader": "home record records feedback reports loop unit:CS",
    "tutor": "home record records",
    "dean": "home feedback reports loop unit:CS",
    "head": "home feedback reports loop unit:CS-SE",
    "teacher": "home teaching actions",
}

#: The elements sticking out of the viewport furthest, outside any box that scrolls or clips.
WIDEST_JS = """() => {
  const vw = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + 0.5) continue;
    let held = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) {
        held = true;
        break;
      }
    }
    if (held) continue;
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    out.push([Math.round(r.right), el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls,
      (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40)]);
  }
  out.sort((a, b) => b[0] - a[0]);
  return out.slice(0, 3).map(x => `${x[1]} to ${x[0]} px "${x[2]}"`).join('; ');
}"""

#: An entry marked as the page shown, in the menu's HTML.
CURRENT = re.compile(r'data-nav="([^"]+)" aria-current="page"')

FITS_JS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def world(sworld: SecurityWorld, session) -> SecurityWorld:
    """The access matrix's world, its term aggregated: unit pages show their statistics."""
    aggregate_term(session, term=sworld.term)
    session.commit()
    return sworld


class Browsers:
    """One browser context (one page) per principal, logged in on first use."""

    def __init__(self, browser, base: str) -> None:
        self.browser, self.base, self.pages = browser, base, {}

    def page(self, name: str):
        if name not in self.pages:
            context = self.browser.new_context(
                locale="zh-CN", viewport={"width": 360, "height": 800}
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            if PRINCIPALS[name]:
                page.goto(f"{self.base}/login")
                page.fill("input[name=username]", name)
                page.fill("input[name=password]", Factory.PASSWORD)
                page.click("main button[type=submit]")
                page.wait_for_load_state()
                assert "/login" not in page.url, f"{name} could not log in"
            self.pages[name] = page
        return self.pages[name]

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


@pytest.fixture
def browsers(browser, live_server):
    opened = Browsers(browser, live_server)
    yield opened
    opened.close()


def _pages(app: Flask, world: SecurityWorld) -> list[tuple[str, str, str]]:
    """(endpoint, principal, path with query) of every GET page of the matrix, each with a
    principal the matrix lets in."""
    found = []
    for key, row in sorted(ACCESS.items()):
        endpoint = endpoint_of(key)
        rule, values = _url_values(app, endpoint, row, world, inside=True)
        if "GET" not in row.tried(rule.methods):
            continue
        allowed = row.allowed_for(True)
        who = PREFER.get(endpoint) or next((p for p in ORDER if p in allowed), None)
        if who is None or who not in allowed:
            continue
        with app.test_request_context():
            path = url_for(endpoint, **{k: values[k] for k in rule.arguments})
        query = {k: _fill(v, values) for k, v in row.query.items()}
        if query:
            path += "?" + urlencode(query)
        found.append((endpoint, who, path))
    return found


def test_every_page_fits_a_phone_and_a_desktop(app, world, browsers, live_server):
    pages = _pages(app, world)
    problems = []
    looked = 0
    for endpoint, who, path in pages:
        page = browsers.page(who)
        # Asked first without the browser: a file or JSON is no page to lay out, and a 404
        # the matrix allows (single sign-on, off on this site) is none either.
        probe = page.request.get(live_server + path)
        html = probe.headers.get("content-type", "").startswith("text/html")
        allowed_404 = probe.status == 404 and 404 in _row(endpoint).allowed
        probe.dispose()
        if not html or allowed_404:
            continue
        looked += 1
        page.set_viewport_size({"width": WIDTHS[0], "height": 800})
        response = page.goto(live_server + path)
        status = response.status if response is not None else None
        if status != 200:
            problems.append(f"{path} ({endpoint}) as {who}: status {status}")
            continue
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            if not page.evaluate(FITS_JS):
                wide = page.evaluate("document.documentElement.scrollWidth")
                problems.append(
                    f"{path} ({endpoint}) as {who} at {width} px: the page is {wide} px wide; "
                    f"widest: {page.evaluate(WIDEST_JS)}"
                )
    assert looked > 40, pages  # the matrix's pages, not a handful
    assert not problems, f"{len(problems)} problems in {looked} pages:\n" + "\n".join(problems)


def _row(endpoint: str):
    return next(row for key, row in ACCESS.items() if endpoint_of(key) == endpoint)


def _menu_keys(page, where: str) -> list[str]:
    return page.eval_on_selector_all(f"{where} a[data-nav]", "as => as.map(a => a.dataset.nav)")


def test_each_role_sees_exactly_the_menu_entries_it_may_open(world, browsers, live_server):
    problems = []
    for name, expected in MENUS.items():
        page = browsers.page(name)
        page.set_viewport_size({"width": 1366, "height": 800})
        page.goto(live_server + "/")
        shown = _menu_keys(page, "ul.menu-row")
        if sorted(shown) != sorted(expected.split()):
            problems.append(f"{name}: menu shows {shown}, expected {expected.split()}")
        hrefs = page.eval_on_selector_all(
            "ul.menu-row a[data-nav]", "as => as.map(a => [a.dataset.nav, a.href])"
        )
        for key, href in hrefs:
            # As this user (the context's cookies), after any redirect; the page's HTML is
            # read rather than rendered again: the same markup, a third of the time.
            response = page.request.get(href)
            if response.status != 200:
                problems.append(f"{name}: menu entry {key} ({href}) answers {response.status}")
                continue
            html = response.text()
            row = html[html.index('class="menu-wide menu-row"') :]
            current = CURRENT.findall(row[: row.index("</nav>")])
            if current != [key]:
                problems.append(f"{name}: on {href} aria-current marks {current}, not [{key}]")
    assert not problems, "\n".join(problems)


def test_the_phone_menu_opens_and_works_from_the_keyboard(world, browsers, live_server):
    page = browsers.page("dean")
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(live_server + "/reports/")
    assert not page.locator("ul.menu-row").is_visible()  # the desktop row is hidden
    summary = page.locator(".menu-phone summary")
    assert summary.is_visible()
    assert not page.locator("ul.menu-panel a[data-nav=home]").is_visible()
    # The Menu button opens with Enter; Tab then walks its entries in order.
    page.focus(".menu-phone summary")
    page.keyboard.press("Enter")
    panel_keys = _menu_keys(page, "ul.menu-panel")
    assert set(MENUS["dean"].split()) <= set(panel_keys), panel_keys
    assert page.locator("ul.menu-panel a[data-nav=home]").is_visible()
    assert page.get_attribute("ul.menu-panel a[data-nav=reports]", "aria-current") == "page"
    reached = []
    for _ in panel_keys:
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.dataset.nav || ''"))
    assert reached == panel_keys, reached
    # The open panel fits the phone too.
    assert page.evaluate(FITS_JS), page.evaluate(WIDEST_JS)
    # Escape closes it and gives the focus back to the button (evalsys.js).
    page.keyboard.press("Escape")
    assert not page.locator("ul.menu-panel a[data-nav=home]").is_visible()
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    # Enter on an entry opens its page.
    page.keyboard.press("Enter")
    page.locator("ul.menu-panel a[data-nav=loop]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/loop/units/CS**")
