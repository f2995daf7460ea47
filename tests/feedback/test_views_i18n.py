"""The feedback pages in Chinese and in English: the form a supervisor fills on a phone,
its errors (and nothing typed lost), the record page with its history.

Expected texts come from the catalogue (gettext under ``in_locale``), never retyped:
a test fails when a string bypasses gettext or its translation goes missing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask_babel import gettext, ngettext

from evalsys.feedback import forms
from evalsys.feedback.inputs import FeedbackValidationError
from evalsys.feedback.vocab import (
    DIMENSION_NAMES,
    GRADE_NAMES,
    KIND_NAMES,
    MEETING_FORMAT_NAMES,
    OBSERVER_LEVEL_NAMES,
    REVISION_ACTION_NAMES,
)
from evalsys.i18n import fmt_date, in_locale, localized
from tests.feedback.test_views_support import (
    OPEN,
    SPOT,
    TUTOR,
    count,
    error_next_to,
    form_post,
    items,
    only_record,
    text,
    today,
)
from tests.i18n.visible import data_words, foreign_words, visible_text

ACCEPT = {"zh": {"Accept-Language": "zh-CN,zh;q=0.9"}, "en": {"Accept-Language": "en-GB,en"}}
LOCALES = ("zh", "en")


def say(app: Flask, locale: str, fn, *args, **kwargs) -> str:
    """What the catalogue says in ``locale``: gettext, a lazy string, or any callable."""
    with app.test_request_context(), in_locale(locale):
        return str(fn(*args, **kwargs))


def words(app: Flask, locale: str, value) -> str:
    with app.test_request_context(), in_locale(locale):
        return str(value)


def summary_of(page: str) -> str:
    return page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]


def no_other_language(page: str, locale: str, session, typed: dict[str, str] | None = None) -> None:
    """Nothing in the other language but stored data (and what the user typed, shown again)."""
    allowed = data_words(session) | set((typed or {}).values())
    assert foreign_words(page, locale, allowed) == []


# --- the form ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_spot_form_speaks_the_readers_language(app, client, auth, session, web, locale):
    auth.login("sup")
    page = text(client.get("/feedback/new/spot_check", headers=ACCEPT[locale]))
    shown = visible_text(page)
    kind = words(app, locale, KIND_NAMES[SPOT])
    assert say(app, locale, gettext, "%(kind)s: new record", kind=kind) in shown
    # every label of the form, and the part titles
    for name in forms.KIND_FIELDS[SPOT]:
        assert f">{words(app, locale, forms.label(SPOT, name))}<" in page, name
    for title, _names in forms.LAYOUT[SPOT]:
        assert f"<h2>{words(app, locale, title)}</h2>" in page
    # the choices: announced or not, the grades
    for name in forms.ANNOUNCED_NAMES.values():
        assert words(app, locale, name) in shown
    for grade in GRADE_NAMES.values():
        assert f">{words(app, locale, grade)}</option>" in page
    # the rubric: dimension names, item labels and criteria in the reader's language
    for item in items(session, SPOT):
        assert (
            f'<h3 class="dimension">{words(app, locale, DIMENSION_NAMES[item.dimension])}' in page
        )
        label = say(app, locale, localized, item, "label")
        assert label == (item.label_en if locale == "en" else item.label)
        assert label in shown
        assert say(app, locale, localized, item, "description") in shown
    hint = say(app, locale, gettext, "Within the term, not in the future.")
    assert hint in shown
    assert say(app, locale, gettext, "Save changes") not in shown  # a new form: no edit button
    no_other_language(page, locale, session)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", [OPEN, TUTOR])
def test_other_forms_speak_the_readers_language(app, client, auth, session, web, locale, kind):
    auth.login("leader" if kind == OPEN else "tutor")
    page = text(client.get(f"/feedback/new/{kind}", headers=ACCEPT[locale]))
    names = OBSERVER_LEVEL_NAMES if kind == OPEN else MEETING_FORMAT_NAMES
    for name in names.values():
        assert words(app, locale, name) in visible_text(page)
    for name in forms.KIND_FIELDS[kind]:
        assert f">{words(app, locale, forms.label(kind, name))}<" in page, name
    no_other_language(page, locale, session)


@pytest.mark.parametrize("locale", LOCALES)
def test_errors_speak_the_readers_language_and_keep_the_typing(
    app,
    client,
    auth,
    session,
    web,
    locale,
):
    auth.login("sup")
    data = form_post(session, SPOT, present="45", late="50")
    data.pop("scores-content_focus")  # a required item left out
    response = client.post("/feedback/new/spot_check", data=data, headers=ACCEPT[locale])
    assert response.status_code == 422 and count(session) == 0
    page = text(response)

    more = say(
        app,
        locale,
        gettext,
        "%(present)s present is more than the %(enrolled)s enrolled",
        present=45,
        enrolled=40,
    )
    late = say(
        app,
        locale,
        gettext,
        "%(late)s late is more than the %(present)s present",
        late=50,
        present=45,
    )
    item = next(i for i in items(session, SPOT) if i.code == "content_focus")
    label = item.label_en if locale == "en" else item.label
    missing = say(app, locale, gettext, "required: '%(label)s' has no score", label=label)
    assert error_next_to(page, "present") == more
    assert error_next_to(page, "late") == late
    assert error_next_to(page, "scores-content_focus") == missing

    # the summary counts the problems, names each field in the reader's words, links to it
    summary = summary_of(page)
    heading = say(
        app,
        locale,
        ngettext,
        "%(num)d problem to fix — nothing was saved",
        "%(num)d problems to fix — nothing was saved",
        3,
    )
    assert heading in summary
    present = words(app, locale, forms.LABELS["present"])
    colon = "：" if locale == "zh" else ": "  # Chinese punctuation in Chinese text
    assert f'<a href="#present">{present}</a>{colon}{more}' in summary
    assert f'<a href="#scores-content_focus-group">{label}</a>{colon}{missing}' in summary

    # nothing typed is lost, Chinese text included
    for name in ("class_period", "location"):
        assert f'value="{data[name]}"' in page, name
    for name in ("strengths", "problems", "suggestions"):
        assert f"{data[name]}</textarea>" in page, name
    assert re.search(r'name="present"[^>]*value="45"|value="45"[^>]*name="present"', page)
    assert '<option selected value="good">' in page
    no_other_language(page, locale, session, typed=data)


@pytest.mark.parametrize("locale", LOCALES)
def test_unreadable_values_are_explained_in_the_readers_language(
    app,
    client,
    auth,
    session,
    web,
    locale,
):
    auth.login("sup")
    data = form_post(session, SPOT, enrolled="四十", date="")
    page = text(client.post("/feedback/new/spot_check", data=data, headers=ACCEPT[locale]))
    assert error_next_to(page, "enrolled") == say(app, locale, gettext, "must be a whole number")
    assert error_next_to(page, "date") == say(
        app, locale, gettext, "required: the date of the visit"
    )
    assert 'value="四十"' in page  # kept as typed


def test_the_api_keeps_english_when_the_reader_reads_chinese(app):
    """One error, shown to a person in Chinese, written to a program in English."""
    err = FeedbackValidationError([])
    with app.test_request_context(headers=ACCEPT["zh"]):
        from flask_babel import lazy_gettext

        err.errors = [
            (
                "present",
                lazy_gettext(
                    "%(present)s present is more than the %(enrolled)s enrolled",
                    present=41,
                    enrolled=40,
                ),
            )
        ]
        chinese = err.by_field()["present"][0]
        assert chinese == say(
            app,
            "zh",
            gettext,
            "%(present)s present is more than the %(enrolled)s enrolled",
            present=41,
            enrolled=40,
        )
        assert chinese != "41 present is more than the 40 enrolled"
        assert err.as_json() == [
            {"field": "present", "message": "41 present is more than the 40 enrolled"}
        ]


# --- the record page --------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_record_page_and_history_speak_the_readers_language(
    app,
    client,
    auth,
    session,
    web,
    locale,
):
    auth.login("sup")
    new = form_post(session, SPOT)
    assert (
        client.post("/feedback/new/spot_check", data=new, headers=ACCEPT[locale]).status_code == 303
    )
    fb = only_record(session)
    edit = form_post(session, SPOT, present="38", announced="true", overall_grade="excellent")
    response = client.post(f"/feedback/{fb.id}/edit", data=edit, headers=ACCEPT[locale])
    assert response.status_code == 303

    page = text(client.get(f"/feedback/{fb.id}", headers=ACCEPT[locale]))
    shown = visible_text(page)
    assert words(app, locale, KIND_NAMES[SPOT]) in shown
    assert words(app, locale, GRADE_NAMES["excellent"]) in shown
    assert say(app, locale, fmt_date, today()) in shown
    assert say(
        app, locale, gettext, "%(present)s of %(enrolled)s present, %(late)s late",
        present=38, enrolled=40, late=2,
    ) in shown  # fmt: skip
    for item in items(session, SPOT):
        assert say(app, locale, localized, item, "label") in shown
    # the history: the action, each changed field and coded values in words
    assert f"<h2>{say(app, locale, gettext, 'History')}</h2>" in page
    assert f"<strong>{words(app, locale, REVISION_ACTION_NAMES['edit'])}</strong>" in page
    rows = re.sub(r"\s+", " ", page)
    present = words(app, locale, forms.LABELS["present"])
    assert f"<tr><td>{present}</td><td>36</td><td>38</td></tr>" in rows
    announced = words(app, locale, forms.LABELS["announced"])
    before = words(app, locale, forms.ANNOUNCED_NAMES["false"])
    after = words(app, locale, forms.ANNOUNCED_NAMES["true"])
    assert f"<tr><td>{announced}</td><td>{before}</td><td>{after}</td></tr>" in rows
    grade = words(app, locale, forms.LABELS["overall_grade"])
    good, excellent = (words(app, locale, GRADE_NAMES[g]) for g in ("good", "excellent"))
    assert f"<tr><td>{grade}</td><td>{good}</td><td>{excellent}</td></tr>" in rows
    no_other_language(page, locale, session)


@pytest.mark.parametrize("locale", LOCALES)
def test_lists_speak_the_readers_language(app, client, auth, session, web, locale):
    auth.login("sup")
    client.post("/feedback/new/spot_check", data=form_post(session, SPOT), headers=ACCEPT[locale])
    page = text(client.get("/feedback/mine", headers=ACCEPT[locale]))
    kind = words(app, locale, KIND_NAMES[SPOT])
    with app.test_request_context(), in_locale(locale):
        # the flash after saving, in the same language
        start = gettext("%(kind)s submitted. You can edit or withdraw it until %(deadline)s.")
    assert start.split("%(kind)s")[1].split("%(deadline)s")[0] in visible_text(page)
    assert kind in visible_text(page)
    assert say(app, locale, gettext, "My records") in visible_text(page)
    assert say(app, locale, fmt_date, today()) in visible_text(page)
    no_other_language(page, locale, session)
    page = text(client.get("/feedback/sections?kind=spot_check", headers=ACCEPT[locale]))
    assert say(app, locale, gettext, "Find a section") in visible_text(page)
    no_other_language(page, locale, session)


def test_a_tutor_group_meeting_is_not_called_a_class_visit(app, client, auth, session, web):
    """A tutor group meets and someone records it: no 听课 (attending a class) on its pages."""
    zh = ACCEPT["zh"]
    auth.login("tutor")
    response = client.post("/feedback/new/tutor_group", data=form_post(session, TUTOR, date=""),
                           headers=zh)  # fmt: skip
    assert response.status_code == 422
    page = text(response)
    assert error_next_to(page, "date") == "必填：请填写活动日期"
    assert "听课" not in visible_text(page)

    assert client.post("/feedback/new/tutor_group", data=form_post(session, TUTOR),
                       headers=zh).status_code == 303  # fmt: skip
    fb = only_record(session)
    earlier = (today() - timedelta(days=1)).isoformat()
    edit = form_post(session, TUTOR, date=earlier)
    assert client.post(f"/feedback/{fb.id}/edit", data=edit, headers=zh).status_code == 303
    shown = visible_text(text(client.get(f"/feedback/{fb.id}", headers=zh)))
    assert "记录人" in shown and shown.count("活动日期") >= 2  # the facts, and the history
    assert "听课" not in shown
