"""Owners' emails through a real SMTP server on 127.0.0.1, sent by the scheduled jobs:
one when assigned, one reminder when due, never twice; a failed send retried."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header

from sqlmodel import select

from evalsys.aggregation.service import local_today
from evalsys.loop import jobs as loop_jobs  # noqa: F401  (registers the jobs)
from evalsys.loop import service
from evalsys.loop.models import ActionNotice
from evalsys.scheduler import jobs as scheduler_jobs
from tests.reports.test_delivery import smtp  # noqa: F401  (fixture)


def _run(app, job_id: str) -> str:
    run = scheduler_jobs.run_job(app, job_id, owner="test", trigger="manual")
    assert run.status == "succeeded", run.detail
    return run.detail or ""


def _action(session, world, people, app, *, due_in: int):
    today = local_today(app.config)
    problem = service.create_problem(
        session,
        term=world.uni.terms["T1"],
        unit=world.uni.units["CS-SE"],
        user=people["head_se"],
        title="Labs are out of date",
        category="practice",
        severity="medium",
    )
    action = service.create_action(
        session,
        problem=problem,
        user=people["head_se"],
        today=today,
        data=service.ActionInput(
            title="Rewrite the SE1 labs",
            owner_id=people["teacher"].id,
            due_date=today + timedelta(days=due_in),
        ),
    )
    session.commit()
    return action


def test_assignment_and_reminder_each_sent_once(world, people, session, app, smtp):  # noqa: F811
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
    assert subject == f"即将到期 Due {action.due_date}: Rewrite the SE1 labs"
    assert _run(app, "loop-reminders") == "0 reminders queued; 0 sent, 0 failed"
    _run(app, "loop-mail")
    assert len(smtp.messages) == 2

    # Reassigned: the new owner hears of it (once); the old one hears nothing more.
    today = local_today(app.config)
    service.update_action(
        session,
        action=action,
        user=people["head_se"],
        today=today,
        data=service.ActionInput(
            title=action.title, owner_id=people["head_ai"].id, due_date=action.due_date
        ),
    )
    session.commit()
    _run(app, "loop-reminders")
    _run(app, "loop-mail")
    to = [m["To"] for m in smtp.messages]
    assert to == [
        "teacher_se@example.edu",
        "teacher_se@example.edu",
        "head_ai@example.edu",
        "head_ai@example.edu",
    ]
    session.rollback()
    notices = session.exec(select(ActionNotice).order_by(ActionNotice.id)).all()
    assert [(n.kind, n.status, n.attempts) for n in notices] == [
        ("assigned", "sent", 1),
        ("reminder", "sent", 1),
        ("assigned", "sent", 1),
        ("reminder", "sent", 1),
    ]


def test_not_due_yet_no_reminder_and_failed_send_retried(world, people, session, app, smtp):  # noqa: F811
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
