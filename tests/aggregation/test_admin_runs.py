"""Aggregation runs on the admins' schedule page, and "run aggregation now" in its own process."""

from __future__ import annotations

import os
import time

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.aggregation import service
from evalsys.aggregation.models import AggregationRun

PAGE = "/admin/schedule/"
RUN = "/admin/schedule/aggregate"


@pytest.fixture
def people(bare_uni):
    f = bare_uni.factory
    f.user("admin", "admin@U")
    f.user("cs_admin", "admin@CS")
    f.user("dean", "dean@CS")
    return bare_uni


def test_the_page_lists_runs_with_counts_and_errors(client, auth, people, session):
    t1, t2 = people.terms["T1"], people.terms["T2"]
    done = service.aggregate_term(session, term=t1.code, trigger="cli")
    session.add(
        AggregationRun(term_id=t2.id, status="failed", trigger="job", error="ValueError: boom")
    )
    session.commit()
    auth.login("admin")
    page = client.get(PAGE).get_data(as_text=True)
    runs = page[page.index("<tbody>", page.index("Aggregation runs")) :]
    # Newest first: the failed run of T2, then the successful one of T1 with its counts.
    assert runs.index(t2.code) < runs.index(t1.code)
    assert "ValueError: boom" in runs and "status-failed" in runs
    assert "status-succeeded" in runs
    assert f"run {done.id} · command line" in runs  # the trigger "cli", in words
    assert f"{done.result_count}<br>" in runs and f"{done.coverage_count} coverage" in runs
    # Both terms can be aggregated from here.
    assert f'<option value="{t1.code}">' in page and f'<option value="{t2.code}">' in page


@pytest.mark.parametrize("user", ["cs_admin", "dean"])
def test_only_school_admins_may_start_a_run(client, auth, people, session, user):
    auth.login(user)
    assert client.post(RUN, data={"term": people.terms["T1"].code}).status_code == 403
    assert session.exec(select(AggregationRun)).all() == []


def test_an_unknown_term_starts_nothing(client, auth, people, session):
    auth.login("admin")
    response = client.post(RUN, data={"term": "NOPE"}, follow_redirects=True)
    assert "Choose a term to aggregate." in response.get_data(as_text=True)
    assert session.exec(select(AuditEvent).where(AuditEvent.action.startswith("aggr"))).all() == []


def test_run_now_aggregates_in_another_process(client, auth, people, session):
    code = people.terms["T2"].code
    auth.login("admin")
    assert client.post(RUN, data={"term": code}).status_code == 302
    deadline = time.monotonic() + 60
    runs: list[AggregationRun] = []
    while time.monotonic() < deadline:
        session.rollback()
        runs = list(session.exec(select(AggregationRun)).all())
        if runs and runs[0].finished_at is not None:
            break
        time.sleep(0.3)
    assert [(r.status, r.trigger, r.term_id) for r in runs] == [
        ("succeeded", "manual", people.terms["T2"].id)
    ]
    assert runs[0].result_count and runs[0].result_count > 0  # the school, colleges, ...
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "aggregation.run_requested")
    ).one()
    assert event.target == code
    assert str(os.getpid()) not in (runs[0].error or "")
    page = client.get(PAGE).get_data(as_text=True)
    assert "manual" in page[page.index("Aggregation runs") :]
