"""The dashboards in the reader's language: a Chinese user's are Chinese, an English one's English.

Texts are checked against the catalogue (``gettext`` under ``in_locale``), never re-typed,
and every dashboard is scanned for words of the other language that are not stored data
(:mod:`tests.i18n.visible`). Numbers and times are formatted as the locale writes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask_babel import gettext
from sqlmodel import select

from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.i18n import fmt_date, fmt_datetime, fmt_num, in_locale
from evalsys.org.models import OrgUnit, Term
from evalsys.reports.models import Report
from evalsys.scheduler.models import JobRun
from tests.dashboards.test_dashboards import home, part, user
from tests.i18n.visible import data_words, foreign_words, visible_text

BOARDS = {
    "dean": ["dash-leader"],
    "boss": ["dash-leader", "dash-admin"],
    "t0": ["dash-teacher"],
    "o1": ["dash-observer"],
}


def _speak(session, locale: str) -> None:
    for name in BOARDS:
        person = user(session, name)
        person.locale = locale
        session.add(person)
    session.commit()


def _last_run(session) -> AggregationRun:
    return session.exec(
        select(AggregationRun)
        .where(AggregationRun.status == RunStatus.SUCCEEDED.value)
        .order_by(AggregationRun.id.desc())  # type: ignore[union-attr]
    ).first()


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_each_dashboard_is_in_the_users_language(locale, app, client, auth, aggregated, session):
    session.add(JobRun(job_id="aggregate-open-terms", status="succeeded", owner="h:1"))
    session.commit()
    _speak(session, locale)
    allowed = data_words(session)
    problems = []
    for name, boards in BOARDS.items():
        page = home(client, auth, name)
        assert 'lang="zh-Hans"' in page if locale == "zh" else 'lang="en"' in page
        for board in boards:
            html = part(page, board)
            assert html, f"{name} has no {board}"
            words = foreign_words(html, locale, allowed)
            if words:
                problems.append(f"{name} {board}: {' '.join(words[:20])}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_leader_dashboard_texts_times_and_numbers_follow_the_locale(
    locale, app, client, auth, aggregated, session
):
    _speak(session, locale)
    run = _last_run(session)
    term = session.get(Term, run.term_id)
    cs = session.exec(select(OrgUnit).where(OrgUnit.code == "CS")).one()
    rendered = datetime(2026, 11, 30, 18, 5, tzinfo=UTC)
    session.add(
        Report(
            term_id=term.id,
            unit_id=cs.id,
            path="/x.pdf",
            sha256="0" * 64,
            input_hash="0" * 64,
            pages=3,
            generated_at=rendered,
        )
    )
    session.commit()
    page = part(home(client, auth, "dean"), "dash-leader")
    text = visible_text(page)
    board_mean = None
    from evalsys.dashboards.leader import leader_dashboard

    with app.test_request_context(), in_locale(locale):
        board = leader_dashboard(session, user=user(session, "dean"), min_n=3)
        board_mean = board.panels[0].overall["mean"]  # type: ignore[index,union-attr]
        expected = [
            gettext("Teaching quality · %(term)s", term=term.name),
            gettext("Last aggregated %(when)s.", when=fmt_datetime(run.finished_at))
            if not run.final
            else gettext(
                "Last aggregated %(when)s, final for the term.", when=fmt_datetime(run.finished_at)
            ),
            gettext("PDF report last rendered %(when)s.", when=fmt_datetime(rendered)),
            gettext("Flagged below this unit"),
            gettext("Mean score"),
        ]
        mean = fmt_num(board_mean)
        # Shown in the scheduler's zone (Asia/Shanghai, UTC+8): already the next day there.
        assert app.config["BABEL_DEFAULT_TIMEZONE"] == app.config["SCHEDULER_TIMEZONE"]
        next_day = fmt_date(date(2026, 12, 1))
        assert fmt_datetime(rendered).startswith(next_day)
    for sentence in expected:
        assert " ".join(sentence.split()) in text, sentence  # as visible_text spaces it
    assert mean in text
    with app.test_request_context(), in_locale("en" if locale == "zh" else "zh"):
        other = gettext("Flagged below this unit")
    assert other not in text


def test_a_chinese_and_an_english_dean_read_the_same_flags_in_their_own_words(
    app, client, auth, aggregated, session
):
    """The flag reasons are stored once (in English) and composed in the reader's language."""
    pages = {}
    for locale in ("zh", "en"):
        _speak(session, locale)
        pages[locale] = part(home(client, auth, "dean"), "dash-leader")
    with app.test_request_context(), in_locale("zh"):
        below_zh = gettext("below threshold")
    assert below_zh in pages["zh"] and below_zh not in pages["en"]
    assert "is below the threshold" in pages["en"] and "is below the threshold" not in pages["zh"]


def test_empty_dashboards_say_what_to_do_next(app, client, auth, uni, session):
    """Before any aggregation: the leader is told when the figures come and where to run it."""
    uni.factory.user("dean", "dean@CS")
    page = part(home(client, auth, "dean"), "dash-leader")
    assert "Schedule page" in page and "every night" in page
    dean = user(session, "dean")
    dean.locale = "zh"
    session.add(dean)
    session.commit()
    page = part(home(client, auth, "dean"), "dash-leader")
    with app.test_request_context(), in_locale("zh"):
        expected = gettext(
            "No term has been aggregated yet: the figures appear after the first aggregation. "
            "The scheduler aggregates the open terms every night; an administrator can also "
            "run it now on the Schedule page."
        )
    assert expected in page
