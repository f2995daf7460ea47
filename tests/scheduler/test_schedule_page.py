"""The admins' schedule page: who may see it, what it shows, and "run now" in its own process."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from evalsys import create_app
from evalsys.accounts.models import AuditEvent
from evalsys.scheduler.models import JobRun


@pytest.fixture
def app(database_url, tmp_path):
    """The usual test app, with the sample job module registered."""
    from evalsys.db import get_engine

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
    # The sample job stays registered: its module is imported once per process.
    get_engine(app).dispose()


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
