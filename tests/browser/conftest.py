"""Browser tests: the real app served on a loopback port, driven in Debian's Chromium.

Playwright's Python API is pointed at ``/usr/bin/chromium`` (``.ci/setup test`` installs
it), so nothing downloads a browser. The app runs in a thread of the test process with
CSRF on, as in production. A failing test leaves a screenshot of its page in
``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from evalsys import create_app
from evalsys.clock import local_today
from evalsys.db import get_engine

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).parent / ".node" / "node_modules" / "axe-core" / "axe.min.js"

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _missing(what: str) -> None:
    """In CI a missing browser part fails the run; on a developer's machine it skips."""
    message = f"{what} is missing: run `bash .ci/setup test` (it installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        _missing(f"Chromium ({CHROMIUM})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app as deployed: CSRF on (the other tests switch it off for the test client)."""
    app = create_app(
        {
            "SECRET_KEY": "browser-test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    yield app
    get_engine(app).dispose()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


def _open_page(browser, request, options: dict):
    context = browser.new_context(locale="zh-CN", **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def phone(browser, request):
    """A page in a phone-sized, touch viewport (a supervisor in the back of a classroom)."""
    yield from _open_page(browser, request, PHONE)


@pytest.fixture
def desktop(browser, request):
    yield from _open_page(browser, request, DESKTOP)


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")  # not the header's language switch
    page.wait_for_load_state()
    assert "/login" not in page.url, f"login failed for {username}"


def this_term_dates() -> tuple[date, date]:
    """A term around today, so "not in the future" and "within the term" both hold."""
    today = local_today()
    return today - timedelta(days=60), today + timedelta(days=60)
