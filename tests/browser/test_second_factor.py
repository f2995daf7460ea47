"""A required school admin sets up the second factor in Chromium, on a phone and a desktop:
password, the QR page read as a person would (the key typed from its groups of four), the
recovery codes, then a later login with a code. CSRF is on, as deployed.

``EVALSYS_SCREENSHOTS=DIR`` keeps a screenshot of each page there, to look at.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from evalsys import clock
from tests.factories import Factory

T0 = datetime(2026, 12, 7, 2, 0, 0, tzinfo=UTC)


def _shot(page, name: str) -> None:
    folder = os.environ.get("EVALSYS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _password(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", Factory.PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.once(
    "what Chromium adds (the QR page read and typed, on two screen sizes) does not depend "
    "on the database; enrolment, codes used once and recovery codes run on both in "
    "tests/accounts/test_totp.py"
)
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_a_required_admin_sets_up_and_uses_the_app(
    device, request, app, live_server, factory, site_clock
):
    page = request.getfixturevalue(device)
    site_clock.at(T0)
    app.config["ADMIN_TOTP_REQUIRED"] = True
    factory.university()
    factory.user("root", "admin@U", name="校管理员")

    _password(page, live_server)
    assert page.url.endswith("/login/enrol")
    qr = page.locator("figure.qr svg")
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box is not None and 150 <= box["width"] <= 390  # scannable, and fits the phone
    _shot(page, f"enrol-{device}")
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)

    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.utcnow()))
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    _shot(page, f"codes-{device}")
    page.locator("main a[role=button]").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server}/"

    # Log out, and in again a step later: now a code is asked for.
    # The logout button first clears the device's kept pages (evalsys.js), then submits:
    # wait for that navigation, or the next goto races it and is aborted.
    page.locator('form[action="/logout"] button').click()
    page.wait_for_url(lambda url: url.endswith("/login"))
    site_clock.at(T0 + timedelta(seconds=30))
    _password(page, live_server)
    assert page.url.endswith("/login/verify")
    _shot(page, f"verify-{device}")
    page.fill("input[name=code]", "000000")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("[aria-invalid=true]").count() == 1
    _shot(page, f"verify-wrong-{device}")
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.utcnow()))
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{live_server}/"
    page.goto(f"{live_server}/account/security")
    _shot(page, f"security-{device}")
