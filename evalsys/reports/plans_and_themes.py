"""What a term report adds beyond its figures: the training-plan changes decided this term
and those taking effect in it (evalsys.programmes), and the themes that recur in what
observers wrote (evalsys.themes).

Plain values only: the report's data is hashed (an unchanged report is not rendered again)
and sent to rendering processes, so no ORM object may travel in it. Both sections are
short on purpose: the programme page holds a change's whole evidence, the unit page every
quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session

from evalsys.i18n import current_locale, localized
from evalsys.programmes.service import CHANGE_STATE_NAMES, ChangeEntry, changes_for_unit
from evalsys.themes.service import MIN_OBSERVERS, themes_for_unit

#: The themes a report lists, most records first; quotes per theme.
THEMES_SHOWN = 5
QUOTES_SHOWN = 2
#: A change naming a whole programme lists this many of its courses' figures at most.
COURSES_SHOWN = 4


def plan_changes(session: Session, *, unit_id: int, term_id: int, today: date) -> dict[str, Any]:
    """The changes decided on this term's problems, and earlier ones applying from it."""
    found = changes_for_unit(session, unit_id, term_id, today=today)
    return {
        "decided": [_change(e) for e in found.decided],
        "taking_effect": [_change(e) for e in found.taking_effect],
    }


def _change(e: ChangeEntry) -> dict[str, Any]:
    terms = [*e.before, *e.after]
    courses = e.courses[:COURSES_SHOWN]
    return {
        "title": e.action.title,
        "change": e.action.plan_change or "",
        "programme": (
            {"code": e.programme.code, "name": localized(e.programme, "name")}
            if e.programme is not None
            else None
        ),
        "course": f"{e.course.code} {localized(e.course, 'title')}" if e.course else None,
        "from_term": e.from_term.code if e.from_term is not None else None,
        "state": str(CHANGE_STATE_NAMES[e.state]),
        "decided_by": e.decided_by.name if e.decided_by is not None else None,
        "problem": e.problem.title,
        "unit": localized(e.unit, "name"),
        "terms": [{"code": t.code, "from": t in e.after[:1]} for t in terms],
        "courses": [
            {
                "code": c.code,
                "cells": [_cell(e.figures.get((c.id, t.id))) for t in terms],
            }
            for c in courses
        ],
        "more_courses": max(0, len(e.courses) - len(courses)),
    }


def _cell(figure: Any) -> dict[str, Any]:
    if figure is None or figure.n == 0:
        return {"n": 0, "mean": None, "too_few": False}
    return {"n": figure.n, "mean": figure.mean, "too_few": bool(figure.insufficient)}


def recurring_themes(
    session: Session, *, unit_id: int, term_id: int, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The unit's recurring themes in the report's language, without a section or teacher
    named (a PDF travels further than the page: ``show_sections`` stays off), and the
    observer minimum they were found with."""
    minimum = int(config.get("THEMES_MIN_OBSERVERS", MIN_OBSERVERS))
    locale = current_locale()
    found = themes_for_unit(session, unit_id, term_id, min_observers=minimum)
    items = [
        {
            "label": t.label(locale),
            "records": t.records,
            "observers": t.observers,
            "problem_records": t.problem_records,
            "strength_records": t.strength_records,
            "previous": t.previous,
            "quotes": [q.text for q in t.quotes[:QUOTES_SHOWN]],
        }
        for t in found[:THEMES_SHOWN]
    ]
    return {"min_observers": minimum, "items": items}
