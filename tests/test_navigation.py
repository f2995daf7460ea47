"""The header's menu (evalsys/navigation.py): two queries a page whoever asks, none for a
stranger, and breadcrumbs that link only the units the reader may open.

Which entries each role sees, and that each opens, is checked in Chromium
(``tests/browser/test_layout.py``); here the same expectations run on both databases.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask_login import login_user

from evalsys import navigation
from tests.browser.test_layout import MENUS
from tests.fixtures.security_world import SecurityWorld


@pytest.mark.parametrize("name", sorted(MENUS))
def test_the_menu_takes_two_queries_once_per_request(
    name: str, app: Flask, sworld: SecurityWorld, queries
):
    user = sworld.users[name]
    with app.test_request_context("/"):
        login_user(user)
        with queries() as seen:
            menu = navigation.current_menu()
            again = navigation.current_menu()
        assert again is menu
        assert len(_selects(seen)) == 2, seen
        assert sorted(e.key for e in menu.entries) == sorted(MENUS[name].split())


def _selects(statements: list[str]) -> list[str]:
    """The queries among the statements (SQLite's driver sends its BEGIN the same way)."""
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_stranger_gets_no_menu_and_no_query(app: Flask, queries):
    with app.test_request_context("/login"), queries() as seen:
        assert navigation.current_menu().entries == []
    assert seen == []


def test_the_trail_links_only_units_the_reader_may_open(app: Flask, sworld: SecurityWorld, queries):
    with app.test_request_context("/"):
        login_user(sworld.users["head"])  # head of CS-SE: neither the school nor the college
        with queries() as seen:
            trail = navigation.unit_trail("CS-SE")
        assert len(_selects(seen)) == 1, seen
        assert [(u.code, may) for u, may in trail] == [("U", False), ("CS", False), ("CS-SE", True)]
        login_user(sworld.users["dean"])
        assert [may for _u, may in navigation.unit_trail(sworld.units["CS-SE"])] == [
            False,
            True,
            True,
        ]
        assert navigation.unit_trail("NO-SUCH-UNIT") == []


def test_pages_show_the_menu_and_the_trail(client, auth, sworld: SecurityWorld):
    auth.login("dean")
    page = client.get("/loop/units/CS-SE").get_data(as_text=True)
    assert 'data-nav="unit:CS"' in page and 'data-nav="loop"' in page
    trail = page[page.index('class="trail"') : page.index("</nav>", page.index('class="trail"'))]
    assert 'href="/units/CS"' in trail and 'href="/units/CS-SE"' in trail
    assert 'href="/units/U"' not in trail  # the school: named, not linked
    page = client.get("/feedback/?unit=CS-SE").get_data(as_text=True)
    assert 'class="trail"' in page and 'href="/units/CS-SE"' in page
    # A unit outside the dean's scope in the filter: no trail naming its ancestors.
    page = client.get("/feedback/?unit=MATH-PURE").get_data(as_text=True)
    assert 'class="trail"' not in page


def test_several_units_are_listed_under_one_entry(client, auth, sworld: SecurityWorld, factory):
    """A head of two departments gets "My units" with both, each opening its page."""
    factory.user("twohead", "head@CS-SE", "head@MATH-PURE")
    auth.login("twohead")
    page = client.get("/").get_data(as_text=True)
    row = page[page.index('class="menu-wide menu-row"') :]
    row = row[: row.index("</nav>")]
    assert '<details class="dropdown">' in row and "My units" in row
    for code in ("CS-SE", "MATH-PURE"):
        assert f'data-nav="unit:{code}"' in row
        assert client.get(f"/units/{code}").status_code == 200
    page = client.get("/units/MATH-PURE").get_data(as_text=True)
    assert 'data-nav="unit:MATH-PURE" aria-current="page"' in page
    assert '<summary class="current">' in page  # the drop-down holding the page shown
