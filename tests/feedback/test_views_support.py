"""Support for the feedback page tests (no tests here): a term around today, form posts, pages."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, func, select

from evalsys.clock import local_today
from evalsys.feedback.models import Feedback
from evalsys.feedback.rubrics import current_rubric, rubric_items

SPOT, OPEN, TUTOR = "spot_check", "open_class", "tutor_group"


def today() -> date:
    return local_today()


def items(session: Session, kind: str) -> list:
    rubric = current_rubric(session, kind)
    assert rubric is not None
    return rubric_items(session, rubric.id)  # type: ignore[arg-type]


def form_post(session: Session, kind: str, **overrides: Any) -> dict[str, str]:
    """A valid submission of the kind's form, as a browser posts it; overrides win.

    An override set to None removes that field from the post.
    """
    data: dict[str, str] = {"date": today().isoformat(), "send": "y"}
    if kind == SPOT:
        data |= {
            "section": "SE101-01 — 软件工程导论 — Teacher",
            "class_period": "3-4节",
            "location": "教一-201",
            "announced": "false",
            "enrolled": "40",
            "present": "36",
            "late": "2",
            "overall_grade": "good",
            "strengths": "讲解清楚",
            "problems": "互动偏少",
            "suggestions": "增加提问",
        }
    elif kind == OPEN:
        data |= {"section": "SE101-01", "observer_level": "college_leader", "comment": "示范性强"}
    else:
        data |= {
            "group": "G-SE-1",
            "meeting_format": "student_discussion",
            "attending": "8",
            "topics": "选课与实习安排",
            "problems": "实习单位少",
            "suggestions": "增加校企合作",
        }
    value = "4" if kind == TUTOR else "8"
    data |= {f"scores-{item.code}": value for item in items(session, kind)}
    for key, new in overrides.items():
        if new is None:
            data.pop(key, None)
        else:
            data[key] = new
    return data


def fresh(session: Session) -> None:
    """See what the app's requests wrote: end the test's snapshot, forget loaded rows."""
    session.commit()
    session.expire_all()


def count(session: Session) -> int:
    fresh(session)
    return session.exec(select(func.count()).select_from(Feedback)).one()


def only_record(session: Session) -> Feedback:
    fresh(session)
    rows = session.exec(select(Feedback)).all()
    assert len(rows) == 1, rows
    return rows[0]


def text(response) -> str:
    """The page with entities decoded, for looking up messages and values."""
    return html.unescape(response.get_data(as_text=True))


def error_next_to(page: str, field_id: str) -> str:
    """The error text rendered for the field (``<small id="FIELD-error">``)."""
    match = re.search(
        rf'<small id="{re.escape(field_id)}-error" class="field-error">(.*?)</small>', page, re.S
    )
    assert match, f"no error shown next to {field_id}"
    return match.group(1)


def input_tag(page: str, field_id: str) -> str:
    match = re.search(rf'<(?:input|textarea|select)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', page)
    assert match, f"no input {field_id}"
    return match.group(0)


def move_term_around_today(session: Session, term) -> None:
    """The fixtures' term is fixed; the pages check dates against the real today."""
    term.start_date = today() - timedelta(days=90)
    term.end_date = today() + timedelta(days=90)
    session.add(term)
    session.commit()


def tags(page: str, name: str) -> list[str]:
    """Every input, textarea or select tag with this name, whatever the order of attributes."""
    return re.findall(rf'<(?:input|textarea|select)\b[^>]*\bname="{re.escape(name)}"[^>]*>', page)


def chosen(page: str, name: str, value: str) -> bool:
    """Is the value the one picked (a checked radio) or typed (a box holding it)?"""
    for tag in tags(page, name):
        if f'value="{value}"' in tag and ("checked" in tag or 'type="radio"' not in tag):
            return True
    return False
