"""The loop's forms in Chromium: a status that is hard to undo asks first (and nothing
changes when the question is declined), and a long attendee list narrows as one types."""

from __future__ import annotations

import pytest
from flask_babel import gettext
from sqlmodel import select

from evalsys.i18n import in_locale
from evalsys.loop.models import Problem
from evalsys.loop.problems import create_problem
from tests.browser.conftest import log_in
from tests.factories import Factory


def _zh(app, text: str) -> str:
    with app.app_context(), in_locale("zh"):
        return gettext(text)


pytestmark = pytest.mark.once("the script and the page's behaviour do not depend on the database")


def test_dismiss_asks_first_and_the_attendee_list_narrows(
    app, live_server, desktop, factory, session
):
    units = factory.university()
    term = factory.term()
    head = factory.user("head_se", "head@CS-SE", name="软件系主任")
    for i in range(12):
        factory.user(f"t{i}", "teacher@CS-SE", name=f"Teacher {i:02d}")
    factory.user("zhang", "teacher@CS-SE", name="张伟")
    problem = create_problem(
        session, term=term, unit=units["CS-SE"], user=head,
        title="Too much lecturing", category="method", severity="medium",
    )  # fmt: skip
    session.commit()

    log_in(desktop, live_server, "head_se", Factory.PASSWORD)
    desktop.goto(f"{live_server}/loop/problems/{problem.id}")
    desktop.fill("textarea[name=reason]", "Not a problem after all")
    asked: list[str] = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    desktop.once("dialog", decline)
    desktop.click("button[value=dismissed]")
    desktop.wait_for_timeout(300)
    assert asked == [_zh(app, "Dismiss this problem? A dismissed problem stays dismissed.")]
    session.rollback()  # a fresh snapshot
    assert session.exec(select(Problem.status).where(Problem.id == problem.id)).one() == "open"

    desktop.once("dialog", lambda dialog: dialog.accept())
    with desktop.expect_navigation():
        desktop.click("button[value=dismissed]")
    session.rollback()  # a fresh snapshot
    assert session.exec(select(Problem.status).where(Problem.id == problem.id)).one() == "dismissed"

    desktop.goto(f"{live_server}/loop/units/CS-SE/meetings/new?term={term.code}")
    options = desktop.locator("#attendees-options label")
    assert options.count() >= 13
    desktop.fill("input[data-filters=attendees-options]", "张")
    visible = [o.inner_text().strip() for o in options.all() if o.is_visible()]
    assert visible == ["张伟"]
    desktop.fill("input[data-filters=attendees-options]", "")
    assert sum(o.is_visible() for o in options.all()) == options.count()
