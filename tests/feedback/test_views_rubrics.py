"""The admins' rubric pages: who may use them, a new version from text or a file, every
mistake listed with the text kept, publishing a draft, and the file round trip."""

from __future__ import annotations

import html
import io
import json

import pytest
from flask_babel import gettext, ngettext
from sqlmodel import select

from evalsys.accounts.models import AuditEvent, User
from evalsys.feedback import rubrics
from evalsys.feedback.models import Rubric
from evalsys.feedback.vocab import DIMENSIONS, KIND_NAMES, RubricStatus, name_of
from evalsys.i18n import in_locale

SMALL_TOML = """
kind = "spot_check"
title = "简表"
title_en = "Short form"
scale_min = 1
scale_max = 5

[[items]]
code = "attitude"
dimension = "attitude"
label = "教学态度"
weight = 40

[[items]]
code = "effect"
dimension = "effect"
label = "教学效果"
weight = 60
"""


@pytest.fixture
def people(factory, session):
    factory.university()
    factory.user("admin", "admin@U")
    factory.user("cs_admin", "admin@CS")
    factory.user("dean", "dean@CS")
    rubrics.ensure_default_rubrics(session)
    session.commit()


def versions(session, kind="spot_check"):
    session.rollback()  # end the read transaction: see what the app committed since
    rows = session.exec(select(Rubric).where(Rubric.kind == kind).order_by(Rubric.version)).all()
    return [(r.version, r.status) for r in rows]


@pytest.mark.parametrize("user", ["cs_admin", "dean"])
def test_only_school_admins_reach_the_rubric_pages(client, auth, people, session, user):
    auth.login(user)
    for url in (
        "/admin/rubrics/",
        "/admin/rubrics/spot_check/1",
        "/admin/rubrics/spot_check/1.json",
        "/admin/rubrics/spot_check/new",
    ):
        assert client.get(url).status_code == 403, url
    post = client.post("/admin/rubrics/spot_check/new", data={"text": SMALL_TOML, "fmt": "toml"})
    assert post.status_code == 403
    assert versions(session) == [(1, "published")]


def test_index_lists_every_kind_and_marks_the_current_version(client, auth, people):
    auth.login("admin")
    page = client.get("/admin/rubrics/").get_data(as_text=True)
    for kind in ("Spot check", "Open class", "Tutor group"):
        assert kind in page
    assert page.count("current</strong>") == 3
    assert "class inspection (spot check)" in page  # the English title, in English


def test_pasted_toml_becomes_the_next_published_version(client, auth, people, session):
    auth.login("admin")
    response = client.post(
        "/admin/rubrics/spot_check/new",
        data={"text": SMALL_TOML, "fmt": "toml", "then": "publish"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/rubrics/spot_check/2")
    assert versions(session) == [(1, "retired"), (2, "published")]
    current = rubrics.current_rubric(session, "spot_check")
    assert [i.code for i in rubrics.rubric_items(session, current.id)] == ["attitude", "effect"]
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "rubric.publish")).all()
    assert any(e.target == "spot_check v2" for e in audit)


