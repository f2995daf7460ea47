"""Single sign-on in Chromium, end to end: the login page's button, the provider's own
login page (node-oidc-provider on loopback), back in evalsys signed in; then logout,
which ends the provider's session too and lands on the login page."""

from __future__ import annotations

import pytest
from flask_babel import gettext

from evalsys.i18n import in_locale
from tests.fixtures.oidc_provider import CLIENT_ID, CLIENT_SECRET, start_provider, stop_provider


@pytest.fixture
def provider(app, live_server, tmp_path):
    provider = start_provider(
        tmp_path,
        redirect_uris=[live_server + "/login/sso/callback"],
        post_logout=[live_server + "/login"],
    )
    app.config.update(
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        BASE_URL=live_server,
        OIDC_LABEL={"zh": "统一身份认证登录"},
    )
    yield provider
    stop_provider(provider)


def _zh(app, text: str) -> str:
    with app.app_context(), in_locale("zh"):
        return gettext(text)


@pytest.mark.once(
    "what Chromium adds (the provider's own pages, its cookies, the redirects) does not "
    "depend on the database; sign-in, matching and logout run on both in "
    "tests/accounts/test_oidc.py"
)
def test_sign_in_and_out_through_the_provider(app, live_server, provider, phone, factory):
    factory.university()
    factory.user("dean_cs", "dean@CS", name="李院长")

    phone.goto(f"{live_server}/units/CS")  # a deep link: the login keeps it
    phone.get_by_role("button", name="统一身份认证登录").click()
    # The provider's page: another site, its own form.
    phone.wait_for_url(provider.issuer + "/**")
    phone.fill("input[name=username]", "dean_cs")
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_url(f"{live_server}/units/CS")
    assert "李院长" in phone.locator("header").inner_text()

    phone.get_by_role("button", name=_zh(app, "Log out")).click()
    phone.wait_for_url(provider.issuer + "/**")
    phone.get_by_role("button", name="Sign out").click()
    phone.wait_for_url(f"{live_server}/login")
    assert _zh(app, "You are logged out.") in phone.locator("main").inner_text()

    # Signed out at the provider too: the next single sign-on asks who it is again.
    phone.get_by_role("button", name="统一身份认证登录").click()
    phone.wait_for_url(provider.issuer + "/**")
    assert phone.locator("input[name=username]").is_visible()
