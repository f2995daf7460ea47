"""The planner in Chinese and English: weekday names from Babel's locale data, form
errors and draw refusals in the reader's language, the CLI's words staying English."""

from __future__ import annotations

from babel.dates import format_date
from flask import Flask
from flask_babel import gettext
from sqlmodel import Session, select

from evalsys.i18n import in_locale
from evalsys.planner.draw import DrawError, draw_week
from evalsys.planner.models import Assignment, Draw
from tests.i18n.visible import data_words, foreign_words
from tests.planner.conftest import Plan

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _zh(app: Flask, message: str, **values) -> str:
    with app.app_context(), in_locale("zh"):
        return gettext(message, **values)


def test_my_assignments_name_the_weekday_in_each_language(
    client,
    auth,
    session: Session,
    now_plan: Plan,
):
    auth.login("cs-sup")
    rows = session.exec(
        select(Assignment).where(Assignment.supervisor_id == now_plan.cs_sup.id)
    ).all()
    day = rows[0].visit_date
    zh = client.get("/planner/", headers=ZH).get_data(as_text=True)
    en = client.get("/planner/").get_data(as_text=True)
    # Babel's own names ("周一", "Mon"), not a list of ours.
    assert format_date(day, "EEE", locale="zh") in zh
    assert format_date(day, "EEE", locale="en") in en
    assert not foreign_words(zh, "zh", data_words(session))
    assert not foreign_words(en, "en", data_words(session))


def test_settings_errors_in_chinese(app: Flask, client, auth, session: Session, plan: Plan):
    auth.login("admin")
    bad = {
        "visits_per_week": "3",
        "max_visits_per_week": "2",
        "visits_per_teacher": "",
        "buffer_weeks": "1",
        "weight_new_staff": "2",
        "weight_low_rated": "2",
        "low_rating_threshold": "70",
        "weight_never_visited": "2",
        "unannounced_share": "1.5",
    }
    r = client.post(f"/planner/terms/{plan.term.code}/settings", data=bad, headers=ZH)
    text = r.get_data(as_text=True)
    assert r.status_code == 422
    expected = [
        _zh(app, "The maximum cannot be below the quota of %(quota)s.", quota=3),
        _zh(app, "Enter the coverage target, e.g. 1."),
        _zh(app, "A share between 0 and 1, e.g. 0.5 for half."),
        _zh(app, "Nothing was saved: please correct the fields marked below."),
    ]
    assert expected[0] != "The maximum cannot be below the quota of 3."
    for message in expected:
        assert message in text
    assert not foreign_words(text, "zh", data_words(session))


def test_draw_refusal_in_the_readers_language_and_english_for_the_cli(
    app: Flask, client, auth, session: Session, plan: Plan
):
    auth.login("admin")
    r = client.post(f"/planner/terms/{plan.term.code}/draw", data={"week": "2"})
    assert r.status_code == 303
    r = client.post(
        f"/planner/terms/{plan.term.code}/draw",
        data={"week": "2"},
        headers=ZH,
        follow_redirects=True,
    )
    text = r.get_data(as_text=True)
    session.rollback()  # see what the requests wrote
    seed = session.exec(select(Draw.seed).where(Draw.term_id == plan.term.id)).one()
    message = _zh(
        app,
        "Week %(week)s of %(term)s is drawn already (seed %(seed)s).",
        week=2,
        term=plan.term.code,
        seed=seed,
    )
    assert "drawn already" not in message and message in text
    # The same refusal, for the CLI and the job log: English whatever the locale.
    with app.app_context(), in_locale("zh"):
        try:
            draw_week(session, term=plan.term, week=2)
        except DrawError as err:
            assert str(err) == f"Week 2 of {plan.term.code} is drawn already (seed {seed})."
            assert str(err.message) == message
        else:
            raise AssertionError("drew a drawn week")
