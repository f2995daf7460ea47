"""Which language a page is in: the user's choice, the visitor's, the browser's, the site's."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import select

from evalsys.accounts.models import User
from evalsys.i18n import fmt_date, fmt_num, in_locale, localized, normalise
from tests.factories import Factory

LOGIN_ZH = "登录"


def _login_page(client, **headers) -> str:
    return client.get("/login", headers=headers).get_data(as_text=True)


def test_browser_preference_chooses_the_language(client):
    zh = _login_page(client, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert f"<h1>{LOGIN_ZH}</h1>" in zh and 'lang="zh-Hans"' in zh
    en = _login_page(client, **{"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert "<h1>Log in</h1>" in en and 'lang="en"' in en and LOGIN_ZH not in en


def test_a_silent_browser_gets_the_site_default(app: Flask, client):
    assert "<h1>Log in</h1>" in _login_page(client)  # the tests' default is English
    app.config["DEFAULT_LOCALE"] = "zh"
    assert f"<h1>{LOGIN_ZH}</h1>" in _login_page(client)


def test_a_visitor_switches_and_the_choice_sticks(client):
    page = _login_page(client, **{"Accept-Language": "en"})
    assert 'value="zh"' in page  # the switch offers the other language
    r = client.post("/language", data={"locale": "zh", "next": "/login"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert f"<h1>{LOGIN_ZH}</h1>" in _login_page(client, **{"Accept-Language": "en"})


def test_a_signed_in_users_choice_is_kept_on_the_account(client, factory: Factory, session):
    factory.university()
    user = factory.user("wang", "teacher@CS-SE")
    client.post("/login", data={"username": "wang", "password": Factory.PASSWORD})
    client.post("/language", data={"locale": "zh", "next": "/"})
    session.rollback()
    assert session.scalar(select(User.locale).where(User.id == user.id)) == "zh"
    # Another browser, English by preference, still gets the account's language.
    other = client.application.test_client()
    other.post("/login", data={"username": "wang", "password": Factory.PASSWORD})
    page = other.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="zh-Hans"' in page


def test_the_switch_refuses_a_foreign_next_and_an_unknown_language(client):
    r = client.post("/language", data={"locale": "en", "next": "//evil.example/x"})
    assert r.headers["Location"] == "/"
    fresh = client.application.test_client()
    fresh.post("/language", data={"locale": "fr", "next": "/login"})
    fresh.post("/language", data={"locale": "", "next": "/login"})
    page = fresh.get("/login", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert f"<h1>{LOGIN_ZH}</h1>" in page  # nothing stored: the browser still decides


def test_normalise():
    assert normalise("zh_CN") == "zh" and normalise("EN-gb") == "en"
    assert normalise("fr") is None and normalise("") is None and normalise(None) is None


def test_dates_numbers_and_names_follow_the_locale(app: Flask):
    class Unit:
        name = "软件工程系"
        name_en = "Software Engineering"

    class Plain:
        name = "数学系"
        name_en = None

    with app.test_request_context():
        with in_locale("zh"):
            assert fmt_date(date(2026, 12, 1)) == "2026年12月1日"
            assert localized(Unit, "name") == "软件工程系"
        with in_locale("en"):
            assert fmt_date(date(2026, 12, 1)) == "Dec 1, 2026"
            assert fmt_num(1234.56) == "1,234.6" and fmt_num(-2.04, signed=True) == "-2.0"
            assert fmt_num(3, signed=True) == "+3.0" and fmt_num(None) == "—"
            assert localized(Unit, "name") == "Software Engineering"
            assert localized(Plain, "name") == "数学系"  # no English name: the Chinese one
