"""The previous term: what the aggregation compares with and the planner reads "last term" from."""

from __future__ import annotations

from datetime import date

from evalsys.org.terms import previous_term


def test_the_previous_term_is_the_latest_to_start_before(session, factory):
    autumn = factory.term("2025-2026-1", date(2025, 9, 8), date(2026, 1, 18))
    summer = factory.term("2025-S", date(2025, 7, 1), date(2025, 8, 31))
    spring = factory.term("2025-2026-2", date(2026, 2, 23), date(2026, 7, 5))
    # Overlapping the spring term: its start, not its end, places it.
    short = factory.term("2026-X", date(2026, 3, 1), date(2026, 3, 20))
    assert previous_term(session, spring).code == autumn.code
    assert previous_term(session, autumn).code == summer.code  # a gap is no reason to skip it
    assert previous_term(session, short).code == spring.code
    assert previous_term(session, summer) is None


def test_two_terms_starting_the_same_day_the_later_created_is_previous(session, factory):
    first = factory.term("A", date(2025, 9, 1), date(2026, 1, 10))
    second = factory.term("B", date(2025, 9, 1), date(2025, 12, 20))
    after = factory.term("C", date(2026, 2, 20), date(2026, 7, 1))
    assert previous_term(session, after).id == second.id != first.id
    assert previous_term(session, first) is None  # not one starting the same day
