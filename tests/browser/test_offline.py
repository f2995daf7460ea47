"""Offline capture in Chromium: the form from the service worker's cache, a visit filled
without network kept on the device, sent when the network is back — exactly once — and a
refused one shown with its text kept (static/sw.js, static/form.js)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from evalsys.feedback import rubrics
from evalsys.feedback.models import Feedback
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import violations
from tests.browser.test_form_autosave import FORM, arrange, fill_visit, records
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "the service worker, the device outbox and Chromium's network emulation do not depend "
    "on the database; the endpoint's exactly-once rule runs on both in "
    "tests/feedback/test_autosave.py"
)

KEPT = """async () => {
  if (!navigator.serviceWorker.controller) return false;
  const hit = await caches.match('/feedback/new/spot_check');
  return !!hit;
}"""


def go_offline_ready(page, live_server) -> None:
    """Open the form online and wait until the worker controls it and keeps the form."""
    page.goto(live_server + FORM)
    for _ in range(100):  # polled: installing the worker and fetching the pages take a moment
        if page.evaluate(KEPT):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the service worker never kept the form")


def outbox(page) -> list:
    return page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('evalsys.outbox.'))"
        ".flatMap(k => JSON.parse(localStorage.getItem(k)))"
    )


def test_a_visit_filled_offline_is_sent_once_when_back_online(live_server, phone, factory, session):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    go_offline_ready(page, live_server)

    page.context.set_offline(True)
    page.reload()  # from the worker's cache: no network at all
    assert page.locator("#feedback-form").is_visible()
    assert "无网络" in page.locator("#device-note").inner_text()
    fill_visit(page, world["items"], strengths="教室里没有网络时写的")
    page.click("button[name=send]")
    assert "恢复联网后将自动发送" in page.locator("#device-note").inner_text()
    assert page.input_value("#strengths") == ""  # ready for the next visit
    (queued,) = outbox(page)
    assert queued["fields"]["strengths"] == "教室里没有网络时写的"

    page.reload()  # still offline: the visit waits on the device
    assert "待发送" in page.locator("#autosave-status").inner_text()
    assert len(outbox(page)) == 1
    assert records(session) == []

    page.context.set_offline(False)
    page.wait_for_function(
        "() => !localStorage.getItem('evalsys.outbox.' + "
        "document.getElementById('feedback-form').dataset.user)"
        " || localStorage.getItem('evalsys.outbox.' + "
        "document.getElementById('feedback-form').dataset.user) === '[]'",
        polling=200,
    )
    assert "已发送" in page.locator("#device-note").inner_text()
    (record,) = records(session)
    assert (record.status, record.strengths) == ("submitted", "教室里没有网络时写的")
    assert record.idempotency_key == queued["key"]

    # The same visit sent again (an answer lost on the way): still one record.
    page.evaluate(
        "(item) => localStorage.setItem('evalsys.outbox.' + "
        "document.getElementById('feedback-form').dataset.user, JSON.stringify([item]))",
        queued,
    )
    page.reload()
    page.wait_for_function(
        "() => document.getElementById('device-note').textContent.includes('已发送')", polling=200
    )
    session.rollback()
    assert len(session.exec(select(Feedback)).all()) == 1


def test_a_refused_visit_comes_back_with_its_text(live_server, phone, factory, session):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    go_offline_ready(page, live_server)
    page.context.set_offline(True)
    page.reload()
    fill_visit(page, world["items"], strengths="人数填错了的记录")
    page.fill("#present", "45")  # more than the 40 enrolled: the server refuses it
    page.click("button[name=send]")
    page.context.set_offline(False)

    problems = page.locator("#sync-problems")
    problems.wait_for()
    assert "未被接受" in problems.inner_text()
    assert "45" in problems.inner_text()
    assert page.input_value("#strengths") == "人数填错了的记录"
    assert page.input_value("#present") == "45"
    assert violations(page) == []  # the problems and the note as axe reads them
    assert outbox(page) == []
    assert records(session) == []

    page.fill("#present", "38")  # corrected, and sent online as usual
    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    assert record.strengths == "人数填错了的记录"


def test_logout_drops_the_kept_pages(live_server, desktop, factory, session):
    arrange(factory, session)
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    go_offline_ready(page, live_server)
    page.click("header form[action$='/logout'] button")
    page.wait_for_url(lambda url: "/login" in url)
    names = page.evaluate("() => caches.keys()")
    assert [n for n in names if n.startswith("evalsys-pages-")] == []
    manifest = page.request.get(live_server + "/manifest.webmanifest").json()
    assert manifest["icons"] and manifest["start_url"] == "/"
    page.context.set_offline(True)
    response = None
    try:
        response = page.goto(live_server + FORM)
    except Exception:  # noqa: BLE001 — Chromium's own offline error page
        response = None
    assert response is None or "feedback-form" not in page.content()


def test_a_rubric_published_meanwhile_is_a_conflict_shown_with_the_text_kept(
    live_server, phone, factory, session
):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    go_offline_ready(page, live_server)
    page.context.set_offline(True)
    page.reload()
    fill_visit(page, world["items"], strengths="旧评分表上写的评语")
    page.click("button[name=send]")

    # While the observer is offline, the office publishes a new version of the rubric.
    session.rollback()  # a fresh snapshot: SQLite refuses a write on a stale one
    new = rubrics.create_rubric(session, rubrics.default_rubric_spec("spot_check"), publish=True)
    session.commit()
    page.context.set_offline(False)

    problems = page.locator("#sync-problems")
    problems.wait_for()
    assert "评分表有新版本" in problems.inner_text()
    assert page.input_value("#strengths") == "旧评分表上写的评语"
    assert records(session) == []

    # Reloaded with network: the new form, with the text put back on it.
    page.reload()
    assert page.get_attribute("#feedback-form", "data-rubric") == str(new.id)
    assert page.input_value("#strengths") == "旧评分表上写的评语"
    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    assert (record.rubric_id, record.strengths) == (new.id, "旧评分表上写的评语")
