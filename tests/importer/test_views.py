"""The web import: upload, a dry-run preview of every error or every change, then apply the
very upload that was previewed; only school admins; nothing written before "apply"."""

from __future__ import annotations

import html
import io

import pytest
from flask_babel import gettext, ngettext
from sqlmodel import select

from evalsys.accounts.models import User
from evalsys.i18n import in_locale
from evalsys.importer.service import import_directory
from evalsys.org.models import Section
from tests.importer.test_org_files import GOOD, changed, domain, write_files
from tests.importer.test_xlsx import write_xlsx


@pytest.fixture
def admin(factory, auth):
    """A school admin of a university that the import files describe as well."""
    factory.university()
    factory.user("boss", "admin@U")
    factory.user("cs_admin", "admin@CS")
    auth.login("boss")


def upload(client, files: dict[str, str | bytes]):
    data = {
        "files": [
            (io.BytesIO(text.encode() if isinstance(text, str) else text), name)
            for name, text in files.items()
        ]
    }
    return client.post("/admin/import/", data=data, content_type="multipart/form-data")


def test_only_school_admins_import(client, auth, factory, session):
    factory.university()
    factory.user("cs_admin", "admin@CS")
    factory.user("dean", "dean@CS")
    for user in ("cs_admin", "dean"):
        auth.login(user)
        assert client.get("/admin/import/").status_code == 403
        assert upload(client, {"units.csv": GOOD["units.csv"]}).status_code == 403
        auth.logout()


def test_preview_shows_changes_and_writes_nothing_until_applied(client, admin, session, tmp_path):
    before = domain(session)
    # What the CLI's dry run says of the same files (tested in test_import.py) ...
    expected = import_directory(session, write_files(tmp_path, GOOD), dry_run=True).counts
    session.rollback()
    response = upload(client, GOOD)
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    page = client.get(preview_url).get_data(as_text=True)
    assert "What applying it would change" in page
    # ... is what the page shows.
    assert expected["units.csv"]["unchanged"] > 0 and expected["people.csv"]["created"] > 0
    for name, c in expected.items():
        row = "".join(f'<td class="num">{c[k]}</td>' for k in ("created", "updated", "unchanged"))
        assert f"<td><code>{name}</code></td>{row}" in page
    assert "SE101-02" in page and "G-AI-1" in page  # the new rows are named
    assert domain(session) == before

    applied = client.post(preview_url + "/apply", follow_redirects=True)
    text = applied.get_data(as_text=True)
    assert "Imported:" in text
    session.rollback()
    assert session.exec(select(Section.code).where(Section.code == "SE101-02")).one()
    # The staged upload is gone: applying twice does nothing more.
    again = client.post(preview_url + "/apply", follow_redirects=True).get_data(as_text=True)
    assert "no longer there" in again


def test_an_update_shows_the_new_value(client, admin, session):
    upload(client, GOOD)
    client.post(upload(client, GOOD).headers["Location"] + "/apply")
    files = changed(
        "sections.csv",
        "SE101-02,SE101,2026-2027-1,head.se,38",
        "SE101-02,SE101,2026-2027-1,head.se,52",
    )
    page = client.get(upload(client, files).headers["Location"]).get_data(as_text=True)
    assert "<strong>SE101-02</strong>: <code>enrolled</code> → 52" in page
    assert "Apply these changes" in page


def test_errors_are_listed_and_nothing_can_be_applied(client, admin, session):
    before = domain(session)
    files = changed(
        "sections.csv", "AI201-01,AI201,2026-2027-1,t.liu,60", "AI201-01,AI999,2026-2027-1,t.liu,60"
    )
    response = upload(client, files)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "nothing can be imported yet" in page
    cells = '<td><code>sections.csv</code></td><td class="num">4</td><td><code>course</code></td>'
    assert cells in page
    assert "AI999" in page
    assert "Apply these changes" not in page
    # Even a forged apply re-checks and writes nothing.
    forged = client.post(response.headers["Location"] + "/apply").get_data(as_text=True)
    assert "nothing can be imported yet" in forged
    assert domain(session) == before


def test_excel_files_preview_under_their_own_names(client, admin, session, tmp_path):
    path = tmp_path / "terms.xlsx"
    write_xlsx(path, GOOD["terms.csv"])
    page = client.get(upload(client, {"terms.xlsx": path.read_bytes()}).headers["Location"])
    text = page.get_data(as_text=True)
    assert '<td><code>terms.xlsx</code></td><td class="num">2</td>' in text


def test_unknown_or_repeated_names_are_refused_before_anything_is_staged(client, admin, app):
    response = upload(client, {"notes.txt": "hello", "units.csv": GOOD["units.csv"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "notes.txt: not a file the import reads" in page
    staging = app.instance_path + "/import-staging"
    import os

    assert not os.path.isdir(staging) or os.listdir(staging) == []
    empty = client.post("/admin/import/", data={}, content_type="multipart/form-data")
    assert "Choose at least one file." in empty.get_data(as_text=True)


def test_an_upload_belongs_to_its_admin(client, admin, auth, factory, session):
    location = upload(client, GOOD).headers["Location"]
    auth.logout()
    factory.user("boss2", "admin@U")
    auth.login("boss2")
    page = client.get(location, follow_redirects=True).get_data(as_text=True)
    assert "no longer there" in page
    before = domain(session)
    client.post(location + "/apply")
    assert domain(session) == before


def test_discard_removes_the_upload(client, admin, session):
    location = upload(client, GOOD).headers["Location"]
    client.post(location + "/discard")
    assert "no longer there" in client.get(location, follow_redirects=True).get_data(as_text=True)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_preview_errors_are_in_the_readers_language(client, admin, session, app, locale):
    boss = session.exec(select(User).where(User.username == "boss")).one()
    boss.locale = locale
    session.add(boss)
    session.commit()
    files = changed(
        "sections.csv", "AI201-01,AI201,2026-2027-1,t.liu,60", "AI201-01,AI999,2026-2027-1,t.liu,60"
    )
    files["terms.csv"] = files["terms.csv"].replace("2026-09-01", "2026/9/1")
    response = upload(client, files)
    page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    with app.test_request_context(), in_locale(locale):
        expected = [
            ngettext(
                "%(num)d problem: nothing can be imported yet",
                "%(num)d problems: nothing can be imported yet",
                2,
            ),
            gettext(
                "unknown %(column)s '%(code)s': neither in %(file)s nor in the database",
                column="course",
                code="AI999",  # what the file says, kept as it was uploaded
                file="courses.csv",
            ),
            gettext(
                "'%(value)s' is not a date written YYYY-MM-DD (for example 2026-09-01);"
                " in Excel, format the column as text or as yyyy-mm-dd before saving",
                value="2026/9/1",
            ),
            gettext("Apply these changes"),
        ]
    for text in expected[:3]:
        assert text in page
    assert expected[3] not in page
    if locale == "zh":  # really Chinese, not the English msgid passed through
        assert "neither in courses.csv" not in page and "nothing can be imported" not in page
    else:
        assert "neither in courses.csv nor in the database" in page
