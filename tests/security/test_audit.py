"""The audit log: what is recorded, the admins' page with filters and pages, and that no
route can change it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlmodel import Session, col, select

from evalsys import ROOT
from evalsys.accounts.models import AuditEvent
from evalsys.accounts.service import audit
from tests.factories import Factory


@pytest.fixture
def people(factory: Factory):
    factory.university()
    return {
        "root": factory.user("root", "admin@U"),
        "cs_admin": factory.user("cs_admin", "admin@CS"),
        "dean": factory.user("dean", "dean@CS"),
    }


def _login(app: Flask, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": Factory.PASSWORD})
    assert r.status_code == 302
    return client


def _events(session: Session) -> list[tuple[str, str | None, str | None]]:
    session.expire_all()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return [(e.action, e.target, e.detail) for e in rows]


def test_role_changes_from_the_cli_are_recorded(cli, session, people):
    result = cli("create-user", "wang", "--name", "王老师", "--role", "teacher@CS-SE",
                 "--role", "head@CS-SE")  # fmt: skip
    assert result.exit_code == 0, result.output
    events = _events(session)
    assert ("role.grant", "wang", "head@CS-SE") in events
    assert ("role.grant", "wang", "teacher@CS-SE") in events


def test_role_revocations_are_recorded(session, people):
    from evalsys.accounts import service

    dean = people["dean"]
    service.replace_grants(session, dean, [service.parse_role_spec("dean@MATH")])
    service.remove_all_grants(session, dean)
    session.commit()
    events = _events(session)
    assert events[-3:] == [
        ("role.grant", "dean", "dean@MATH"),
        ("role.revoke", "dean", "dean@CS"),
        ("role.revoke", "dean", "dean@MATH"),
    ]


def test_logins_and_failures_are_recorded_with_the_address(app, session, people):
    _login(app, "dean")
    app.test_client().post(
        "/login",
        data={"username": "dean", "password": "not the password"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    rows = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.action).like("login%"))
        .order_by(col(AuditEvent.id))  # PostgreSQL's heap order is no order
    ).all()
    assert [(e.action, e.user_id, e.ip) for e in rows] == [
        ("login", people["dean"].id, "127.0.0.1"),
        ("login.failed", None, "192.0.2.7"),
    ]


def test_only_school_admins_see_the_page(app, people):
    root = _login(app, "root")
    assert root.get("/admin/audit/").status_code == 200
    assert 'href="/admin/audit/"' in root.get("/").get_data(as_text=True)  # linked from home
    assert 'href="/admin/audit/"' not in _login(app, "cs_admin").get("/").get_data(as_text=True)
    assert _login(app, "cs_admin").get("/admin/audit/").status_code == 403
    assert _login(app, "dean").get("/admin/audit/").status_code == 403
    r = app.test_client().get("/admin/audit/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def _add(session, action, target, *, days_ago=0, user_id=None, detail=None):
    audit(session, action, user_id=user_id, target=target, detail=detail, ip="192.0.2.1")
    event = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
    session.flush()
    event.at = datetime(2026, 11, 20, 12, tzinfo=UTC) - timedelta(days=days_ago)
    session.add(event)
    session.commit()


def _shown(page: str) -> list[str]:
    """The targets in the table, top to bottom."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [
        cells[2]
        for cells in re.findall(
            r"<tr>\s*<td>(.*?)</td>\s*<td>(?:[^<]*<br>)?<code>(.*?)</code></td>\s*<td>.*?</td>\s*"
            r"<td>(.*?)</td>",
            body,
            re.S,
        )
    ]  # noqa: E501


