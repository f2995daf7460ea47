"""The admins' schedule page: who may see it, what it shows, and "run now" in its own process."""

from __future__ import annotations

import importlib
import sys
import time

import pytest
from sqlmodel import select

from evalsys import create_app
from evalsys.accounts.models import AuditEvent
from evalsys.scheduler.models import JobRun


@pytest.fixture
def app(database_url, tmp_path):
    """The usual test app, with the sample job module registered (for this test only)."""
    from evalsys.db import get_engine
    from evalsys.scheduler import jobs

    # Every module's jobs first: a module first imported by this app would otherwise be
    # forgotten below while staying imported, and its jobs would be gone for good.
    for name in jobs.JOB_MODULES:
        importlib.import_module(name)
    registered = list(jobs.JOBS)
    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SCHEDULER_EXTRA_JOB_MODULES": ["tests.scheduler.sample_registry"],
        }
    )
    yield app
    get_engine(app).dispose()
    # The job list is the process's: later tests (in any order, on any worker) must not
    # see the sample job. Its module registers it when imported, so it is forgotten too.
    jobs.JOBS[:] = registered
    sys.modules.pop("tests.scheduler.sample_registry", None)


@pytest.fixture
def people(factory):
    factory.university()
    factory.user("admin", "admin@U")
    factory.user("cs_admin", "admin@CS")
    factory.user("dean", "dean@CS")


@pytest.mark.parametrize(("user", "status"), [("admin", 200), ("cs_admin", 403), ("dean", 403)])
def test_only_school_admins_see_the_schedule(client, auth, people, user, status):
    auth.login(user)
    assert client.get("/admin/schedule/").status_code == status
    assert (
        client.post("/admin/schedule/sample-count/run").status_code == status
        if status != 200
        else True
    )


def test_page_says_no_scheduler_and_lists_jobs(client, auth, people):
    auth.login("admin")
    page = client.get("/admin/schedule/").get_data(as_text=True)
    assert "No scheduler is running" in page
    assert "Sample count" in page and "sample-count" in page and "never" in page


def test_run_now_runs_in_another_process_and_is_recorded(client, auth, people, session):
    auth.login("admin")
    r = client.post("/admin/schedule/sample-count/run")
    assert r.status_code == 302
    deadline = time.monotonic() + 30
    runs = []
    while time.monotonic() < deadline:
        session.rollback()
        runs = session.exec(select(JobRun).where(JobRun.job_id == "sample-count")).all()
        if runs and runs[0].finished_at is not None:
            break
        time.sleep(0.3)
    assert [(r.status, r.trigger, r.detail) for r in runs] == [("succeeded", "manual", "counted")]
    assert runs[0].owner.split(":")[1] != str(__import__("os").getpid())  # not this process
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "job.run_requested")).one()
    assert audit.target == "sample-count"
    page = client.get("/admin/schedule/").get_data(as_text=True)
    assert "succeeded" in page


def test_unknown_job_is_404(client, auth, people):
    auth.login("admin")
    assert client.post("/admin/schedule/nope/run").status_code == 404


# --- in the reader's language ----------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_page_is_in_the_admins_language(app, client, auth, people, session, locale):
    """Headings, job titles, run states and times follow the admin's language; codes stay."""
    from datetime import UTC, datetime

    from flask_babel import gettext

    from evalsys.accounts.models import User
    from evalsys.i18n import fmt_datetime, in_locale
    from evalsys.scheduler import jobs
    from tests.i18n.visible import ENGLISH, data_words, foreign_words, visible_text

    admin = session.exec(select(User).where(User.username == "admin")).one()
    admin.locale = locale
    session.add(admin)
    started = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    session.add(
        JobRun(
            job_id="aggregate-open-terms",
            status="failed",
            owner="h:1",
            trigger="schedule",
            started_at=started,
        )
    )
    session.commit()
    auth.login("admin")
    page = client.get("/admin/schedule/").get_data(as_text=True)
    text = visible_text(page)
    with app.test_request_context(), in_locale(locale):
        expected = [
            gettext("Schedule"),
            gettext("Run now"),
            gettext("Aggregate the open terms again (nightly)"),
            gettext("failed"),
            gettext("scheduled"),
            gettext("Aggregation runs"),
            fmt_datetime(started),
        ]
    for sentence in expected:
        assert " ".join(sentence.split()) in text, sentence
    assert 'class="status status-failed"' in page  # the code stays in the markup
    # Nothing of the other language but stored data and the test's own sample job's title.
    allowed = data_words(session)
    allowed |= {
        w
        for spec in jobs.JOBS
        if spec.func.startswith("tests.")
        for w in ENGLISH.findall(spec.title)
    }
    assert foreign_words(page, locale, allowed) == []
    # A refused form says so in the same language.
    response = client.post("/admin/schedule/aggregate", data={}, follow_redirects=True)
    with app.test_request_context(), in_locale(locale):
        assert gettext("Choose a term to aggregate.") in response.get_data(as_text=True)


def test_a_job_the_site_times_shows_its_interval_or_that_it_is_off(app, client, auth, people):
    auth.login("admin")
    app.config["FRESH_FIGURES_MINUTES"] = 7
    page = client.get("/admin/schedule/").get_data(as_text=True)
    row = page.split("<code>aggregate-fresh</code>", 1)[0].rsplit("<tr>", 1)[1]
    assert "every 7 minutes" in row
    app.config["FRESH_FIGURES_MINUTES"] = 0
    page = client.get("/admin/schedule/").get_data(as_text=True)
    row = page.split("<code>aggregate-fresh</code>", 1)[0].rsplit("<tr>", 1)[1]
    assert "switched off on this site (FRESH_FIGURES_MINUTES = 0)" in row
