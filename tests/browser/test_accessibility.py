"""axe-core (from npm, installed by ``.ci/setup test``) over the main pages, as each of
their users sees them: no serious or critical violation, on a desktop and on a phone."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from flask_babel import gettext

from evalsys.accounts import links
from evalsys.accounts.models import MailKind
from evalsys.aggregation.service import aggregate_term
from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.writes import submit_feedback
from evalsys.i18n import in_locale, normalise
from tests.browser.conftest import AXE, _missing, log_in, this_term_dates
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "axe reads the rendered HTML (roles, labels, contrast), which no database changes; the"
    " pages' data runs on both through the test client (tests/i18n/test_every_page.py)"
)

#: (user or None for anonymous, path) for each page checked; {record} is a feedback id.
PAGES = [
    (None, "/login"),
    (None, "/password/forgot"),
    (None, "/password/set/{invite}"),
    ("sup", "/account/password"),
    ("sup", "/"),
    ("sup", "/feedback/new"),
    ("sup", "/feedback/new/spot_check"),
    ("sup", "/feedback/mine"),
    ("sup", "/feedback/{record}"),
    ("leader", "/feedback/new/open_class"),
    ("tutor", "/feedback/new/tutor_group"),
    ("teacher", "/feedback/teaching"),
    ("teacher", "/feedback/{record}"),
    ("dean", "/"),
    ("dean", "/units/CS"),
    ("dean", "/units/CS-SE"),
    ("dean", "/units/CS-SE/courses/SE101"),
    ("dean", "/reports/T-NOW/CS.html"),
    ("dean", "/feedback/?unit=CS"),
    ("dean", "/reports/"),
    ("dean", "/loop/"),
    ("dean", "/loop/units/CS"),
    ("dean", "/loop/units/CS/problems/new"),
    ("dean", "/loop/units/CS/meetings/new"),
    ("sup", "/planner/"),
    ("admin", "/admin/schedule/"),
    ("admin", "/admin/rubrics/"),
    ("admin", "/admin/rubrics/spot_check/1"),
    ("admin", "/admin/rubrics/spot_check/new"),
    ("admin", "/admin/import/"),
    ("admin", "/admin/audit/"),
    ("admin", "/admin/users/"),
    ("admin", "/admin/users/?q=CS-SE"),
    ("admin", "/admin/users/teacher"),
    ("admin", "/admin/users/teacher/deactivate"),
    ("admin", "/planner/terms/"),
    ("admin", "/planner/terms/T-NOW"),
    ("admin", "/planner/terms/T-NOW/settings"),
]


@pytest.fixture
def university(app, factory: Factory, session) -> dict:
    # Account emails can be sent: the login page links to "forgot password", which shows its form.
    app.config.update(BASE_URL="https://evalsys.example.edu", MAIL_SERVER="127.0.0.1")
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    teacher = factory.user("teacher", "teacher@CS-SE")
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    section = factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    factory.group("G-SE-1", units["CS-SE"], term, tutor=factory.user("tutor", "tutor@CS-SE"))
    supervisor = factory.user("sup", "supervisor@CS")
    factory.user("leader", "leader@CS")
    factory.user("dean", "dean@CS")
    factory.user("admin", "admin@U")
    rubrics.ensure_default_rubrics(session)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    records = []
    for offset in range(3):
        data = FeedbackInput(
            kind="spot_check",
            section=section.code,
            date=local_today() - timedelta(days=offset + 1),
            class_period="1-2",
            announced=False,
            enrolled=40,
            present=38,
            late=1,
            overall_grade="good",
            strengths="讲解清楚",
            problems="互动偏少",
            suggestions="多提问",
            scores={i.code: i.scale_max - offset for i in items},
        )
        records.append(submit_feedback(session, user=supervisor, data=data))
    session.commit()
    aggregate_term(session, term=term)
    invite = links.make_token(app.config, teacher, MailKind.INVITE)
    return {"record": records[0].id, "invite": invite}


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page) -> list[str]:
    # Run through the DevTools protocol: the pages' Content-Security-Policy (rightly) refuses
    # an injected <script>, and the check must see the pages exactly as served.
    page.evaluate(_axe_source())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_main_pages_have_no_serious_accessibility_violations(
    live_server, university, request, device
):
    if not AXE.exists():
        _missing(f"axe-core ({AXE})")
    page = request.getfixturevalue(device)
    found: dict[str, list[str]] = {}
    who = "nobody"
    for user, path in PAGES:
        if user != who:
            page.context.clear_cookies()
            if user is not None:
                log_in(page, live_server, user, Factory.PASSWORD)
            who = user
        url = live_server + path.format(**university)
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{path} as {user}"
        problems = violations(page)
        if problems:
            found[f"{path} as {user}"] = problems
    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(v) for where, v in found.items())


def test_forms_showing_their_errors_have_no_serious_accessibility_violations(
    live_server, university, desktop
):
    """The error state is where the form markup (templates/_forms.html) matters most: each
    form sent back with a message beside a field, checked like the pages above."""
    page = desktop
    found: dict[str, list[str]] = {}

    def check(where: str, selector: str) -> None:
        page.wait_for_selector(selector)
        if problems := violations(page):
            found[where] = problems

    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "sup")
    page.click("main button[type=submit]")
    check("/login, no password", "#password[aria-invalid=true]")

    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(f"{live_server}/feedback/new/spot_check")
    page.fill("#section", "SE101-01")
    page.fill("#date", (local_today() + timedelta(days=3)).isoformat())
    page.fill("#enrolled", "-3")
    page.click("button[name=send]")
    check("/feedback/new/spot_check, sent with errors", "#enrolled[aria-invalid=true]")

    page.goto(f"{live_server}/account/password")
    page.fill("#current", "not my password")
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.click("main form button[type=submit]")
    check("/account/password, wrong current password", "#current[aria-invalid=true]")

    page.context.clear_cookies()
    page.goto(f"{live_server}/password/set/{university['invite']}")
    page.fill("#password", "1234567890")
    page.fill("#confirm", "1234567890")
    page.click("main form button[type=submit]")
    check("/password/set/..., a common password", "#password[aria-invalid=true]")

    page.goto(f"{live_server}/password/forgot")
    page.fill("#email", "not an address")
    page.click("main form button[type=submit]")
    check("/password/forgot, not an address", "#email[aria-invalid=true]")

    log_in(page, live_server, "admin", Factory.PASSWORD)
    page.goto(f"{live_server}/planner/terms/T-NOW/settings")
    page.fill("#visits_per_week", "-1")
    page.click("main form button[type=submit], main form input[type=submit]")
    check("/planner/terms/T-NOW/settings, sent with errors", "#visits_per_week[aria-invalid=true]")
    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(v) for where, v in found.items())


def test_form_errors_are_announced_and_linked(app, live_server, university, desktop):
    """The error summary is a live alert; each entry links to its field, which says it is invalid
    and points at its message."""
    page = desktop
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(f"{live_server}/feedback/new/spot_check")
    page.fill("#section", "SE101-01")
    future = (local_today() + timedelta(days=3)).isoformat()
    page.fill("#date", future)
    page.click("button[name=send]")
    # evalsys.js moves the focus on DOMContentLoaded: under load the click returns before it.
    page.wait_for_load_state()
    summary = page.locator("#error-summary")
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("document.activeElement.id") == "error-summary"
    link = summary.locator("a[href='#date']")
    assert link.count() == 1
    described = page.locator("#date").get_attribute("aria-describedby") or ""
    assert page.locator("#date").get_attribute("aria-invalid") == "true"
    messages = [page.locator(f"#{i}").inner_text() for i in described.split() if i]
    with app.test_request_context(), in_locale(normalise(page.get_attribute("html", "lang"))):
        expected = gettext("%(date)s is in the future", date=future)
    assert expected in messages, messages
    # The page works from the keyboard: Tab from the summary link reaches a form control.
    link.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "date"


def test_user_administration_fits_a_phone(live_server, university, phone):
    """The user list and a user's page at 390 px: tables scroll in their own box, the page
    itself never sideways; a role granted there shows in its table."""
    page = phone
    log_in(page, live_server, "admin", Factory.PASSWORD)
    for path in ("/admin/users/", "/admin/users/teacher"):
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.fill("#spec", "tutor@CS-SE")
    page.click("form[action$='/grant'] button[type=submit]")
    page.wait_for_selector("td code:has-text('tutor@CS-SE')")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
