"""The loop in Chinese and English: pages, form errors, and the report's section in the
language it is rendered in (outside any request, as the PDF renderer does)."""

from __future__ import annotations

from flask_babel import gettext
from sqlmodel import select

from evalsys.i18n import in_locale
from evalsys.loop.models import CATEGORY_NAMES, STATUS_NAMES, Problem
from evalsys.loop.problems import create_problem
from evalsys.loop.proposals import propose_problems
from evalsys.loop.report import report_section
from tests.i18n.visible import data_words, foreign_words

T1 = "2025-2026-2"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _zh(app, message: str, **values) -> str:
    with app.app_context(), in_locale("zh"):
        return gettext(message, **values)


def test_meeting_form_errors_in_chinese(world, people, session, client, auth, app):
    propose_problems(session, term=world.uni.terms["T1"], unit=world.uni.units["CS-SE"], user=None)
    session.commit()
    auth.login("head_se")
    resp = client.post(
        f"/loop/units/CS-SE/meetings/new?term={T1}",
        data={"held_on": "2026-02-30", "title": "方法研讨", "decisions": ""},
        headers=ZH,
    )
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    expected = [
        _zh(app, "Write down what the meeting decided."),
        _zh(app, "“%(value)s” is not a date; write it as YYYY-MM-DD.", value="2026-02-30"),
        _zh(app, "Name at least one attendee."),
        _zh(app, "Subject discussion meeting"),
    ]
    for message in expected:
        assert message in text.replace("&#34;", '"')
    # A real translation, not the English msgid falling through.
    assert expected[0] != "Write down what the meeting decided."
    assert not foreign_words(text, "zh", data_words(session))


def test_problem_list_names_codes_in_the_readers_language(
    world, people, session, client, auth, app
):
    propose_problems(session, term=world.uni.terms["T1"], unit=world.uni.units["CS-SE"], user=None)
    session.commit()
    method = session.exec(select(Problem).where(Problem.source_key == "flag:method")).one()
    auth.login("head_se")
    zh = client.get(f"/loop/units/CS-SE?term={T1}", headers=ZH).get_data(as_text=True)
    en = client.get(f"/loop/units/CS-SE?term={T1}").get_data(as_text=True)
    with app.app_context():
        with in_locale("zh"):
            zh_names = (str(CATEGORY_NAMES[method.category]), str(STATUS_NAMES["proposed"]))
        with in_locale("en"):
            en_names = (str(CATEGORY_NAMES[method.category]), str(STATUS_NAMES["proposed"]))
    assert zh_names != en_names
    assert all(n in zh for n in zh_names) and all(n in en for n in en_names)
    assert not foreign_words(zh, "zh", data_words(session))
    assert not foreign_words(en, "en", data_words(session))


def test_report_section_follows_the_rendering_language(world, people, session, app):
    """reports/_part.html includes loop/_report_section.html outside any loop request:
    the codes are named by the app-wide loop_name global, in the locale being rendered."""
    problem = create_problem(
        session,
        term=world.uni.terms["T1"],
        unit=world.uni.units["CS-SE"],
        user=people["head_se"],
        title="Labs are out of date",
        category="practice",
        severity="high",
    )
    session.commit()
    data = {
        "loop": report_section(session, term=world.uni.terms["T2"], unit_id=problem.unit_id),
        "unit": {"name": "软件工程系", "name_en": "Software Engineering", "code": "CS-SE"},
    }
    assert [p["title"] for p in data["loop"]["problems"]] == ["Labs are out of date"]
    template = app.jinja_env.get_template("loop/_report_section.html")
    with app.app_context():
        out = {}
        for locale in ("zh", "en"):
            with in_locale(locale):
                html = template.render(data=data)
                expected = [
                    str(CATEGORY_NAMES["practice"]),
                    str(STATUS_NAMES["open"]),
                    gettext("Last term's problems (%(term)s) and what became of them", term=T1),
                ]
            assert all(e in html for e in expected), (locale, expected)
            out[locale] = html
    assert out["zh"] != out["en"]
    assert not foreign_words(out["zh"], "zh", data_words(session))


def test_an_action_is_a_corrective_measure_not_a_ui_operation(
    world, people, session, client, auth, app
):
    """措施 (what will be done about a problem), never 操作 (a button's column)."""
    from datetime import date, timedelta

    from evalsys.loop.actions import ActionInput, create_action

    head = people["head_se"]
    problem = create_problem(
        session,
        term=world.uni.terms["T1"],
        unit=world.uni.units["CS-SE"],
        user=head,
        title="实验课时不足",
        category="practice",
        severity="low",
    )
    today = date(2026, 7, 10)
    action = create_action(
        session,
        problem=problem,
        user=head,
        today=today,
        data=ActionInput(
            title="增加实验课时",
            owner_id=people["teacher"].id,
            due_date=today + timedelta(days=30),
        ),
    )
    session.commit()
    auth.login("head_se")
    page = client.get(f"/loop/actions/{action.id}", headers=ZH).get_data(as_text=True)
    from tests.i18n.visible import visible_text

    text = visible_text(page)
    assert "整改措施" in text and "操作" not in text
