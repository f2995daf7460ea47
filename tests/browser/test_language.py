"""Switching language in Chromium: the browser's preference first, then the header switch,
which a signed-in user keeps on their account (another browser then follows it)."""

from __future__ import annotations

import pytest
from flask_babel import gettext

from evalsys.i18n import in_locale
from tests.browser.conftest import log_in
from tests.factories import Factory


def _said(app, locale: str, text: str) -> str:
    with app.app_context(), in_locale(locale):
        return gettext(text)


@pytest.mark.once(
    "what Chromium adds (its Accept-Language, the switch's form and redirect) does not "
    "depend on the database; the choice kept on the account runs on both in "
    "tests/i18n/test_locale.py"
)
def test_the_browser_chooses_and_the_switch_is_kept(app, live_server, browser, factory):
    factory.university()
    factory.user("teacher", "teacher@CS-SE")

    english = browser.new_context(locale="en-US")
    page = english.new_page()
    page.goto(f"{live_server}/login")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Log in"

    log_in(page, live_server, "teacher", Factory.PASSWORD)
    # The switch names the other language in that language, and brings the user back here.
    here = page.url
    page.locator("form.lang-switch button[lang=zh]").click()
    page.wait_for_load_state()
    assert page.url == here
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    logout = _said(app, "zh", "Log out")
    assert logout != "Log out" and page.get_by_role("button", name=logout).is_visible()
    page.get_by_role("button", name=logout).click()
    page.wait_for_url(lambda url: url.endswith("/login"))  # after the caches are cleared
    # Signed out, the session still remembers the visitor's choice.
    assert page.locator("h1").inner_text() == _said(app, "zh", "Log in")
    english.close()

    # A fresh English browser: the login page is English until the account's choice applies.
    other = browser.new_context(locale="en-US")
    page = other.new_page()
    page.goto(f"{live_server}/login")
    assert page.locator("h1").inner_text() == "Log in"
    log_in(page, live_server, "teacher", Factory.PASSWORD)
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    other.close()
