"""The archive at /reports/bulletins/: scoped listing and verified downloads (no rendering:
rows with small files stand for rendered bulletins)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.bulletins.models import Bulletin
from tests.bulletins.conftest import WEEK


@pytest.fixture
def archived(bulletin_world, session, tmp_path) -> dict[str, Bulletin]:
    rows = {}
    for code in ("U", "CS", "MATH"):
        data = f"%PDF-1.7 bulletin of {code}".encode()
        path = tmp_path / "bulletins" / WEEK / f"{code}.en.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        row = Bulletin(
            unit_id=bulletin_world.uni.units[code].id,
            week=WEEK,
            locale="en",
            path=str(path),
            sha256=hashlib.sha256(data).hexdigest(),
            pages=1,
            size=len(data),
        )
        session.add(row)
        rows[code] = row
    session.commit()
    return rows


def _listed(page: str) -> set[str]:
    return {c for c in ("U", "CS", "MATH") if f"/reports/bulletins/{WEEK}/{c}.pdf" in page}


@pytest.mark.parametrize(
    ("user", "sees"),
    [("leader", {"U", "CS", "MATH"}), ("dean_cs", {"CS"}), ("wang", set()), ("sup_cs", set())],
)
def test_the_archive_lists_what_the_reader_may_read(archived, client, auth, user, sees):
    auth.login(user)
    page = client.get("/reports/bulletins/")
    assert page.status_code == 200
    assert _listed(page.get_data(as_text=True)) == sees


def test_downloads_are_scoped_verified_and_audited(archived, client, auth, session):
    auth.login("dean_cs")
    got = client.get(f"/reports/bulletins/{WEEK}/CS.pdf")
    assert got.status_code == 200 and got.data == b"%PDF-1.7 bulletin of CS"
    assert client.get(f"/reports/bulletins/{WEEK}/U.pdf").status_code == 403
    assert client.get(f"/reports/bulletins/{WEEK}/MATH.pdf").status_code == 403
    assert client.get("/reports/bulletins/2026-W99/CS.pdf").status_code == 404
    assert client.get("/reports/bulletins/2026-W44/CS.pdf").status_code == 404
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "bulletin.download")).all()
    assert [e.target for e in events] == [f"{WEEK} CS"]
    # A file that is not the one its row describes is never served.
    Path(archived["CS"].path).write_bytes(b"%PDF-1.7 something else")
    assert client.get(f"/reports/bulletins/{WEEK}/CS.pdf").status_code == 404


def test_observer_text_cannot_become_markup(app):
    """Quotes and titles are escaped (the fetcher is the second wall, not the first)."""
    from evalsys.bulletins.data import Bulletin as Data
    from evalsys.bulletins.data import Comment, Dimension, Line
    from evalsys.bulletins.render import bulletin_html
    from evalsys.bulletins.weeks import parse_week

    evil = '<img src="file:///etc/passwd">'
    data = Data("CS", "计算机学院", None, "college", parse_week(WEEK))
    data.lowest = [Dimension("method", "教学方法", "Method", 40.0, 3)]
    data.comments = [Comment("method", evil, 1)]
    data.new_problems = [Line(1, evil, "CS-SE", "proposed")]
    data.counts = {"new_problems": 1}
    html = bulletin_html(app, data, "en")
    assert "<img" not in html and html.count("&lt;img") == 2