def test_filters_and_pages(app, session, people):
    session.exec(AuditEvent.__table__.delete())  # type: ignore[attr-defined]  (a clean slate)
    session.commit()
    for i in range(7):
        _add(
            session, "report.download", f"2026-2027-1 CS-{i}", days_ago=i, user_id=people["dean"].id
        )
    _add(session, "aggregates.export", "2026-2027-1", days_ago=3, detail="csv, 12 rows 100%_x")
    _add(session, "role.grant", "dean", days_ago=10, detail="dean@MATH")
    app.config["AUDIT_PER_PAGE"] = 3
    client = _login(app, "root")  # adds a login event, today

    page = client.get("/admin/audit/?action=report.download").get_data(as_text=True)
    assert "7 events match" in page
    assert _shown(page) == ["2026-2027-1 CS-0", "2026-2027-1 CS-1", "2026-2027-1 CS-2"]
    page3 = client.get("/admin/audit/?action=report.download&page=3").get_data(as_text=True)
    assert _shown(page3) == ["2026-2027-1 CS-6"]
    assert "Page 3 of 3" in page3 and 'rel="prev"' in page3 and 'rel="next"' not in page3

    # By user: what the dean did, and what was done to the dean.
    page = client.get("/admin/audit/?who=dean").get_data(as_text=True)
    assert "8 events match" in page
    # By text in the target or detail; % and _ are literal characters, not wildcards.
    assert "1 event match" in client.get("/admin/audit/?q=100%25_x").get_data(as_text=True)
    assert "No events match" in client.get("/admin/audit/?q=100%25_y").get_data(as_text=True)
    # By dates (inclusive), newest first.
    page = client.get("/admin/audit/?since=2026-11-16&until=2026-11-17").get_data(as_text=True)
    assert _shown(page) == ["2026-2027-1", "2026-2027-1 CS-3", "2026-2027-1 CS-4"]
    assert "3 events match" in page
    # A bad date says so next to the field and keeps what was typed.
    r = client.get("/admin/audit/?since=30.11.2026")
    assert r.status_code == 400
    assert b"a date like 2026-11-30" in r.data and b'value="30.11.2026"' in r.data
    # An unknown action filters nothing rather than failing.
    assert client.get("/admin/audit/?action=nope';DROP TABLE audit_event;--").status_code == 200


def test_date_filters_are_days_on_the_sites_calendar(app, session, people):
    """The page shows times on the site's clock (Asia/Shanghai), so "since 1 December"
    takes in 23:30 UTC on 30 November (07:30 on 1 December there) and not 15:30 UTC
    (23:30 on 30 November there)."""
    session.exec(AuditEvent.__table__.delete())  # type: ignore[attr-defined]
    session.commit()
    for target, at in (
        ("late", datetime(2026, 11, 30, 23, 30)),
        ("early", datetime(2026, 11, 30, 15, 30)),
    ):
        audit(session, "role.grant", user_id=None, target=target, ip="192.0.2.1")
        event = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
        event.at = at.replace(tzinfo=UTC)
        session.add(event)
        session.commit()
    client = _login(app, "root")
    since = client.get("/admin/audit/?action=role.grant&since=2026-12-01").get_data(as_text=True)
    assert _shown(since) == ["late"]
    until = client.get("/admin/audit/?action=role.grant&until=2026-11-30").get_data(as_text=True)
    assert _shown(until) == ["early"]


def test_no_route_changes_the_log(app, session, people):
    # Only GET (and HEAD/OPTIONS) is routed under /admin/audit.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin/audit"):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
    client = _login(app, "root")
    before = _events(session)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/admin/audit/", "/admin/audit/1", "/admin/audit/1/delete"):
            r = client.open(path, method=method, data={"id": "1"})
            assert r.status_code in (404, 405), (method, path, r.status_code)
    assert _events(session) == before


def test_no_code_updates_or_deletes_audit_rows():
    """Insert only: no module of the app updates or deletes an AuditEvent."""
    pattern = re.compile(
        r"(update|delete)\(\s*AuditEvent|AuditEvent\.__table__\.(update|delete)"
        r"|UPDATE\s+audit_event|DELETE\s+FROM\s+audit_event",
        re.I,
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "evalsys").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_page_describes_the_codes_in_the_readers_language(app, session, people, locale):
    """Action codes stay codes (stored, filtered on, in <code>); a known one gets a description
    in the reader's language, and a date error says what to type in that language too."""
    from flask_babel import gettext

    from evalsys.i18n import fmt_datetime, in_locale
    from tests.i18n.visible import data_words, foreign_words, visible_text

    session.exec(AuditEvent.__table__.delete())  # type: ignore[attr-defined]
    session.commit()
    _add(session, "report.download", "2026-2027-1 CS", days_ago=1, user_id=people["dean"].id)
    _add(session, "custom.thing", "x", days_ago=2)
    people["root"].locale = locale
    session.add(people["root"])
    session.commit()
    client = _login(app, "root")
    page = client.get("/admin/audit/").get_data(as_text=True)
    text = visible_text(page)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "report.download")).one()
    with app.test_request_context(), in_locale(locale):
        described = gettext("Report downloaded")
        when = fmt_datetime(event.at)
        title = gettext("Audit log")
    assert f"{described}<br><code>report.download</code>" in page
    assert "<td><code>custom.thing</code></td>" in page  # unknown: the code alone
    assert title in text and " ".join(when.split()) in text
    assert f'<option value="report.download">{described}</option>' in page
    assert foreign_words(page, locale, data_words(session)) == []
    r = client.get("/admin/audit/?since=30.11.2026")
    with app.test_request_context(), in_locale(locale):
        error = gettext("Enter a date like %(example)s.", example="2026-11-30")
    assert r.status_code == 400 and error in r.get_data(as_text=True)
