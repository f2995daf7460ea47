"""Owners' emails through a real SMTP server on 127.0.0.1, sent by the scheduled jobs:
one when assigned, one reminder when due, never twice; a failed send retried."""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from flask_babel import gettext
from sqlmodel import select

from evalsys.clock import local_today
from evalsys.i18n import fmt_date, in_locale, localized
from evalsys.loop import jobs as loop_jobs  # noqa: F401  (registers the jobs)
from evalsys.loop.actions import ActionInput, create_action, update_action
from evalsys.loop.models import ActionNotice
from evalsys.loop.problems import create_problem
from evalsys.scheduler import jobs as scheduler_jobs


def _subject(msg) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def _run(app, job_id: str) -> str:
    run = scheduler_jobs.run_job(app, job_id, owner="test", trigger="manual")
    assert run.status == "succeeded", run.detail
    return run.detail or ""


def _action(session, world, people, app, *, due_in: int):
    today = local_today(app.config)
    problem = create_problem(
        session,
        term=world.uni.terms["T1"],
        unit=world.uni.units["CS-SE"],
        user=people["head_se"],
        title="Labs are out of date",
        category="practice",
        severity="medium",
    )
    action = create_action(
        session,
        problem=problem,
        user=people["head_se"],
        today=today,
        data=ActionInput(
            title="Rewrite the SE1 labs",
            owner_id=people["teacher"].id,
            due_date=today + timedelta(days=due_in),
        ),
    )
    session.commit()
    return action


def test_assignment_and_reminder_each_sent_once(world, people, session, app, smtp):
    app.config["LOOP_BASE_URL"] = "https://evalsys.example.edu/"
    action = _action(session, world, people, app, due_in=1)

    assert _run(app, "loop-mail") == "1 sent, 0 failed"
    [msg] = smtp.messages
    assert msg["To"] == "teacher_se@example.edu"
    assert "Action assigned to you" in msg["Subject"]
    body = msg.get_payload(decode=True).decode()
    assert "Rewrite the SE1 labs" in body and "Labs are out of date" in body
    assert f"https://evalsys.example.edu/loop/actions/{action.id}" in body
    assert _run(app, "loop-mail") == "0 sent, 0 failed"
    assert len(smtp.messages) == 1

    # Due tomorrow, reminders go a day ahead: one reminder, once.
    assert _run(app, "loop-reminders") == "1 reminders queued; 1 sent, 0 failed"
    assert len(smtp.messages) == 2
    subject = str(make_header(decode_header(smtp.messages[1]["Subject"])))
    with app.app_context():  # English by default in tests: "Due on Dec 2, 2026: ..."
        assert subject == f"Due on {fmt_date(action.due_date)}: Rewrite the SE1 labs"
    assert _run(app, "loop-reminders") == "0 reminders queued; 0 sent, 0 failed"
    _run(app, "loop-mail")
    assert len(smtp.messages) == 2

    # Reassigned: the new owner hears of it (once); the old one hears nothing more.
    today = local_today(app.config)
    update_action(
        session,
        action=action,
        user=people["head_se"],
        today=today,
        data=ActionInput(
            title=action.title, owner_id=people["dean_cs"].id, due_date=action.due_date
        ),
    )
    session.commit()
    _run(app, "loop-reminders")
    _run(app, "loop-mail")
    to = [m["To"] for m in smtp.messages]
    assert to == [
        "teacher_se@example.edu",
        "teacher_se@example.edu",
        "dean_cs@example.edu",
        "dean_cs@example.edu",
    ]
    session.rollback()
    notices = session.exec(select(ActionNotice).order_by(ActionNotice.id)).all()
    assert [(n.kind, n.status, n.attempts) for n in notices] == [
        ("assigned", "sent", 1),
        ("reminder", "sent", 1),
        ("assigned", "sent", 1),
        ("reminder", "sent", 1),
    ]


def test_not_due_yet_no_reminder_and_failed_send_retried(world, people, session, app, smtp):
    _action(session, world, people, app, due_in=10)
    smtp.refuse = {"teacher_se@example.edu"}
    assert _run(app, "loop-reminders") == "0 reminders queued; 0 sent, 1 failed"
    assert smtp.messages == []
    session.rollback()
    notice = session.exec(select(ActionNotice)).one()
    assert (notice.status, notice.attempts) == ("failed", 1) and "451" in notice.last_error
    smtp.refuse = set()
    assert _run(app, "loop-mail") == "1 sent, 0 failed"
    assert _run(app, "loop-mail") == "0 sent, 0 failed"
    assert len(smtp.messages) == 1


def test_without_mail_server_nothing_is_sent_but_notices_wait(world, people, session, app):
    _action(session, world, people, app, due_in=0)
    assert "MAIL_SERVER is not set" in _run(app, "loop-mail")
    assert "1 reminders queued" in _run(app, "loop-reminders")
    session.rollback()
    assert [n.status for n in session.exec(select(ActionNotice))] == ["pending", "pending"]


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_owner_gets_assignment_and_reminder_in_their_language(
    world,
    people,
    session,
    app,
    smtp,
    locale,
):
    """The owner's language, not the site's nor the head's who assigned it."""
    owner = people["teacher"]
    owner.locale = locale
    session.add(owner)
    session.commit()
    app.config["LOOP_BASE_URL"] = "https://evalsys.example.edu"
    action = _action(session, world, people, app, due_in=1)
    assert _run(app, "loop-reminders") == "1 reminders queued; 2 sent, 0 failed"
    assigned, reminder = smtp.messages
    with app.app_context(), in_locale(locale):
        due = fmt_date(action.due_date)
        expected_subjects = [
            gettext("Action assigned to you: %(title)s", title=action.title),
            gettext("Due on %(date)s: %(title)s", date=due, title=action.title),
        ]
        lead = gettext("You are responsible for this action.")
        due_line = gettext("Due: %(date)s", date=due)
        unit_line = gettext(
            "Unit: %(name)s (%(code)s)",
            name=localized(world.uni.units["CS-SE"], "name"),
            code="CS-SE",
        )
    assert [_subject(assigned), _subject(reminder)] == expected_subjects
    body = assigned.get_payload(decode=True).decode()
    assert lead in body and due_line in body and unit_line in body
    # The catalogue really has Chinese for it: a zh email is not the English one.
    chinese = re.compile(r"[\u4e00-\u9fff]")
    assert bool(chinese.search(_subject(assigned))) == (locale == "zh")
    assert bool(chinese.search(lead)) == (locale == "zh")
