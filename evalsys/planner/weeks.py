"""Weeks of a term: week 1 is the Monday-to-Sunday week holding the term's first day."""

from __future__ import annotations

from datetime import date, timedelta

from evalsys.org.models import Term


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_start(term: Term, week: int) -> date:
    return monday(term.start_date) + timedelta(weeks=week - 1)


def week_of(term: Term, day: date) -> int:
    """The week number of ``day`` (below 1 before the term, above the last after it)."""
    return (monday(day) - monday(term.start_date)).days // 7 + 1


def last_week(term: Term) -> int:
    return week_of(term, term.end_date)


def week_days(term: Term, week: int) -> list[date]:
    """The days of the week that lie inside the term."""
    start = week_start(term, week)
    days = (start + timedelta(days=i) for i in range(7))
    return [d for d in days if term.start_date <= d <= term.end_date]


def next_week_to_draw(term: Term, today: date) -> int:
    """The week after today's (week 1 before the term starts)."""
    return max(1, week_of(term, today) + 1)
