"""The Monday job: the week just ended, each college and the school, each reader's
language, over a real SMTP server; retried on failure, never sent twice."""

from __future__ import annotations

from datetime import datetime
from email.header import decode_header, make_header

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent, User
from evalsys.bulletins import jobs
from evalsys.bulletins.models import Bulletin, BulletinDelivery
from evalsys.bulletins.weeks import week_just_ended
from evalsys.scheduler.jobs import job_spec
from tests.bulletins.conftest import WEEK


@pytest.mark.once("reads the job registry only")
def test_the_jobs_are_registered():
    weekly = job_spec("weekly-bulletins")
    assert weekly.func == "evalsys.bulletins.jobs:weekly_bulletins"
    assert weekly.trigger == "cron" and weekly.trigger_args["day_of_week"] == "mon"
    assert job_spec("deliver-bulletins").trigger == "interval"


@pytest.mark.once("pure date arithmetic")
def test_the_week_just_ended_is_the_site_s(site_clock):
    # Sunday 23:30 UTC is Monday 07:30 in Shanghai: the week just ended is W45 there...
    site_clock.at(datetime(2026, 11, 8, 23, 30))
    assert week_just_ended({"SCHEDULER_TIMEZONE": "Asia/Shanghai"}).label == WEEK
    # ...and still W44 in UTC, where it is Sunday.
    assert week_just_ended({"SCHEDULER_TIMEZONE": "UTC"}).label == "2026-W44"


def test_monday_job_renders_and_mails_each_reader_once(
    bulletin_world,
    session,
    app,
    factory,
    smtp,
    site_clock,
):
    factory.user("dean_cs_en", "dean@CS")  # no choice: the site's language (en in the tests)
    zh_dean = session.exec(select(User).where(User.username == "dean_cs")).one()
    zh_dean.locale = "zh"
    session.add(zh_dean)
    session.commit()
    site_clock.at(datetime(2026, 11, 8, 23, 30))  # Monday 07:30 in Shanghai
    smtp.refuse = {"leader@example.edu"}
    with app.app_context():
        summary = jobs.weekly_bulletins(session, app)
    assert summary.startswith(f"bulletins {WEEK}:")
    rows = {(r.unit_id, r.locale) for r in session.exec(select(Bulletin))}
    units = bulletin_world.uni.units
    # Every unit in the site's language, the college also in its Chinese reader's.
    expected = {(units[c].id, "en") for c in ("U", "CS", "MATH", "ART")}
    assert rows == expected | {(units["CS"].id, "zh")}
    got = {m["To"]: m for m in smtp.messages}
    assert sorted(got) == ["dean_cs@example.edu", "dean_cs_en@example.edu"]
    for to, lang, words in (
        ("dean_cs@example.edu", "zh", "督导简报"),
        ("dean_cs_en@example.edu", "en", "weekly supervision bulletin"),
    ):
        subject = str(make_header(decode_header(got[to]["Subject"])))
        assert words in subject and WEEK in subject
        (attachment,) = [p for p in got[to].walk() if p.get_filename()]
        assert attachment.get_filename() == f"bulletin-CS-{WEEK}-{lang}.pdf"
        assert attachment.get_payload(decode=True)[:5] == b"%PDF-"
    failed = session.exec(select(BulletinDelivery).where(BulletinDelivery.status == "failed")).all()
    assert [d.email for d in failed] == ["leader@example.edu"]
    # Again (the job re-run, and the retry job): nothing rendered again, nobody mailed twice,
    # the failed one retried once the server takes it.
    smtp.refuse = set()
    with app.app_context():
        again = jobs.weekly_bulletins(session, app)
    assert "0 rendered, 0 emails queued, 1 sent" in again
    with app.app_context():
        assert jobs.deliver_bulletins(session, app) == "0 sent, 0 failed"
    assert sorted(m["To"] for m in smtp.messages) == [
        "dean_cs@example.edu",
        "dean_cs_en@example.edu",
        "leader@example.edu",
    ]
    sent = session.exec(select(AuditEvent).where(AuditEvent.action == "bulletin.email")).all()
    assert len(sent) == 3
