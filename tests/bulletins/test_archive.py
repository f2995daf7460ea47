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


def test_a_rendering_killed_between_its_row_and_its_rename_is_finished_by_the_download(
    archived, client, auth, session
):
    """A renderer killed after committing the newer row and before renaming its part over
    the file: the download settles the folder (store.settle), installs the part the row
    names and serves it, instead of a 404 until the next rendering."""
    from evalsys.reports import store

    old = archived["CS"]
    newer = b"%PDF-1.7 bulletin of CS, rendered again"
    part = store.write_part(Path(old.path), newer)
    part.release()  # the writer dies: its lock goes with it
    session.add(
        Bulletin(
            unit_id=old.unit_id,
            week=WEEK,
            locale="en",
            path=old.path,
            sha256=hashlib.sha256(newer).hexdigest(),
            pages=1,
            size=len(newer),
        )
    )
    session.commit()
    assert Path(old.path).read_bytes() == b"%PDF-1.7 bulletin of CS"  # not renamed yet
    auth.login("dean_cs")
    got = client.get(f"/reports/bulletins/{WEEK}/CS.pdf")
    assert got.status_code == 200 and got.data == newer
    assert Path(old.path).read_bytes() == newer
    assert not list(Path(old.path).parent.glob(".*.part"))
    # A dead part no row names is deleted, and the file its row describes still served.
    stray = store.write_part(Path(old.path), b"%PDF-1.7 never recorded")
    stray.release()
    Path(old.path).write_bytes(b"%PDF-1.7 damaged")
    assert client.get(f"/reports/bulletins/{WEEK}/CS.pdf").status_code == 404
    assert not list(Path(old.path).parent.glob(".*.part"))


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


def test_a_rendering_that_fails_after_its_commit_keeps_its_part_for_the_download(
    bulletin_world, app, session, client, auth, monkeypatch
):
    """The row committed, then the rename fails (a full disk, a signal): the part is not
    deleted — the row names it — and the next download installs and serves it."""
    from evalsys.bulletins.render import render_bulletin
    from evalsys.bulletins.weeks import parse_week
    from evalsys.reports import store

    def fail(self):
        self.release()
        raise OSError("no space left on device")

    monkeypatch.setattr(store.Part, "install", fail)
    with pytest.raises(OSError):
        render_bulletin(session, app, unit_code="CS", week=parse_week(WEEK), locale="en")
    monkeypatch.undo()
    [row] = session.exec(select(Bulletin)).all()
    assert not Path(row.path).exists()
    assert len(list(Path(row.path).parent.glob(".*.part"))) == 1
    auth.login("dean_cs")
    got = client.get(f"/reports/bulletins/{WEEK}/CS.pdf")
    assert got.status_code == 200 and hashlib.sha256(got.data).hexdigest() == row.sha256
    assert Path(row.path).read_bytes() == got.data