def test_an_uploaded_file_stored_as_a_draft_then_published(client, auth, people, session):
    auth.login("admin")
    data = {
        "file": (io.BytesIO(SMALL_TOML.encode()), "short.toml"),
        "then": "draft",
        "fmt": "json",
    }
    response = client.post(
        "/admin/rubrics/spot_check/new", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert versions(session) == [(1, "published"), (2, "draft")]
    page = client.get("/admin/rubrics/spot_check/2").get_data(as_text=True)
    assert "Publish v2" in page and "教学效果" in page
    assert client.post("/admin/rubrics/spot_check/2/publish").status_code == 302
    assert versions(session) == [(1, "retired"), (2, "published")]
    # Publishing again is refused with the reason, and nothing changes.
    again = client.post("/admin/rubrics/spot_check/2/publish", follow_redirects=True)
    assert "Not published" in again.get_data(as_text=True)
    assert versions(session) == [(1, "retired"), (2, "published")]


def test_every_mistake_is_listed_and_the_text_is_kept(client, auth, people, session):
    auth.login("admin")
    broken = SMALL_TOML.replace('dimension = "effect"', 'dimension = "charisma"').replace(
        "weight = 40", "weight = -4"
    )
    response = client.post(
        "/admin/rubrics/spot_check/new", data={"text": broken, "fmt": "toml", "then": "publish"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "not stored" in page
    assert "charisma" in page and "weight" in page
    # The text comes back exactly as typed (HTML-escaped in the page), ready to correct.
    assert "dimension = &#34;charisma&#34;" in page or 'dimension = "charisma"' in page
    assert "weight = -4" in page
    assert versions(session) == [(1, "published")]


def test_a_broken_upload_comes_back_in_the_box(client, auth, people, session):
    auth.login("admin")
    data = {"file": (io.BytesIO(b'kind = "spot_check"\ntitle = '), "bad.toml"), "fmt": "json"}
    response = client.post(
        "/admin/rubrics/spot_check/new", data=data, content_type="multipart/form-data"
    )
    page = response.get_data(as_text=True)
    assert "not valid TOML" in page
    assert "kind = &#34;spot_check&#34;" in page or 'kind = "spot_check"' in page
    assert '<option selected value="toml">' in page
    assert versions(session) == [(1, "published")]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ((b"\xff\xfe\x00k", "rubric.toml"), "not UTF-8"),
        ((b"kind,title\n", "rubric.csv"), "use a .toml or .json file"),
    ],
)
def test_wrong_files_are_named(client, auth, people, session, upload, message):
    auth.login("admin")
    content, name = upload
    data = {"file": (io.BytesIO(content), name), "fmt": "json"}
    page = client.post(
        "/admin/rubrics/spot_check/new", data=data, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert message in page and name in page
    assert versions(session) == [(1, "published")]


def test_a_rubric_of_another_kind_is_refused_on_this_page(client, auth, people, session):
    auth.login("admin")
    other = SMALL_TOML.replace('kind = "spot_check"', 'kind = "open_class"')
    page = client.post(
        "/admin/rubrics/spot_check/new", data={"text": other, "fmt": "toml"}
    ).get_data(as_text=True)
    assert "this is a rubric for Open class" in page
    assert versions(session, "open_class") == [(1, "published")]
    assert versions(session) == [(1, "published")]


def test_empty_form_says_what_to_do(client, auth, people, session):
    auth.login("admin")
    page = client.post(
        "/admin/rubrics/spot_check/new", data={"text": "  ", "fmt": "json"}
    ).get_data(as_text=True)
    assert "Choose a file or paste the rubric" in page
    assert versions(session) == [(1, "published")]


def test_the_new_page_starts_from_the_current_version_and_loads_back(client, auth, people, session):
    """Download → load unchanged gives a new version with the same items (a round trip)."""
    auth.login("admin")
    downloaded = client.get("/admin/rubrics/spot_check/1.json")
    assert "attachment" in downloaded.headers["Content-Disposition"]
    data = json.loads(downloaded.get_data(as_text=True))
    page = client.get("/admin/rubrics/spot_check/new").get_data(as_text=True)
    assert "attitude_preparation" in page
    response = client.post(
        "/admin/rubrics/spot_check/new",
        data={"text": json.dumps(data, ensure_ascii=False), "fmt": "json", "then": "publish"},
    )
    assert response.status_code == 302
    v1 = rubrics.get_rubric(session, "spot_check", 1)
    v2 = rubrics.get_rubric(session, "spot_check", 2)
    assert v2.status == RubricStatus.PUBLISHED
    assert rubrics.rubric_as_dict(session, v1) == rubrics.rubric_as_dict(session, v2)


def test_unknown_kind_and_version_are_404(client, auth, people):
    auth.login("admin")
    assert client.get("/admin/rubrics/charisma/1").status_code == 404
    assert client.get("/admin/rubrics/spot_check/9").status_code == 404
    assert client.get("/admin/rubrics/charisma/new").status_code == 404


def test_home_page_links_school_admins_to_rubrics_and_import(client, auth, people):
    auth.login("admin")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/admin/rubrics/"' in page and 'href="/admin/import/"' in page
    auth.logout()
    auth.login("cs_admin")
    page = client.get("/").get_data(as_text=True)
    assert "/admin/rubrics/" not in page and "/admin/import/" not in page


def _reader(session, username: str, locale: str) -> None:
    user = session.exec(select(User).where(User.username == username)).one()
    user.locale = locale
    session.add(user)
    session.commit()


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_rubric_mistakes_are_in_the_readers_language(client, auth, people, session, app, locale):
    _reader(session, "admin", locale)
    auth.login("admin")
    broken = SMALL_TOML.replace('dimension = "effect"', 'dimension = "charisma"')
    response = client.post(
        "/admin/rubrics/spot_check/new", data={"text": broken, "fmt": "toml", "then": "publish"}
    )
    page = html.unescape(response.get_data(as_text=True))
    with app.test_request_context(), in_locale(locale):
        where = gettext("item %(number)s '%(code)s'", number=2, code="effect")
        mistake = gettext(
            "%(where)s: dimension: unknown dimension '%(dimension)s' for %(kind)s;"
            " expected one of %(dimensions)s",
            where=where,
            dimension="charisma",
            kind="spot_check",
            dimensions=", ".join(DIMENSIONS["spot_check"]),
        )
        heading = ngettext(
            "The rubric was not stored: %(num)d thing to correct",
            "The rubric was not stored: %(num)d things to correct",
            1,
        )
        button = gettext("Store the new version")
    assert mistake in page and heading in page and button in page
    assert 'dimension = "charisma"' in page  # the text stays in the box, as typed
    assert versions(session) == [(1, "published")]
    if locale == "zh":
        assert "unknown dimension" not in page and "not stored" not in page
    else:
        assert "item 2 'effect': dimension: unknown dimension 'charisma'" in page


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_an_empty_form_and_a_publish_are_told_in_the_readers_language(
    client, auth, people, session, app, locale
):
    _reader(session, "admin", locale)
    auth.login("admin")
    empty = client.post(
        "/admin/rubrics/spot_check/new", data={"text": "", "fmt": "json", "then": "draft"}
    )
    small = client.post(
        "/admin/rubrics/spot_check/new", data={"text": SMALL_TOML, "fmt": "toml", "then": "draft"}
    )
    stored = client.get(small.headers["Location"]).get_data(as_text=True)
    client.post("/admin/rubrics/spot_check/2/publish")
    published = client.get("/admin/rubrics/spot_check/2").get_data(as_text=True)
    with app.test_request_context(), in_locale(locale):
        kind = name_of(KIND_NAMES, "spot_check")
        choose = gettext("Choose a file or paste the rubric in the box.")
        draft = gettext("Stored %(kind)s v%(version)s as a draft.", kind=kind, version=2)
        done = gettext(
            "Published %(kind)s v%(version)s: new %(kind)s feedback uses it from now on.",
            kind=kind,
            version=2,
        )
    assert choose in html.unescape(empty.get_data(as_text=True))
    assert draft in html.unescape(stored) and done in html.unescape(published)
    if locale == "zh":
        assert choose != "Choose a file or paste the rubric in the box."
        assert "简表" in published  # the Chinese title
    else:
        assert "Short form" in published  # the English title where there is one
