"""Never lose what was typed: the feedback form in Chromium (static/form.js).

The running total beside the scores is the figure the server stores; what is typed is
kept on the device and comes back after a session that expired under the supervisor's
hands; the form autosaves one server draft; a stale CSRF token brings the form back
with the text; another user of the same device sees none of it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from evalsys.accounts.models import UserSession
from evalsys.clock import local_today, utcnow
from evalsys.feedback import rubrics
from evalsys.feedback.models import Feedback
from evalsys.i18n import fmt_num
from tests.browser.conftest import log_in, this_term_dates
from tests.browser.test_accessibility import violations
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "what the browser adds (the script's total, the device copy, the autosave timer, the "
    "form kept through a stale token) does not depend on the database; the endpoint and the "
    "token handling run on both in tests/feedback/test_autosave.py"
)

FORM = "/feedback/new/spot_check"


def arrange(factory, session) -> dict:
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    teacher = factory.user("teacher", "teacher@CS-SE")
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    factory.user("sup", "supervisor@CS")
    factory.user("sup2", "supervisor@CS")
    rubrics.ensure_default_rubrics(session)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    return {"items": items}


def fill_visit(page, items, strengths="板书清晰，讲解有条理") -> None:
    page.fill("#section", "SE101-01")
    page.fill("#date", local_today().isoformat())
    page.check("#announced-0")
    page.fill("#enrolled", "40")
    page.fill("#present", "38")
    page.fill("#late", "1")
    for number, item in enumerate(items):
        page.click(f"label[for='scores-{item.code}-{item.scale_max - (number % 4)}']")
    page.fill("#strengths", strengths)


def records(session) -> list[Feedback]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(Feedback)).all())


def test_running_total_is_the_figure_the_server_stores(app, live_server, phone, factory, session):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    total = page.locator("#running-total")
    assert total.is_visible()
    assert "尚未评分" in total.inner_text()

    fill_visit(page, world["items"])
    shown = total.get_attribute("data-score")
    assert shown
    n = len(world["items"])
    points = sum(item.scale_max - (number % 4) for number, item in enumerate(world["items"]))
    assert f"已评 {n}/{n} 项，共 {points} 分 · 折合百分制 {shown}" in total.inner_text()
    # Screen readers hear it once the scoring pauses (a polite live region).
    live = page.locator("#running-total-live")
    assert live.get_attribute("aria-live") == "polite"
    page.wait_for_function("() => document.getElementById('running-total-live').textContent !== ''")
    assert shown in live.inner_text()

    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    with app.test_request_context():
        assert fmt_num(record.overall_score, 1) == shown
    # The record is stored: the device copy is gone.
    assert (
        page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('evalsys.form.'))") == []
    )


def test_total_for_other_scores_follows_the_servers_formula(
    app, live_server, desktop, factory, session
):
    """Other scores on every item: the script and the service agree (one decimal, half to even)."""
    arrange(factory, session)
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    # Weighted items on different scales: the script's figure for given values against
    # the server's formula (checks.compute_overall_score) on the same items.
    from evalsys.feedback.checks import compute_overall_score

    groups = page.locator("fieldset[data-score]")
    n = groups.count()
    values = {}
    for i in range(n):
        group = groups.nth(i)
        name = group.get_attribute("data-score")
        low, high = int(group.get_attribute("data-min")), int(group.get_attribute("data-max"))
        value = low + (i * 7 + 3) % (high - low + 1)
        page.click(f"label[for='{name}-{value}']")
        values[name.removeprefix("scores-")] = value
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    expected = compute_overall_score(items, {i.id: values[i.code] for i in items})
    with app.test_request_context():
        assert page.get_attribute("#running-total", "data-score") == fmt_num(expected, 1)


def test_expired_session_keeps_the_text_on_the_device(live_server, phone, factory, session):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    fill_visit(page, world["items"], strengths="写了很久的一段评语")
    page.fill("#problems", "后排学生听不清")

    # The session ends on the server while the supervisor writes (idle too long).
    long_ago = utcnow() - timedelta(days=3)
    session.rollback()  # a fresh snapshot: SQLite refuses a write on a stale one
    session.exec(update(UserSession).values(last_seen_at=long_ago, created_at=long_ago))
    session.commit()
    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/login" in url)
    assert records(session) == []

    # Signing in again leads back to the form, and the text is there again.
    page.fill("input[name=username]", "sup")
    page.fill("input[name=password]", Factory.PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: url.endswith(FORM))
    assert page.input_value("#strengths") == "写了很久的一段评语"
    assert page.input_value("#problems") == "后排学生听不清"
    assert page.input_value("#section") == "SE101-01"
    assert page.is_checked("#announced-0")
    note = page.locator("#device-note")
    assert note.is_visible() and "已恢复" in note.inner_text()

    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    assert (record.status, record.strengths) == ("submitted", "写了很久的一段评语")


def test_undo_brings_back_the_servers_form(live_server, desktop, factory, session):
    arrange(factory, session)
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    page.fill("#strengths", "设备上的文字")
    page.goto(live_server + FORM)
    assert page.input_value("#strengths") == "设备上的文字"
    assert violations(page) == []  # the restored note and its Undo, as axe reads them
    page.click("#device-undo")
    assert page.input_value("#strengths") == ""
    page.reload()
    assert page.input_value("#strengths") == ""


def test_a_stale_csrf_token_keeps_the_text(live_server, desktop, factory, session):
    world = arrange(factory, session)
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    fill_visit(page, world["items"], strengths="令牌过期前写下的评语")
    # The token no longer matches (it expired, or the user signed in again elsewhere).
    page.evaluate("document.querySelector('#feedback-form [name=csrf_token]').value = 'stale'")
    page.click("button[name=send]")
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert "安全令牌" in summary.inner_text()
    assert page.input_value("#strengths") == "令牌过期前写下的评语"
    assert records(session) == []
    page.click("button[name=send]")  # the page came back with a fresh token
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    assert record.strengths == "令牌过期前写下的评语"


def test_autosave_keeps_one_server_draft(app, live_server, desktop, factory, session):
    world = arrange(factory, session)
    app.config["FEEDBACK_AUTOSAVE_SECONDS"] = 0.3
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    page.fill("#section", "SE101-01")
    page.fill("#strengths", "第一稿")
    status = page.locator("#autosave-status")
    page.wait_for_function(
        "() => document.getElementById('autosave-status').textContent.includes('草稿')"
    )
    assert "草稿已于" in status.inner_text()
    (draft,) = records(session)
    assert (draft.status, draft.strengths) == ("draft", "第一稿")

    page.fill("#strengths", "第二稿")
    for _ in range(50):  # the timer saves it again (polled, no timing asserted)
        if records(session)[0].strengths == "第二稿":
            break
        page.wait_for_timeout(200)
    (draft,) = records(session)
    assert draft.strengths == "第二稿"

    # Submitting the form finishes that draft: still one record.
    fill_visit(page, world["items"], strengths="定稿")
    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)
    (record,) = records(session)
    assert (record.id, record.status, record.strengths) == (draft.id, "submitted", "定稿")


def test_another_user_of_the_device_sees_nothing(live_server, desktop, factory, session):
    arrange(factory, session)
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(live_server + FORM)
    page.fill("#strengths", "甲的私人评语")
    page.click("header form[action$='/logout'] button")
    page.wait_for_url(lambda url: "/login" in url)
    assert (
        page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('evalsys.form.'))") == []
    )
    log_in(page, live_server, "sup2", Factory.PASSWORD)
    page.goto(live_server + FORM)
    assert page.input_value("#strengths") == ""
    assert page.locator("#device-note").is_hidden()
