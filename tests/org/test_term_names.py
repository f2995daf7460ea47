"""A term's name in the reader's language on the pages that show it (``Term.name_en``)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.i18n.visible import visible_text

ZH, EN = "2026-2027学年第一学期", "Autumn term 2026"


@pytest.fixture
def named(factory, session):
    factory.university()
    term = factory.term()
    term.name, term.name_en = ZH, EN
    session.add(term)
    factory.term("2025-2026-2", start=date(2026, 2, 23), end=date(2026, 7, 5))
    session.commit()
    factory.user("admin", "admin@U")
    return term


PAGES = [
    "/planner/terms/",
    "/planner/terms/2026-2027-1",
    "/loop/units/U?term=2026-2027-1",
    "/feedback/",
]


@pytest.mark.parametrize("path", PAGES)
def test_english_readers_see_the_english_name_chinese_readers_the_chinese(
    named, client, auth, path
):
    auth.login("admin")
    english = visible_text(client.get(path).get_data(as_text=True))
    chinese = visible_text(
        client.get(path, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    )
    assert EN in english and ZH not in english
    assert ZH in chinese and EN not in chinese


def test_a_term_without_an_english_name_shows_its_name_to_everyone(named, client, auth):
    auth.login("admin")
    english = visible_text(client.get("/planner/terms/").get_data(as_text=True))
    assert "2025-2026-2" in english  # the factory names a term by its code
